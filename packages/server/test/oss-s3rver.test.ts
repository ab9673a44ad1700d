// OSS transfer jobs (pull-from-oss, push-to-oss) against s3rver in process: the fast path,
// the failure cases (missing bucket/key, access denied, endpoint down, checksum mismatch,
// corrupt local data, timeouts), transient faults injected by a proxy, and restarts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { combineTreeEtags, hashBuffer, isId, treeEtag } from '@oas/sdk';
import type { OssHostInput } from '../src/oss-config.js';
import { startServer, type TestServer } from './helpers/server.js';
import { assertError, blobFiles, listFiles } from './helpers/assert.js';
import { corruptBlobByte, s3BlobObjects } from './helpers/backends.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { startS3rver, type S3TestServer } from './helpers/s3rver.js';
import { testS3Client } from './helpers/s3-client.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { REFUSED_ENDPOINT } from './helpers/oss.js';

const MIB = 1024 * 1024;
let s3: S3TestServer;
let proxy: FaultProxy;
let client: S3Client;
let t: TestServer;
let hosts: Record<string, OssHostInput>;
let vault: string;

before(async () => {
  s3 = await startS3rver();
  await s3.createBucket('source');
  await s3.createBucket('target');
  proxy = await startFaultProxy(s3.endpoint);
  client = testS3Client(s3);
  const creds = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, addressing: 'path' as const, region: s3.region };
  hosts = {
    's3.test': { ...creds, endpoint: s3.endpoint, partSize: 5 * MIB, retryBaseMs: 5 },
    // Through the fault proxy: one part at a time, long timeouts (stalls last until the test ends them).
    'proxy.test': { ...creds, endpoint: proxy.endpoint, partSize: 5 * MIB, concurrency: 1, retryBaseMs: 5, requestTimeoutMs: 600_000 },
    // Through the proxy with a short timeout.
    'slow.test': { ...creds, endpoint: proxy.endpoint, requestTimeoutMs: 300, maxAttempts: 2, retryBaseMs: 5 },
    'down.test': { ...creds, endpoint: REFUSED_ENDPOINT, maxAttempts: 2, retryBaseMs: 5 },
    'badkey.test': { ...creds, endpoint: s3.endpoint, accessKeyId: 'NOTMYKEY', secretAccessKey: 'wrong' },
  };
  t = await startServer({ ossHosts: hosts });
  vault = await t.client.vaultId('oss');
});

after(async () => {
  await t?.close();
  client?.destroy();
  await proxy?.stop();
  await s3?.stop();
});

async function putObject(key: string, data: Buffer): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: 'source', Key: key, Body: data }));
}

async function getObject(bucket: string, key: string): Promise<Buffer> {
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

async function objectExists(bucket: string, key: string): Promise<boolean> {
  return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(() => true, (err: { $metadata?: { httpStatusCode?: number } }) => {
    if (err.$metadata?.httpStatusCode === 404) return false;
    throw err;
  });
}

async function runJob(body: Record<string, unknown>) {
  const jobId = await t.client.jobId(vault, body);
  return t.client.waitJob(vault, jobId, 120_000);
}

const pull = (ossHost: string, bucket: string, object: string) => runJob({ Type: 'pull-from-oss', OSSHost: ossHost, Bucket: bucket, Object: object, Description: 'pulled' });
const push = (archiveId: string, ossHost: string, bucket: string, object: string) => runJob({ Type: 'push-to-oss', ArchiveId: archiveId, OSSHost: ossHost, Bucket: bucket, Object: object });

/** The archive's bytes through an archive-retrieval job. */
async function archiveBytes(archiveId: string): Promise<Buffer> {
  const job = await runJob({ Type: 'archive-retrieval', ArchiveId: archiveId });
  assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
  const out = await t.client.get(`/vaults/${vault}/jobs/${job.JobId}/output`);
  assert.equal(out.status, 200);
  return out.body;
}

async function archiveCount(): Promise<number> {
  const res = await t.client.get(`/vaults/${vault}`);
  return res.json.NumberOfArchives;
}

/** An archive uploaded in parts of `partSize`: its segments are the parts. */
async function multipartArchive(data: Buffer, partSize: number): Promise<string> {
  const up = await t.client.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads`, headers: { 'x-oas-part-size': partSize } });
  const uploadId = String(up.headers['x-oas-multipart-upload-id']);
  const etags: string[] = [];
  for (let start = 0; start < data.length; start += partSize) {
    const part = data.subarray(start, Math.min(data.length, start + partSize));
    const h = hashBuffer(part);
    etags.push(h.treeEtag);
    const res = await t.client.request({ method: 'PUT', path: `/vaults/${vault}/multipart-uploads/${uploadId}`, body: part,
      headers: { 'Content-Range': `${start}-${start + part.length - 1}`, 'x-oas-content-etag': h.etag, 'x-oas-tree-etag': h.treeEtag } });
    assert.equal(res.status, 204, res.text);
  }
  const done = await t.client.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads/${uploadId}`,
    headers: { 'x-oas-archive-size': data.length, 'x-oas-tree-etag': combineTreeEtags(etags) } });
  assert.equal(done.status, 201, done.text);
  return String(done.headers['x-oas-archive-id']);
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** What the server's blob store holds (files or S3 objects, whatever the test backend). */
async function storedBlobs(): Promise<string[]> {
  return (await s3BlobObjects(t.dataDir)) ?? blobFiles(t.dataDir);
}

