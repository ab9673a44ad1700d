// Every operation through the sdk's OASAPI (the low-level client that mirrors the official
// Python SDK), and a round trip through its high-level layer: multipart upload, retrieval
// job, and the verified ranged download that depends on x-oas-tree-etag.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OASAPI, Vault, downloadJobOutput, hashBuffer, isId, treeEtag, uploadArchive } from '@oas/sdk';
import { ROOT_ID, ROOT_SECRET, startServer, tempDir, type TestServer } from './helpers/server.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { REFUSED_ENDPOINT } from './helpers/oss.js';

const MIB = 1048576;
let t: TestServer;
let api: OASAPI;
let work: string;
before(async () => {
  // An OSS host whose endpoint does not answer: the push job below fails (oss-*.test.ts test real transfers).
  t = await startServer({ ossHosts: { 'oss-cn-hangzhou.aliyuncs.com': { endpoint: REFUSED_ENDPOINT, accessKeyId: 'id', secretAccessKey: 'secret', maxAttempts: 1 } } });
  api = new OASAPI('127.0.0.1', ROOT_ID, ROOT_SECRET, { port: t.port });
  work = await tempDir('oas-sdk-work-');
});
after(async () => {
  api.close();
  await t.close();
  await rm(work, { recursive: true, force: true });
});

async function ok(p: ReturnType<OASAPI['getVaultDesc']>, status: number): Promise<{ headers: Record<string, unknown>; json: any }> {  
  const res = await p;
  const body = await res.read();
  assert.equal(res.status, status, body.toString());
  assert.ok(isId(res.requestId));
  return { headers: res.headers, json: body.length && res.headers['content-type'] === 'application/json' ? JSON.parse(body.toString()) : undefined };
}

test('all 17 operations through OASAPI', async () => {
  const vaultId = String((await ok(api.createVault('sdk-vault'), 201)).headers['x-oas-vault-id']);
  assert.equal((await ok(api.getVaultDesc(vaultId), 200)).json.VaultName, 'sdk-vault');
  const list = (await ok(api.listVault('', 10), 200)).json;
  assert.equal(list.Marker, '');
  assert.ok(list.VaultList.some((v: { VaultId: string }) => v.VaultId === vaultId));

  const data = pattern(3 * MIB + 5);
  const h = hashBuffer(data);
  const archiveId = String((await ok(api.postArchive(vaultId, data, h.etag, h.treeEtag, 'sdk archive'), 201)).headers['x-oas-archive-id']);
  assert.equal((await ok(api.headArchive(vaultId, archiveId), 200)).json.ArchiveSizeInBytes, data.length);

  const uploadId = String((await ok(api.createMultipartUpload(vaultId, 2 * MIB, 'sdk multipart'), 201)).headers['x-oas-multipart-upload-id']);
  const etags: string[] = [];
  for (let start = 0; start < data.length; start += 2 * MIB) {
    const part = data.subarray(start, Math.min(data.length, start + 2 * MIB));
    const ph = hashBuffer(part);
    etags.push(ph.treeEtag);
    await ok(api.postMultipart(vaultId, uploadId, part, `${start}-${start + part.length - 1}`, ph.etag, ph.treeEtag), 204);
  }
  assert.equal((await ok(api.listMultipart(vaultId, uploadId), 200)).json.Parts.length, 2);
  assert.equal((await ok(api.listMultipartUpload(vaultId), 200)).json.UploadsList[0].MultipartUploadId, uploadId);
  const mpArchive = String((await ok(api.completeMultipartUpload(vaultId, uploadId, data.length, h.treeEtag), 201)).headers['x-oas-archive-id']);
  assert.equal((await ok(api.headArchive(vaultId, mpArchive), 200)).json.ArchiveTreeEtag, h.treeEtag);

  const abortId = String((await ok(api.createMultipartUpload(vaultId, MIB), 201)).headers['x-oas-multipart-upload-id']);
  await ok(api.deleteMultipartUpload(vaultId, abortId), 204);

  const jobId = String((await ok(api.createJob(vaultId, 'archive-retrieval', mpArchive, 'sdk job', `${MIB}-${2 * MIB - 1}`), 202)).headers['x-oas-job-id']);
  const invId = String((await ok(api.createJob(vaultId, 'inventory-retrieval', undefined, 'inv'), 202)).headers['x-oas-job-id']);
  const ossId = String((await ok(api.createOssTransferJob(vaultId, 'push-to-oss', 'oss-cn-hangzhou.aliyuncs.com', 'bucket', 'obj', archiveId), 202)).headers['x-oas-job-id']);
  for (const id of [jobId, invId, ossId]) await t.client.waitJob(vaultId, id);
  const job = (await ok(api.getJobDesc(vaultId, jobId), 200)).json;
  assert.equal(job.TreeEtag, treeEtag(data.subarray(MIB, 2 * MIB)));
  assert.equal((await ok(api.listJob(vaultId), 200)).json.JobList.length, 3);
  const out = await api.fetchJobOutput(vaultId, jobId, 'bytes=0-1048575');
  assert.equal(out.status, 206);
  assert.equal(out.getHeader('x-oas-tree-etag'), job.TreeEtag);
  assert.ok((await out.read()).equals(data.subarray(MIB, 2 * MIB)));
  assert.equal((await ok(api.getJobDesc(vaultId, ossId), 200)).json.StatusCode, 'Failed');

  const bad = await api.postArchive(vaultId, data, h.etag, 'A'.repeat(32));
  const err = await bad.toError();
  assert.equal(err.code, 'InvalidDigest');
  assert.equal(err.type, 'client');
  assert.ok(isId(err.requestId));

  await ok(api.deleteArchive(vaultId, archiveId), 204);
  await ok(api.deleteArchive(vaultId, mpArchive), 204);
  await ok(api.deleteVault(vaultId), 204);
});

test('high-level layer: multipart upload, retrieval, verified ranged download', async () => {
  const vault = await Vault.create(api, 'sdk-ease');
  const data = pattern(5 * MIB + 123, 9);
  const file = join(work, 'in.bin');
  await writeFile(file, data);
  const result = await uploadArchive(api, vault.id, file, { partSize: MIB, singleUploadThreshold: 0, description: 'ease' });
  assert.equal(result.parts, 6);
  assert.equal(result.treeEtag, treeEtag(data));
  const job = await vault.retrieveArchive(result.archiveId);
  await job.wait({ pollInterval: 50 });
  const target = join(work, 'out.bin');
  const download = await downloadJobOutput(job, target, { pieceSize: MIB });
  assert.equal(download.verified, 'full');
  assert.ok((await readFile(target)).equals(data));
});
