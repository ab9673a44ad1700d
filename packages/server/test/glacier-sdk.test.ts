// The Glacier front end end to end through @aws-sdk/client-glacier (a real client, pointed at
// an in-process server on port 0): vaults, single and multipart uploads with 1 MiB and 4 MiB
// parts, retrieval jobs whole and ranged, job output whole and ranged with its tree hash,
// JSON inventory, deletes, and the errors clients match on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateVaultCommand, DeleteArchiveCommand, DeleteVaultCommand,
  DescribeJobCommand, DescribeVaultCommand, GetJobOutputCommand, InitiateJobCommand, InitiateMultipartUploadCommand,
  InitiateVaultLockCommand, ListJobsCommand, ListMultipartUploadsCommand, ListPartsCommand, ListProvisionedCapacityCommand,
  ListVaultsCommand, PurchaseProvisionedCapacityCommand, UploadArchiveCommand,
  UploadMultipartPartCommand, waitUntilVaultExists, type GlacierClient,
} from '@aws-sdk/client-glacier';
import { hashBuffer, sha256Hex, signSigV4, treeHash } from '@oas/sdk';
import http from 'node:http';
import { awsAccountIdOf } from '../src/util/aws-identity.js';
import { ROOT_ACCOUNT_ID } from '../src/service/accounts.js';
import { glacierJsClient } from './helpers/glacier-clients.js';
import { ROOT_ID, ROOT_SECRET, startServer, type TestServer } from './helpers/server.js';

const MIB = 1024 * 1024;
let ts: TestServer;
let glacier: GlacierClient;
const ACCOUNT = awsAccountIdOf(ROOT_ACCOUNT_ID);

/** Deterministic bytes (no two MiB alike). */
function data(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed + (i >> 20) * 7) & 0xff;
  return out;
}