/** Asserts that the blob store gained exactly the blobs of these archives since `before`. */
async function assertAddedBlobs(before: string[], archiveIds: string[]): Promise<void> {
  const keys: string[] = [];
  for (const id of archiveIds) for (const s of await t.server.meta.getSegments(id)) keys.push(s.blobKey);
  const added = (await storedBlobs()).filter((f) => !before.includes(f));
  for (const f of added) assert.ok(keys.some((k) => f.includes(k)), `unexpected blob ${f}`);
  for (const k of keys) assert.ok(added.some((f) => f.includes(k)), `missing blob ${k}`);
}

test('job creation: only configured OSS hosts (any case), valid bucket names', async () => {
  const res = await t.client.createJob(vault, { Type: 'pull-from-oss', OSSHost: 'oss-cn-hangzhou.aliyuncs.com', Bucket: 'source', Object: 'x' });
  assertError(res, 400, 'InvalidArgument');
  assert.match(res.json.message, /oss-cn-hangzhou\.aliyuncs\.com/);
  const archiveId = await t.client.archiveId(vault, Buffer.from('abc'));
  const evil = await t.client.createJob(vault, { Type: 'push-to-oss', ArchiveId: archiveId, OSSHost: '127.0.0.1:1', Bucket: 'target', Object: 'x' });
  assertError(evil, 400, 'InvalidArgument');
  assert.match(evil.json.message, /127\.0\.0\.1:1/);
  for (const bucket of ['a', 'has/slash', 'x..y', '-dash', 'spa ce']) {
    assertError(await t.client.createJob(vault, { Type: 'pull-from-oss', OSSHost: 's3.test', Bucket: bucket, Object: 'x' }), 400, 'InvalidArgument');
  }
  assertError(await t.client.createJob(vault, { Type: 'pull-from-oss', OSSHost: 's3.test', Bucket: 'source', Object: 'a\nb' }), 400, 'InvalidArgument');
  const ok = await t.client.createJob(vault, { Type: 'pull-from-oss', OSSHost: 'S3.TEST', Bucket: 'source', Object: 'missing' });
  assert.equal(ok.status, 202, ok.text);
  await t.client.waitJob(vault, String(ok.headers['x-oas-job-id']));
  await t.client.del(`/vaults/${vault}/archives/${archiveId}`);
});

test('pull: a small object becomes an archive with the right size and tree etag', async () => {
  const data = pattern(3 * MIB + 5, 7);
  await putObject('dir/small.bin', data);
  const before = await archiveCount();
  const job = await pull('s3.test', 'source', 'dir/small.bin');
  assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
  assert.equal(job.Action, 'PullFromOSS');
  assert.ok(isId(job.ArchiveId), job.ArchiveId);
  assert.equal(job.ArchiveSizeInBytes, data.length);
  assert.equal(job.ArchiveTreeEtag, treeEtag(data));
  assert.equal(await archiveCount(), before + 1);
  const meta = await t.client.get(`/vaults/${vault}/archives/${job.ArchiveId}/meta`);
  assert.equal(meta.json.ArchiveDescription, 'pulled');
  assert.ok((await archiveBytes(job.ArchiveId)).equals(data));
});

