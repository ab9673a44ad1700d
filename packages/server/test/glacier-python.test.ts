// The Glacier front end end to end through the AWS CLI and boto3 (client and resource API),
// against an in-process server on port 0: vault with its waiter, single and multipart
// uploads, retrieval jobs whole and ranged, job output whole and ranged with its checksum,
// JSON inventory, deletes and errors. Each client's flow is a few MiB and a few seconds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { treeHash } from '@oas/sdk';
import { ROOT_ACCOUNT_ID } from '../src/service/accounts.js';
import { awsAccountIdOf } from '../src/util/aws-identity.js';
import { runAwsGlacier, runBoto3, type GlacierEndpoint } from './helpers/glacier-clients.js';
import { ROOT_ID, ROOT_SECRET, startServer, type TestServer } from './helpers/server.js';

const MIB = 1024 * 1024;
const ACCOUNT = awsAccountIdOf(ROOT_ACCOUNT_ID);
let ts: TestServer;
let endpoint: GlacierEndpoint;
let dir: string;

function data(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 13 + seed + (i >> 20) * 5) & 0xff;
  return out;
}

before(async () => {
  ts = await startServer();
  endpoint = { port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET };
  dir = await mkdtemp(join(tmpdir(), 'glacier-python-'));
});

after(async () => {
  await ts?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `aws glacier ...` that must succeed; its JSON output (null when it printed none). */
async function aws(args: string[]): Promise<Record<string, unknown> | null> {
  const r = await runAwsGlacier(endpoint, args, dir);
  assert.equal(r.code, 0, `aws glacier ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim() === '' ? null : r.json() as Record<string, unknown>;
}

test('the AWS CLI: the whole flow', async () => {
  const v = ['--account-id', '-', '--vault-name', 'cli-vault'];
  const created = await aws(['create-vault', ...v]);
  assert.equal(created!.location, `/${ACCOUNT}/vaults/cli-vault`);
  assert.equal((await runAwsGlacier(endpoint, ['wait', 'vault-exists', ...v], dir)).code, 0);

  const single = data(3 * MIB + 5, 1);
  await writeFile(join(dir, 'single.bin'), single);
  const up = await aws(['upload-archive', ...v, '--body', 'single.bin', '--archive-description', 'a "quoted", comma']);
  assert.equal(up!.checksum, treeHash(single));

  // Multipart, 1 MiB parts: the CLI has no helper, so each part is a file.
  const multi = data(MIB + 100, 2);
  const init = await aws(['initiate-multipart-upload', ...v, '--part-size', String(MIB)]);
  const uploadId = String(init!.uploadId);
  for (let start = 0, i = 0; start < multi.length; start += MIB, i++) {
    const part = multi.subarray(start, Math.min(start + MIB, multi.length));
    await writeFile(join(dir, `part.${i}`), part);
    const res = await aws(['upload-multipart-part', ...v, '--upload-id', uploadId, '--range', `bytes ${start}-${start + part.length - 1}/*`, '--body', `part.${i}`]);
    assert.equal(res!.checksum, treeHash(part));
  }
  const parts = await aws(['list-parts', ...v, '--upload-id', uploadId]);
  assert.equal((parts!.Parts as unknown[]).length, 2);
  const uploads = await aws(['list-multipart-uploads', ...v]);
  assert.deepEqual((uploads!.UploadsList as Array<{ MultipartUploadId: string }>).map((u) => u.MultipartUploadId), [uploadId]);
  const done = await aws(['complete-multipart-upload', ...v, '--upload-id', uploadId, '--archive-size', String(multi.length), '--checksum', treeHash(multi)]);
  assert.equal(done!.checksum, treeHash(multi));

  // Retrieval of the multipart archive, whole, and of 2 MiB of the single one.
  const whole = await aws(['initiate-job', ...v, '--job-parameters', JSON.stringify({ Type: 'archive-retrieval', ArchiveId: done!.archiveId })]);
  const ranged = await aws(['initiate-job', ...v, '--job-parameters', JSON.stringify({ Type: 'archive-retrieval', ArchiveId: up!.archiveId, RetrievalByteRange: `0-${2 * MIB - 1}` })]);
  const inventory = await aws(['initiate-job', ...v, '--job-parameters', JSON.stringify({ Type: 'inventory-retrieval' })]);
  for (const job of [whole, ranged, inventory]) {
    let described: Record<string, unknown> | null = null;
    for (let i = 0; i < 20 && !described?.Completed; i++) described = await aws(['describe-job', ...v, '--job-id', String(job!.jobId)]);
    assert.equal(described!.StatusCode, 'Succeeded');
  }
  const listed = await aws(['list-jobs', ...v, '--completed', 'true']);
  assert.equal((listed!.JobList as unknown[]).length, 3);

  const out = await aws(['get-job-output', ...v, '--job-id', String(whole!.jobId), 'whole.out']);
  assert.equal(out!.status, 200);
  assert.equal(out!.checksum, treeHash(multi));
  assert.ok((await readFile(join(dir, 'whole.out'))).equals(multi));
  const part = await aws(['get-job-output', ...v, '--job-id', String(whole!.jobId), '--range', `bytes=0-${MIB - 1}`, 'part.out']);
  assert.equal(part!.status, 206);
  assert.equal(part!.contentRange, `bytes 0-${MIB - 1}/${multi.length}`);
  assert.equal(part!.checksum, treeHash(multi.subarray(0, MIB)));
  const r = await aws(['get-job-output', ...v, '--job-id', String(ranged!.jobId), 'ranged.out']);
  assert.equal(r!.checksum, treeHash(single.subarray(0, 2 * MIB)));
  assert.ok((await readFile(join(dir, 'ranged.out'))).equals(single.subarray(0, 2 * MIB)));
  await aws(['get-job-output', ...v, '--job-id', String(inventory!.jobId), 'inventory.json']);
  const inv = JSON.parse(await readFile(join(dir, 'inventory.json'), 'utf8')) as { ArchiveList: Array<{ ArchiveId: string; SHA256TreeHash: string; ArchiveDescription: string }> };
  assert.deepEqual(inv.ArchiveList.map((a) => a.SHA256TreeHash).sort(), [treeHash(single), treeHash(multi)].sort());

  // Errors as the CLI shows them.
  const missing = await runAwsGlacier(endpoint, ['describe-vault', '--account-id', '-', '--vault-name', 'nope'], dir);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /ResourceNotFoundException.*Vault not found for ARN/);
  const foreign = await runAwsGlacier(endpoint, ['list-vaults', '--account-id', ACCOUNT === '111111111111' ? '222222222222' : '111111111111'], dir);
  assert.match(foreign.stderr, /AccessDeniedException/);

  await aws(['delete-archive', ...v, '--archive-id', String(up!.archiveId)]);
  await aws(['delete-archive', ...v, '--archive-id', String(done!.archiveId)]);
  await aws(['delete-vault', ...v]);
});

test('boto3, client and resource API: the whole flow', async () => {
  const single = data(MIB + 17, 3);
  const multi = data(4 * MIB + 9, 4);
  await writeFile(join(dir, 'b-single.bin'), single);
  await writeFile(join(dir, 'b-multi.bin'), multi);
  const result = await runBoto3(endpoint, `
import time
from botocore.utils import calculate_tree_hash
def wait_job(job):
    for _ in range(200):
        job.reload()
        if job.completed:
            return job
        time.sleep(0.05)
    raise Exception('job did not complete')

vault = glacier.Account('-').create_vault(vaultName='boto-vault')
client.get_waiter('vault_exists').wait(vaultName='boto-vault')
emit(vault.vault_arn)
archive = vault.upload_archive(archiveDescription='single', body=open('b-single.bin', 'rb'))
emit(archive.id)
# Multipart through the resource API, 1 MiB then 4 MiB parts (the second archive uses 4 MiB).
data = open('b-multi.bin', 'rb').read()
ids = []
for size in (1048576, 4194304):
    up = vault.initiate_multipart_upload(partSize=str(size), archiveDescription='multi %d' % size)
    for start in range(0, len(data), size):
        up.upload_part(range='bytes %d-%d/*' % (start, min(start + size, len(data)) - 1), body=data[start:start + size])
    emit([p['RangeInBytes'] for p in client.list_parts(vaultName='boto-vault', uploadId=up.id)['Parts']])
    emit(len(list(vault.multipart_uploads.all())))
    import io
    done = up.complete(archiveSize=str(len(data)), checksum=calculate_tree_hash(io.BytesIO(data)))
    ids.append(done['archiveId'])
    emit(done['checksum'])
job = wait_job(archive.initiate_archive_retrieval())
emit([job.status_code, job.sha256_tree_hash])
out = job.get_output()
emit([out['status'], out['checksum'], calculate_tree_hash(out['body'])])
ranged = wait_job(glacier.Archive('-', 'boto-vault', ids[1]).initiate_archive_retrieval())
part = ranged.get_output(range='bytes=2097152-4194303')
emit([part['status'], part['contentRange'], part['checksum'], calculate_tree_hash(part['body'])])
odd = ranged.get_output(range='bytes=5-1048580')
emit([odd['status'], odd.get('checksum')])
inv = wait_job(vault.initiate_inventory_retrieval())
body = json.loads(inv.get_output()['body'].read())
emit(sorted(a['SHA256TreeHash'] for a in body['ArchiveList']))
emit(len(list(vault.succeeded_jobs.all())))
emit([j['JobId'] == job.id for j in client.get_paginator('list_jobs').paginate(vaultName='boto-vault', statuscode='Succeeded').build_full_result()['JobList']].count(True))
try:
    client.describe_vault(vaultName='nope')
except client.exceptions.ResourceNotFoundException as e:
    emit(e.response['Error']['Code'])
for a in [archive.id] + ids:
    glacier.Archive('-', 'boto-vault', a).delete()
vault.delete()
emit([v.name for v in glacier.vaults.all()])
`, dir);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.lines();
  const partsOf = (size: number) => Array.from({ length: Math.ceil(multi.length / size) }, (_, i) => `${i * size}-${Math.min((i + 1) * size, multi.length) - 1}`);
  assert.deepEqual(lines, [
    `arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/boto-vault`,
    lines[1],
    partsOf(MIB), 1, treeHash(multi),
    partsOf(4 * MIB), 1, treeHash(multi),
    ['Succeeded', treeHash(single)],
    [200, treeHash(single), treeHash(single)],
    [206, `bytes 2097152-4194303/${multi.length}`, treeHash(multi.subarray(2 * MIB, 4 * MIB)), treeHash(multi.subarray(2 * MIB, 4 * MIB))],
    [206, null],
    [treeHash(single), treeHash(multi), treeHash(multi)].sort(),
    3,
    1,
    'ResourceNotFoundException',
    [],
  ]);
});