async function bytesOf(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Describes the job until it completes (the job engine polls every 100 ms in tests); bounded. */
async function waitJob(vaultName: string, jobId: string) {
  for (let i = 0; i < 300; i++) {
    const job = await glacier.send(new DescribeJobCommand({ accountId: '-', vaultName, jobId }));
    if (job.Completed) return job;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${jobId} did not complete`);
}

before(async () => {
  ts = await startServer();
  glacier = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET });
});

after(async () => {
  glacier?.destroy();
  await ts?.close();
});

test('create, describe and list vaults; Location names the 12-digit account', async () => {
  const created = await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: 'Photos.2024' }));
  assert.equal(created.location, `/${ACCOUNT}/vaults/Photos.2024`);
  await waitUntilVaultExists({ client: glacier, maxWaitTime: 10 }, { accountId: '-', vaultName: 'Photos.2024' });
  const again = await glacier.send(new CreateVaultCommand({ accountId: ACCOUNT, vaultName: 'Photos.2024' }));
  assert.equal(again.location, created.location);
  const d = await glacier.send(new DescribeVaultCommand({ accountId: '-', vaultName: 'Photos.2024' }));
  assert.equal(d.VaultARN, `arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/Photos.2024`);
  assert.equal(d.VaultName, 'Photos.2024');
  assert.equal(d.NumberOfArchives, 0);
  assert.match(d.CreationDate!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  for (const n of ['b-vault', 'a-vault', 'c_vault']) await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: n }));
  const page1 = await glacier.send(new ListVaultsCommand({ accountId: '-', limit: 2 }));
  assert.deepEqual(page1.VaultList!.map((v) => v.VaultName), ['Photos.2024', 'a-vault']);
  assert.equal(page1.Marker, `arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/b-vault`);
  const page2 = await glacier.send(new ListVaultsCommand({ accountId: '-', limit: 2, marker: page1.Marker! }));
  assert.deepEqual(page2.VaultList!.map((v) => v.VaultName), ['b-vault', 'c_vault']);
  assert.equal(page2.Marker, undefined);
});

/** The error a command fails with: its code (name), status and message. */
async function failure(p: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string; type: unknown }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; $metadata?: { httpStatusCode?: number }; message: string; type?: unknown };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message, type: e.type };
  }
  throw new Error('the command succeeded');
}

test('single upload, whole and ranged retrieval, output checksums, delete', async () => {
  const vaultName = 'single';
  await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
  const body = data(5 * MIB + 123, 1);
  const up = await glacier.send(new UploadArchiveCommand({ accountId: '-', vaultName, body, archiveDescription: 'a "quoted", description' }));
  assert.equal(up.checksum, treeHash(body));
  assert.match(up.archiveId!, /^[0-9A-F]{32}$/);
  assert.equal(up.location, `/${ACCOUNT}/vaults/${vaultName}/archives/${up.archiveId}`);

  // Whole archive.
  const whole = await glacier.send(new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: { Type: 'archive-retrieval', ArchiveId: up.archiveId, Description: 'all', Tier: 'Expedited' } }));
  assert.match(whole.location!, new RegExp(`^/${ACCOUNT}/vaults/${vaultName}/jobs/${whole.jobId}$`));
  const done = await waitJob(vaultName, whole.jobId!);
  assert.equal(done.StatusCode, 'Succeeded');
  assert.equal(done.Action, 'ArchiveRetrieval');
  assert.equal(done.ArchiveSizeInBytes, body.length);
  assert.equal(done.ArchiveSHA256TreeHash, treeHash(body));
  assert.equal(done.SHA256TreeHash, treeHash(body));
  assert.equal(done.RetrievalByteRange, `0-${body.length - 1}`);
  assert.equal(done.Tier, 'Expedited');
  assert.equal(done.JobDescription, 'all');
  assert.equal(done.InventorySizeInBytes, undefined);
  const out = await glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName, jobId: whole.jobId! }));
  assert.equal(out.status, 200);
  assert.equal(out.checksum, treeHash(body));
  assert.equal(out.archiveDescription, 'a "quoted", description');
  assert.ok((await bytesOf(out.body)).equals(body));
  // Tree-hash aligned download range: the header is its hash; an unaligned one has none.
  const aligned = await glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName, jobId: whole.jobId!, range: `bytes=${4 * MIB}-${body.length - 1}` }));
  assert.equal(aligned.status, 206);
  assert.equal(aligned.contentRange, `bytes ${4 * MIB}-${body.length - 1}/${body.length}`);
  const tail = await bytesOf(aligned.body);
  assert.ok(tail.equals(body.subarray(4 * MIB)));
  assert.equal(aligned.checksum, treeHash(tail));
  const odd = await glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName, jobId: whole.jobId!, range: 'bytes=10-1048585' }));
  assert.equal(odd.status, 206);
  assert.equal(odd.checksum, undefined);
  assert.ok((await bytesOf(odd.body)).equals(body.subarray(10, 1048586)));

  // A megabyte-aligned retrieval range (2 MiB at 2 MiB: a tree node).
  const ranged = await glacier.send(new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: { Type: 'archive-retrieval', ArchiveId: up.archiveId, RetrievalByteRange: `${2 * MIB}-${4 * MIB - 1}` } }));
  const rdone = await waitJob(vaultName, ranged.jobId!);
  assert.equal(rdone.RetrievalByteRange, `${2 * MIB}-${4 * MIB - 1}`);
  assert.equal(rdone.SHA256TreeHash, treeHash(body.subarray(2 * MIB, 4 * MIB)));
  assert.equal(rdone.Tier, 'Standard');
  const rout = await glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName, jobId: ranged.jobId! }));
  const rbytes = await bytesOf(rout.body);
  assert.ok(rbytes.equals(body.subarray(2 * MIB, 4 * MIB)));
  assert.equal(rout.checksum, treeHash(rbytes));
  // Megabyte aligned but not a tree node (1 MiB..3 MiB): no SHA256TreeHash.
  const notNode = await glacier.send(new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: { Type: 'archive-retrieval', ArchiveId: up.archiveId, RetrievalByteRange: `${MIB}-${3 * MIB - 1}` } }));
  assert.equal((await waitJob(vaultName, notNode.jobId!)).SHA256TreeHash, undefined);
  const bad = await failure(glacier.send(new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: { Type: 'archive-retrieval', ArchiveId: up.archiveId, RetrievalByteRange: '1-1048575' } })));
  assert.equal(bad.name, 'InvalidParameterValueException');
  assert.equal(bad.status, 400);

  const jobs = await glacier.send(new ListJobsCommand({ accountId: '-', vaultName }));
  assert.equal(jobs.JobList!.length, 3);
  assert.equal(jobs.Marker, undefined);
  const one = await glacier.send(new ListJobsCommand({ accountId: '-', vaultName, limit: 1, completed: 'true', statuscode: 'Succeeded' }));
  assert.equal(one.JobList!.length, 1);
  assert.ok(one.Marker);
  assert.equal((await glacier.send(new ListJobsCommand({ accountId: '-', vaultName, statuscode: 'InProgress' }))).JobList!.length, 0);

  await glacier.send(new DeleteArchiveCommand({ accountId: '-', vaultName, archiveId: up.archiveId! }));
  await glacier.send(new DeleteArchiveCommand({ accountId: '-', vaultName, archiveId: up.archiveId! })); // idempotent
  await glacier.send(new DeleteVaultCommand({ accountId: '-', vaultName }));
  const gone = await failure(glacier.send(new DescribeVaultCommand({ accountId: '-', vaultName })));
  assert.equal(gone.name, 'ResourceNotFoundException');
  assert.equal(gone.message, `Vault not found for ARN: arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/${vaultName}`);
});

test('multipart with 1 MiB and 4 MiB parts: list parts and uploads, complete, retrieve', async () => {
  const vaultName = 'multi';
  await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
  for (const partSize of [MIB, 4 * MIB]) {
    const body = data(2 * partSize + 777, partSize);
    const init = await glacier.send(new InitiateMultipartUploadCommand({ accountId: '-', vaultName, partSize: String(partSize), archiveDescription: `parts of ${partSize}` }));
    const uploadId = init.uploadId!;
    assert.equal(init.location, `/${ACCOUNT}/vaults/${vaultName}/multipart-uploads/${uploadId}`);
    for (let start = 0; start < body.length; start += partSize) {
      const part = body.subarray(start, Math.min(start + partSize, body.length));
      const res = await glacier.send(new UploadMultipartPartCommand({
        accountId: '-', vaultName, uploadId, range: `bytes ${start}-${start + part.length - 1}/*`, body: part,
      }));
      assert.equal(res.checksum, treeHash(part));
    }
    const parts = await glacier.send(new ListPartsCommand({ accountId: '-', vaultName, uploadId, limit: 2 }));
    assert.equal(parts.PartSizeInBytes, partSize);
    assert.equal(parts.ArchiveDescription, `parts of ${partSize}`);
    assert.deepEqual(parts.Parts, [
      { RangeInBytes: `0-${partSize - 1}`, SHA256TreeHash: treeHash(body.subarray(0, partSize)) },
      { RangeInBytes: `${partSize}-${2 * partSize - 1}`, SHA256TreeHash: treeHash(body.subarray(partSize, 2 * partSize)) },
    ]);
    assert.ok(parts.Marker);
    const rest = await glacier.send(new ListPartsCommand({ accountId: '-', vaultName, uploadId, marker: parts.Marker! }));
    assert.deepEqual(rest.Parts!.map((p) => p.RangeInBytes), [`${2 * partSize}-${body.length - 1}`]);
    assert.equal(rest.Marker, undefined);
    const uploads = await glacier.send(new ListMultipartUploadsCommand({ accountId: '-', vaultName }));
    assert.deepEqual(uploads.UploadsList!.map((u) => u.MultipartUploadId), [uploadId]);
    assert.equal(uploads.UploadsList![0]!.VaultARN, `arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/${vaultName}`);
    // A wrong whole-archive hash leaves the upload open for a retry.
    const wrong = await failure(glacier.send(new CompleteMultipartUploadCommand({ accountId: '-', vaultName, uploadId, archiveSize: String(body.length), checksum: treeHash(Buffer.from('x')) })));
    assert.equal(wrong.name, 'InvalidParameterValueException');
    assert.equal(wrong.message, `Checksum mismatch: expected ${treeHash(Buffer.from('x'))}, computed ${treeHash(body)}`);
    const done = await glacier.send(new CompleteMultipartUploadCommand({ accountId: '-', vaultName, uploadId, archiveSize: String(body.length), checksum: treeHash(body) }));
    assert.equal(done.checksum, treeHash(body));
    const repeat = await glacier.send(new CompleteMultipartUploadCommand({ accountId: '-', vaultName, uploadId, archiveSize: String(body.length), checksum: treeHash(body) }));
    assert.equal(repeat.archiveId, done.archiveId);
    assert.equal((await glacier.send(new ListMultipartUploadsCommand({ accountId: '-', vaultName }))).UploadsList!.length, 0);

    const job = await glacier.send(new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: { Type: 'archive-retrieval', ArchiveId: done.archiveId } }));
    assert.equal((await waitJob(vaultName, job.jobId!)).SHA256TreeHash, treeHash(body));
    const out = await glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName, jobId: job.jobId! }));
    const bytes = await bytesOf(out.body);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), createHash('sha256').update(body).digest('hex'));
    assert.equal(out.checksum, treeHash(body));
  }
  const aborted = await glacier.send(new InitiateMultipartUploadCommand({ accountId: '-', vaultName, partSize: String(MIB) }));
  await glacier.send(new AbortMultipartUploadCommand({ accountId: '-', vaultName, uploadId: aborted.uploadId! }));
  const badSize = await failure(glacier.send(new InitiateMultipartUploadCommand({ accountId: '-', vaultName, partSize: String(3 * MIB) })));
  assert.equal(badSize.message, `Invalid part size: ${3 * MIB}. Part size must not be null, must be a power of two and be between 1048576 and 4294967296 bytes.`);
  const notEmpty = await failure(glacier.send(new DeleteVaultCommand({ accountId: '-', vaultName })));
  assert.equal(notEmpty.name, 'InvalidParameterValueException');
  assert.equal(notEmpty.message, `Vault not empty or recently written to: arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/${vaultName}`);
});

test('JSON inventory lists every archive with its SHA-256 tree hash', async () => {
  const vaultName = 'inventory';
  await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
  const bodies = [data(100, 7), data(MIB + 5, 8)];
  const ids: string[] = [];
  for (const [i, body] of bodies.entries()) {
    ids.push((await glacier.send(new UploadArchiveCommand({ accountId: '-', vaultName, body, archiveDescription: `file ${i}` }))).archiveId!);
  }
  const job = await glacier.send(new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: { Type: 'inventory-retrieval' } }));
  const done = await waitJob(vaultName, job.jobId!);
  assert.equal(done.Action, 'InventoryRetrieval');
  assert.equal(done.InventoryRetrievalParameters?.Format, 'JSON');
  assert.equal(done.SHA256TreeHash, undefined);
  const out = await glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName, jobId: job.jobId! }));
  assert.equal(out.contentType, 'application/json');
  assert.equal(out.checksum, undefined);
  const text = (await bytesOf(out.body)).toString('utf8');
  assert.equal(Buffer.byteLength(text), done.InventorySizeInBytes);
  const inventory = JSON.parse(text) as { VaultARN: string; InventoryDate: string; ArchiveList: Array<Record<string, unknown>> };
  assert.equal(inventory.VaultARN, `arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/${vaultName}`);
  assert.match(inventory.InventoryDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const byId = new Map(inventory.ArchiveList.map((a) => [a.ArchiveId, a]));
  for (const [i, body] of bodies.entries()) {
    const a = byId.get(ids[i])!;
    assert.equal(a.ArchiveDescription, `file ${i}`);
    assert.equal(a.Size, body.length);
    assert.equal(a.SHA256TreeHash, treeHash(body));
  }
});

test('errors: unknown vault, wrong tree hash, bad signature, foreign account id', async () => {
  const unknown = await failure(glacier.send(new DescribeVaultCommand({ accountId: '-', vaultName: 'no-such-vault' })));
  assert.deepEqual([unknown.name, unknown.status, unknown.type], ['ResourceNotFoundException', 404, 'Client']);
  await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: 'errors' }));
  const body = data(3000, 9);
  const wrong = await failure(glacier.send(new UploadArchiveCommand({ accountId: '-', vaultName: 'errors', body, checksum: treeHash(Buffer.from('other')) })));
  assert.equal(wrong.name, 'InvalidParameterValueException');
  assert.equal(wrong.message, `Checksum mismatch: expected ${treeHash(Buffer.from('other'))}, computed ${treeHash(body)}`);
  assert.equal((await glacier.send(new DescribeVaultCommand({ accountId: '-', vaultName: 'errors' }))).NumberOfArchives, 0);
  const badKey = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: 'not-the-secret' });
  try {
    const sig = await failure(badKey.send(new ListVaultsCommand({ accountId: '-' })));
    assert.deepEqual([sig.name, sig.status], ['InvalidSignatureException', 403]);
  } finally {
    badKey.destroy();
  }
  const foreign = ACCOUNT === '123456789012' ? '210987654321' : '123456789012';
  const denied = await failure(glacier.send(new ListVaultsCommand({ accountId: foreign })));
  assert.deepEqual([denied.name, denied.status], ['AccessDeniedException', 403]);
  const badName = await failure(glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: 'no spaces' })));
  assert.equal(badName.name, 'InvalidParameterValueException');
});

test('cross-protocol: an OAS upload is retrieved through Glacier and a Glacier upload through OAS', async () => {
  const vaultId = await ts.client.vaultId('crossover');
  const viaOas = data(2 * MIB + 3, 11);
  const oasArchive = await ts.client.archiveId(vaultId, viaOas, 'from OAS');
  const job = await glacier.send(new InitiateJobCommand({ accountId: '-', vaultName: 'crossover', jobParameters: { Type: 'archive-retrieval', ArchiveId: oasArchive } }));
  const described = await waitJob('crossover', job.jobId!);
  assert.equal(described.ArchiveSHA256TreeHash, treeHash(viaOas));
  const out = await glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName: 'crossover', jobId: job.jobId! }));
  assert.equal(out.checksum, treeHash(viaOas));
  assert.equal(out.archiveDescription, 'from OAS');
  assert.ok((await bytesOf(out.body)).equals(viaOas));

  const viaGlacier = data(3 * MIB + 1, 12);
  const up = await glacier.send(new UploadArchiveCommand({ accountId: '-', vaultName: 'crossover', body: viaGlacier }));
  const meta = await ts.client.get(`/vaults/${vaultId}/archives/${up.archiveId}/meta`);
  assert.equal(meta.status, 200);
  assert.equal(meta.json.ArchiveTreeEtag, hashBuffer(viaGlacier).treeEtag);
  const oasJob = await ts.client.jobId(vaultId, { Type: 'archive-retrieval', ArchiveId: up.archiveId });
  const done = await ts.client.waitJob(vaultId, oasJob);
  assert.equal(done.ArchiveTreeEtag, hashBuffer(viaGlacier).treeEtag);
  const res = await ts.client.get(`/vaults/${vaultId}/jobs/${oasJob}/output`);
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-oas-tree-etag'], hashBuffer(viaGlacier).treeEtag);
  assert.ok(res.body.equals(viaGlacier));
});

/** A raw signed Glacier request: `signedBody` is what the signature's x-amz-content-sha256 covers, `body` what is sent. */
function rawGlacier(method: string, path: string, headers: Record<string, string>, signedBody: Buffer, body = signedBody): Promise<{ status: number; json: Record<string, unknown> }> {
  const all: Record<string, string> = { host: `127.0.0.1:${ts.port}`, 'x-amz-glacier-version': '2012-06-01', 'content-length': String(body.length), ...headers };
  Object.assign(all, signSigV4({ method, path, query: '', headers: Object.entries(all) }, { accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET },
    { region: 'us-east-1', payloadHash: sha256Hex(signedBody) }));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: ts.port, method, path, headers: all, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('a body that is not the one the signature covers is refused and nothing is stored', async () => {
  await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: 'bound' }));
  const signed = data(2 * MIB, 21);
  const sent = Buffer.from(signed);
  sent[MIB + 5] = sent[MIB + 5]! ^ 1;
  // The tree hash is the sent bytes' own: only the signature's payload hash tells them apart.
  const res = await rawGlacier('POST', '/-/vaults/bound/archives', { 'x-amz-sha256-tree-hash': treeHash(sent) }, signed, sent);
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 'InvalidParameterValueException');
  assert.match(String(res.json.message), /x-amz-content-sha256/);
  assert.equal((await glacier.send(new DescribeVaultCommand({ accountId: '-', vaultName: 'bound' }))).NumberOfArchives, 0);
  const ok = await rawGlacier('POST', '/-/vaults/bound/archives', { 'x-amz-sha256-tree-hash': treeHash(signed) }, signed);
  assert.equal(ok.status, 201);
});