test('pull: an object uploaded in parts (lib-storage multipart)', async () => {
  const data = pattern(17 * MIB + 1234, 3);
  await new Upload({ client, params: { Bucket: 'source', Key: 'multi.bin', Body: Readable.from([data]) }, partSize: 5 * MIB }).done();
  const job = await pull('s3.test', 'source', 'multi.bin');
  assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
  assert.equal(job.ArchiveSizeInBytes, data.length);
  assert.equal(job.ArchiveTreeEtag, treeEtag(data));
  assert.ok((await archiveBytes(job.ArchiveId)).equals(data));
});

test('push: a small archive in one PUT; the object has its bytes and MD5 ETag', async () => {
  const data = pattern(2 * MIB + 77, 1);
  const archiveId = await t.client.archiveId(vault, data);
  const job = await push(archiveId, 's3.test', 'target', 'out/small.bin');
  assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
  assert.equal(job.Action, 'PushToOSS');
  assert.equal(job.ArchiveId, archiveId);
  assert.equal(job.ArchiveSizeInBytes, data.length);
  assert.equal(job.ArchiveTreeEtag, treeEtag(data));
  assert.ok((await getObject('target', 'out/small.bin')).equals(data));
  const head = await client.send(new HeadObjectCommand({ Bucket: 'target', Key: 'out/small.bin' }));
  assert.equal(head.ETag, `"${md5(data)}"`);
});

test('push: a multipart archive (2 MiB segments) as a multipart upload of 5 MiB parts', async () => {
  const data = pattern(12 * MIB + 3, 5);
  const archiveId = await multipartArchive(data, 2 * MIB);
  const job = await push(archiveId, 's3.test', 'target', 'out/multi.bin');
  assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
  assert.equal(job.ArchiveSizeInBytes, data.length);
  assert.ok((await getObject('target', 'out/multi.bin')).equals(data));
});

