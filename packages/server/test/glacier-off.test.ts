// --glacier off: Glacier requests are refused with a clear error (nothing stored), OAS uploads
// and inventories store only their MD5 leaves and no backfill runs. Turned on again over the
// same data, the Glacier front end serves those archives with their SHA-256 tree hash
// (computed then).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CreateVaultCommand, DescribeJobCommand, GetJobOutputCommand, InitiateJobCommand, ListVaultsCommand, UploadArchiveCommand } from '@aws-sdk/client-glacier';
import { hashBuffer, treeHash } from '@oas/sdk';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { glacierJsClient } from './helpers/glacier-clients.js';
import { ROOT_ID, ROOT_SECRET, startServer, tempDir, type TestServer } from './helpers/server.js';

const MIB = 1024 * 1024;

/** Distinct data per seed. */
const data = (size: number, seed: number): Buffer => pattern(size, seed * 17);

function sha256Leaves(bytes: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += MIB) out.push(createHash('sha256').update(bytes.subarray(at, at + MIB)).digest());
  return Buffer.concat(out);
}

async function leavesOf(ts: TestServer, blobKey: string, family: string): Promise<Buffer | null> {
  try {
    return await ts.server.blobs.readLeaves(blobKey, 0, undefined, family);
  } catch {
    return null;
  }
}

/** An OAS multipart upload of `bytes` in 1 MiB parts; returns the upload id (left open) and the archive id once completed. */
async function oasMultipart(ts: TestServer, vault: string, bytes: Buffer): Promise<{ uploadId: string; partKeys: string[]; archiveId: string }> {
  const init = await ts.client.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads`, headers: { 'x-oas-part-size': MIB } });
  assert.equal(init.status, 201, init.text);
  const uploadId = String(init.headers['x-oas-multipart-upload-id']);
  for (let start = 0; start < bytes.length; start += MIB) {
    const part = bytes.subarray(start, start + MIB);
    const h = hashBuffer(part);
    const res = await ts.client.request({
      method: 'PUT', path: `/vaults/${vault}/multipart-uploads/${uploadId}`, body: part,
      headers: { 'Content-Range': `${start}-${start + part.length - 1}`, 'x-oas-content-etag': h.etag, 'x-oas-tree-etag': h.treeEtag },
    });
    assert.equal(res.status, 204, res.text);
  }
  const partKeys = (await ts.server.meta.allParts(uploadId)).map((p) => p.blobKey);
  const done = await ts.client.request({
    method: 'POST', path: `/vaults/${vault}/multipart-uploads/${uploadId}`,
    headers: { 'x-oas-archive-size': bytes.length, 'x-oas-tree-etag': hashBuffer(bytes).treeEtag },
  });
  assert.equal(done.status, 201, done.text);
  return { uploadId, partKeys, archiveId: String(done.headers['x-oas-archive-id']) };
}

test('--glacier off refuses Glacier requests, stores MD5 leaves only; turned on, Glacier serves those archives', async () => {
  const dataDir = await tempDir('oas-glacier-off-');
  let ts = await startServer({ dataDir, glacier: false });
  after(() => ts.close());
  assert.equal(ts.server.backfiller, null, 'no SHA-256 backfill without the Glacier front end, though --backfill is on');

  const glacier = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET });
  const refused = async (send: () => Promise<unknown>) => {
    const err = await send().then(() => null, (e: unknown) => e as { name: string; message: string; $metadata: { httpStatusCode: number } });
    assert.ok(err, 'the Glacier request was refused');
    assert.equal(err.name, 'AccessDeniedException');
    assert.equal(err.$metadata.httpStatusCode, 403);
    assert.match(err.message, /Glacier API is turned off on this server \(oas-server --glacier off\)/);
  };
  await refused(() => glacier.send(new ListVaultsCommand({ accountId: '-' })));
  await refused(() => glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: 'via-glacier' })));

  const vault = await ts.client.vaultId('photos');
  await refused(() => glacier.send(new UploadArchiveCommand({ accountId: '-', vaultName: 'photos', body: data(3 * MIB, 9) })));
  assert.equal((await ts.client.get(`/vaults/${vault}`)).json.NumberOfArchives, 0, 'the refused upload stored nothing');

  // OAS uploads: MD5 leaves, no SHA-256 leaves (single request and parts).
  const single = data(3 * MIB + 17, 1);
  const singleId = await ts.client.archiveId(vault, single);
  const [singleKey] = (await ts.server.meta.getSegments(singleId)).map((s) => s.blobKey);
  assert.equal((await leavesOf(ts, singleKey!, 'md5'))?.length, 4 * 16);
  assert.equal(await leavesOf(ts, singleKey!, 'sha256'), null);
  const multi = data(2 * MIB + 5, 2);
  const { partKeys, archiveId: multiId } = await oasMultipart(ts, vault, multi);
  for (const key of partKeys) assert.equal(await leavesOf(ts, key, 'sha256'), null);
  // An inventory's output blob too.
  const inventory = await ts.client.jobId(vault, { Type: 'inventory-retrieval' });
  await ts.client.waitJob(vault, inventory);
  const { outputKey } = (await ts.server.meta.getJob(vault, inventory, Date.now()))!;
  assert.ok((await leavesOf(ts, outputKey, 'md5'))?.length);
  assert.equal(await leavesOf(ts, outputKey, 'sha256'), null);
  glacier.destroy();
  await ts.stop();

  // The same data with the Glacier front end on (the default).
  ts = await startServer({ dataDir, backfill: false });
  const on = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET });
  after(() => on.destroy());
  const newer = data(2 * MIB, 3);
  const [newerKey] = (await ts.server.meta.getSegments(await ts.client.archiveId(vault, newer))).map((s) => s.blobKey);
  assert.ok((await leavesOf(ts, newerKey!, 'sha256'))?.equals(sha256Leaves(newer)), 'with Glacier on, an OAS upload stores SHA-256 leaves');

  for (const [archiveId, bytes] of [[singleId, single], [multiId, multi]] as const) {
    const job = await on.send(new InitiateJobCommand({ accountId: '-', vaultName: 'photos', jobParameters: { Type: 'archive-retrieval', ArchiveId: archiveId } }));
    const described = await on.send(new DescribeJobCommand({ accountId: '-', vaultName: 'photos', jobId: job.jobId! }));
    assert.equal(described.ArchiveSHA256TreeHash, treeHash(bytes), 'computed for an archive stored with --glacier off');
    await ts.client.waitJob(vault, job.jobId!);
    const output = await on.send(new GetJobOutputCommand({ accountId: '-', vaultName: 'photos', jobId: job.jobId! }));
    assert.equal(output.checksum, treeHash(bytes));
    assert.ok(Buffer.from(await output.body!.transformToByteArray()).equals(bytes));
  }
  for (const { blobKey } of await ts.server.meta.getSegments(singleId)) {
    assert.ok((await leavesOf(ts, blobKey, 'sha256'))?.equals(sha256Leaves(single)), 'kept once computed');
  }
});