test('CSV inventory with a Limit: the finished job carries the marker that continues the listing', async () => {
  const vaultName = 'csv-inventory';
  await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
  const ids: string[] = [];
  for (const [i, description] of ['plain', 'with, comma', 'say "hi"'].entries()) {
    ids.push((await glacier.send(new UploadArchiveCommand({ accountId: '-', vaultName, body: data(10 + i, i), archiveDescription: description }))).archiveId!);
  }
  ids.sort();
  const lines: string[] = [];
  let marker: string | undefined;
  for (let round = 0; round < 3; round++) {
    const job = await glacier.send(new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: {
      Type: 'inventory-retrieval', Format: 'CSV', InventoryRetrievalParameters: { Limit: '2', ...(marker ? { Marker: marker } : {}) },
    } }));
    const done = await waitJob(vaultName, job.jobId!);
    assert.equal(done.InventoryRetrievalParameters?.Format, 'CSV');
    assert.equal(done.InventoryRetrievalParameters?.Limit, '2');
    const out = await glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName, jobId: job.jobId! }));
    assert.equal(out.contentType, 'text/csv');
    const text = (await bytesOf(out.body)).toString('utf8').trimEnd().split('\n');
    assert.equal(text[0], 'ArchiveId,ArchiveDescription,CreationDate,Size,SHA256TreeHash');
    lines.push(...text.slice(1));
    marker = done.InventoryRetrievalParameters?.Marker;
    if (marker === undefined) break;
    assert.equal(marker, ids[2]);
  }
  assert.equal(marker, undefined);
  assert.deepEqual(lines.map((l) => l.slice(0, 32)), ids);
  assert.ok(lines.some((l) => l.includes(',"with, comma",')));
  assert.ok(lines.some((l) => l.includes(',"say \\"hi\\"",')));
});

test('provisioned capacity lists empty and cannot be bought; vault lock is refused, never pretended', async () => {
  const listed = await glacier.send(new ListProvisionedCapacityCommand({ accountId: '-' }));
  assert.deepEqual(listed.ProvisionedCapacityList, []);
  const buy = await failure(glacier.send(new PurchaseProvisionedCapacityCommand({ accountId: '-' })));
  assert.deepEqual([buy.name, buy.status], ['InvalidParameterValueException', 400]);
  assert.match(buy.message, /PurchaseProvisionedCapacity is not supported by this server/);
  // Refused as an operation, whatever the vault.
  const lock = await failure(glacier.send(new InitiateVaultLockCommand({ accountId: '-', vaultName: 'never-created', policy: { Policy: '{}' } })));
  assert.deepEqual([lock.name, lock.status], ['InvalidParameterValueException', 400]);
  assert.match(lock.message, /InitiateVaultLock is not supported by this server/);
});