test('failures: missing key or bucket, access denied, endpoint down; nothing is left behind', async () => {
  const archives = await archiveCount();
  const blobs = await storedBlobs();
  await putObject('exists.bin', pattern(1000));

  const noKey = await pull('s3.test', 'source', 'no/such/key');
  assert.equal(noKey.StatusCode, 'Failed');
  assert.equal(noKey.Completed, true);
  assert.match(noKey.StatusMessage, /oss:\/\/source\/no\/such\/key at s3\.test.*does not exist.*NoSuchKey/);
  assert.equal(noKey.ArchiveId, '');
  assert.equal(noKey.ArchiveSizeInBytes, -1);

  const noBucket = await pull('s3.test', 'nobucket', 'exists.bin');
  assert.equal(noBucket.StatusCode, 'Failed');
  assert.match(noBucket.StatusMessage, /bucket does not exist.*NoSuchBucket/);

  const denied = await pull('badkey.test', 'source', 'exists.bin');
  assert.equal(denied.StatusCode, 'Failed');
  assert.match(denied.StatusMessage, /access denied by badkey\.test \(InvalidAccessKeyId.*check the credentials/);

  const down = await pull('down.test', 'source', 'exists.bin');
  assert.equal(down.StatusCode, 'Failed');
  assert.match(down.StatusMessage, /cannot reach the OSS endpoint http:\/\/127\.0\.0\.1:1 of down\.test \(ECONNREFUSED\) \(gave up after 2 attempts\)/);

  const archiveId = await t.client.archiveId(vault, pattern(5000));
  const pushNoBucket = await push(archiveId, 's3.test', 'nobucket', 'x.bin');
  assert.equal(pushNoBucket.StatusCode, 'Failed');
  assert.match(pushNoBucket.StatusMessage, /Writing oss:\/\/nobucket\/x\.bin at s3\.test failed: the bucket does not exist/);
  assert.equal(pushNoBucket.ArchiveSizeInBytes, 5000);
  const pushDenied = await push(archiveId, 'badkey.test', 'target', 'denied.bin');
  assert.equal(pushDenied.StatusCode, 'Failed');
  assert.match(pushDenied.StatusMessage, /access denied/);
  assert.equal(await objectExists('target', 'denied.bin'), false);
  await t.client.del(`/vaults/${vault}/archives/${archiveId}`);

  assert.equal(await archiveCount(), archives);
  await assertAddedBlobs(blobs, [archiveId]);
});

test('pull: an object whose bytes do not match its ETag fails with a checksum mismatch and stores nothing', async () => {
  const data = pattern(2 * MIB, 9);
  await putObject('rotten.bin', data);
  // Bit rot at the source: the stored bytes change, the recorded MD5 does not.
  const files = (await listFiles(s3.dir)).filter((f) => f.includes('rotten.bin') && f.endsWith('object'));
  assert.equal(files.length, 1, String(files));
  const handle = await open(join(s3.dir, files[0]!), 'r+');
  await handle.write(Buffer.from([data[MIB]! ^ 1]), 0, 1, MIB);
  await handle.close();
  const archives = await archiveCount();
  const blobs = await storedBlobs();
  const job = await pull('s3.test', 'source', 'rotten.bin');
  assert.equal(job.StatusCode, 'Failed');
  assert.match(job.StatusMessage, new RegExp(`^Checksum mismatch: oss://source/rotten\\.bin at s3\\.test has ETag ${md5(data)}, but the 2097152 bytes received give MD5 [0-9a-f]{32}`));
  assert.match(job.StatusMessage, /No archive was created\.$/);
  assert.equal(await archiveCount(), archives);
  assert.deepEqual(await storedBlobs(), blobs);
});

test('push: archive data that no longer matches its checksums is never sent', async () => {
  const data = pattern(3 * MIB, 2);
  const archiveId = await t.client.archiveId(vault, data);
  const [segment] = await t.server.meta.getSegments(archiveId);
  await corruptBlobByte(t.dataDir, segment!.blobKey, MIB + 10);
  const job = await push(archiveId, 's3.test', 'target', 'corrupt.bin');
  assert.equal(job.StatusCode, 'Failed');
  assert.match(job.StatusMessage, /Data corruption detected: leaf 1 \(1 MiB\) of archive [0-9A-F]{32} does not match its stored checksum/);
  assert.equal(await objectExists('target', 'corrupt.bin'), false);
  // Multipart: the damaged part fails, the upload is aborted, no object appears.
  const big = pattern(11 * MIB, 4);
  const bigId = await t.client.archiveId(vault, big);
  const [bigSegment] = await t.server.meta.getSegments(bigId);
  await corruptBlobByte(t.dataDir, bigSegment!.blobKey, 6 * MIB);
  const bigJob = await push(bigId, 's3.test', 'target', 'corrupt-multi.bin');
  assert.equal(bigJob.StatusCode, 'Failed');
  assert.match(bigJob.StatusMessage, /Data corruption detected: leaf 1 \(1 MiB\) of bytes 5242880-10485759 of archive/);
  assert.equal(await objectExists('target', 'corrupt-multi.bin'), false);
});

test('transient faults: a download cut short resumes with a Range request; a part damaged on the way is sent again', async () => {
  const data = pattern(6 * MIB + 11, 8);
  await putObject('flaky.bin', data);
  let cut = false;
  proxy.rule = ({ method }) => (method === 'GET' && !cut ? ((cut = true), 'cut-body') : 'pass');
  proxy.seen.length = 0;
  const job = await pull('proxy.test', 'source', 'flaky.bin');
  assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
  assert.equal(job.ArchiveTreeEtag, treeEtag(data));
  const gets = proxy.seen.filter((r) => r.method === 'GET');
  assert.equal(gets.length, 2);
  assert.equal(gets[0]!.fault, 'cut-body');
  assert.match(gets[1]!.range ?? '', /^bytes=[1-9]\d*-6291466$/);

  // One PUT: the damaged body gives a wrong ETag, the PUT is repeated.
  let damaged = 0;
  proxy.rule = ({ method }) => (method === 'PUT' && damaged++ === 0 ? 'corrupt-request' : 'pass');
  const small = await t.client.archiveId(vault, pattern(MIB + 1, 6));
  const job2 = await push(small, 'proxy.test', 'target', 'flaky-one.bin');
  assert.equal(job2.StatusCode, 'Succeeded', job2.StatusMessage);
  assert.ok((await getObject('target', 'flaky-one.bin')).equals(pattern(MIB + 1, 6)));

  // Multipart: part 2 arrives damaged once and is uploaded again.
  const big = pattern(13 * MIB, 12);
  const bigId = await t.client.archiveId(vault, big);
  let part2 = 0;
  proxy.rule = ({ method, url }) => (method === 'PUT' && url.includes('partNumber=2') && part2++ === 0 ? 'corrupt-request' : 'pass');
  proxy.seen.length = 0;
  const job3 = await push(bigId, 'proxy.test', 'target', 'flaky-multi.bin');
  assert.equal(job3.StatusCode, 'Succeeded', job3.StatusMessage);
  assert.equal(proxy.seen.filter((r) => r.url.includes('partNumber=2')).length, 2);
  assert.ok((await getObject('target', 'flaky-multi.bin')).equals(big));
  proxy.rule = () => 'pass';
});

test('timeouts: a store that stops answering fails the job after the configured attempts', async () => {
  await putObject('slow.bin', pattern(1000));
  proxy.rule = () => 'stall';
  const job = await pull('slow.test', 'source', 'slow.bin');
  proxy.rule = () => 'pass';
  assert.equal(job.StatusCode, 'Failed');
  assert.match(job.StatusMessage, /the OSS endpoint http:\/\/127\.0\.0\.1:\d+ of slow\.test did not answer within 0\.3s \(gave up after 2 attempts\)/);
});

test('restart: an interrupted push continues its multipart upload; an interrupted pull starts over cleanly', async () => {
  const big = pattern(14 * MIB + 5, 13);
  const bigId = await t.client.archiveId(vault, big);
  proxy.seen.length = 0;
  proxy.rule = ({ method, url }) => (method === 'PUT' && url.includes('partNumber=2') ? 'stall' : 'pass');
  const stalled = proxy.nextStall();
  const pushId = await t.client.jobId(vault, { Type: 'push-to-oss', ArchiveId: bigId, OSSHost: 'proxy.test', Bucket: 'target', Object: 'resumed.bin' });
  await stalled;
  await t.stop();
  proxy.rule = () => 'pass';
  t = await startServer({ dataDir: t.dataDir, ossHosts: hosts });
  const pushed = await t.client.waitJob(vault, pushId, 120_000);
  assert.equal(pushed.StatusCode, 'Succeeded', pushed.StatusMessage);
  const uploads = proxy.seen.filter((r) => r.method === 'PUT' && r.url.includes('partNumber='));
  assert.deepEqual(uploads.map((r) => /partNumber=(\d+)/.exec(r.url)![1]), ['1', '2', '2', '3']);
  assert.equal(proxy.seen.filter((r) => r.method === 'POST' && r.url.includes('uploads')).length, 1, 'one multipart upload');
  assert.ok((await getObject('target', 'resumed.bin')).equals(big));

  const data = pattern(7 * MIB + 3, 14);
  await putObject('restart.bin', data);
  const blobs = await storedBlobs();
  proxy.rule = ({ method }) => (method === 'GET' ? 'stall-body' : 'pass');
  const halfway = proxy.nextStall();
  const pullId = await t.client.jobId(vault, { Type: 'pull-from-oss', OSSHost: 'proxy.test', Bucket: 'source', Object: 'restart.bin' });
  await halfway;
  await t.stop();
  proxy.rule = () => 'pass';
  t = await startServer({ dataDir: t.dataDir, ossHosts: hosts });
  const pulled = await t.client.waitJob(vault, pullId, 120_000);
  assert.equal(pulled.StatusCode, 'Succeeded', pulled.StatusMessage);
  assert.equal(pulled.ArchiveTreeEtag, treeEtag(data));
  // The archive id was fixed before the first byte (the job's checkpoint).
  const record = await t.server.meta.getJob(vault, pullId, Date.now());
  assert.equal(JSON.parse(record!.checkpoint).archiveId, pulled.ArchiveId);
  assert.ok((await archiveBytes(pulled.ArchiveId)).equals(data));
  // Nothing of the interrupted run is left: only the new archive's blobs.
  await assertAddedBlobs(blobs, [pulled.ArchiveId]);
});
