// Conformance of OSS transfer jobs against a real Ceph radosgw (Debian packages, started
// here: helpers/ceph-rgw.ts; npm test installs the packages, a missing binary fails the file).
// Pull and push of small objects (single PUT and multipart, whose ETags are in the AWS
// md5-of-md5s-N form on radosgw), failures, and one large object on a bluestore OSD: uploaded
// from a deterministic stream, pulled into several blobs (segments), checked against the tree
// etag computed while generating it, pushed back and read again.
//
// By default the large object is 300 MiB and the pull splits it into 128 MiB segments, the
// same path a real multi-segment archive takes. OAS_TEST_HUGE=1 (`npm run test:huge`) uses
// an object over the 6 GiB single-upload limit with the real 4 GiB segments instead: about
// 20 GB of disk and several minutes, too much for every run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { treeEtag } from '@oas/sdk';
import { loadOssHosts, type OssHostInput } from '../src/oss-config.js';
import { multipartEtag } from '../src/jobs/runners/oss-client.js';
import { pullFromOss, pullSegmentBytes } from '../src/jobs/runners/oss-pull.js';
import { startServer, type TestServer } from './helpers/server.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { startCephRgw, type CephRgwServer } from './helpers/ceph-rgw.js';
import { testS3Client } from './helpers/s3-client.js';
import { generatedData } from './helpers/oss.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const HUGE = process.env.OAS_TEST_HUGE === '1';
/** Not a whole number of MiB; with HUGE just over the 6 GiB single-upload limit. */
const BIG = HUGE ? 6 * GIB + 5 * MIB + 17 : 300 * MIB + 5 * MIB + 17;
/** The pull's blob size: 4 GiB for real, 128 MiB otherwise (three segments either way). */
const segmentBytesFor = HUGE ? pullSegmentBytes : () => 128 * MIB;
/** lib-storage's part size for the upload, and the part count radosgw's ETag shows. */
const UPLOAD_PART = 64 * MIB;

let rgw: CephRgwServer;
let client: S3Client;
let t: TestServer;
let vault: string;

before(async () => {
  // Room for the big object twice (pulled source and pushed copy) plus the small ones.
  rgw = await startCephRgw({ bluestoreBytes: HUGE ? 40 * GIB : 4 * GIB });
  await rgw.createBucket('source');
  await rgw.createBucket('target');
  client = testS3Client(rgw);
  const creds = { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, region: rgw.region, addressing: 'path' as const };
  const hosts: Record<string, OssHostInput> = {
    'ceph.test': { ...creds, endpoint: rgw.endpoint },
    'ceph-small-parts.test': { ...creds, endpoint: rgw.endpoint, partSize: 5 * MIB },
  };
  t = await startServer({ ossHosts: hosts, runners: { 'pull-from-oss': pullFromOss(await loadOssHosts({ hosts }), segmentBytesFor) } });
  vault = await t.client.vaultId('ceph');
});

after(async () => {
  await t?.close();
  client?.destroy();
  await rgw?.stop();
});

async function runJob(body: Record<string, unknown>, timeoutMs = 120_000) {
  const jobId = await t.client.jobId(vault, body);
  return t.client.waitJob(vault, jobId, timeoutMs);
}

async function getObject(bucket: string, key: string): Promise<Buffer> {
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

async function archiveBytes(archiveId: string): Promise<Buffer> {
  const job = await runJob({ Type: 'archive-retrieval', ArchiveId: archiveId });
  assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
  return (await t.client.get(`/vaults/${vault}/jobs/${job.JobId}/output`)).body;
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

test('radosgw: pull of a PUT object and of a multipart object (ETag md5-of-md5s-N, checked)', async (ctx) => {
  const started = Date.now();
  const small = pattern(3 * MIB + 99, 21);
  await client.send(new PutObjectCommand({ Bucket: 'source', Key: 'small.bin', Body: small }));
  const job = await runJob({ Type: 'pull-from-oss', OSSHost: 'ceph.test', Bucket: 'source', Object: 'small.bin' });
  assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
  assert.equal(job.StatusMessage, 'Succeeded');
  assert.equal(job.ArchiveSizeInBytes, small.length);
  assert.equal(job.ArchiveTreeEtag, treeEtag(small));
  assert.ok((await archiveBytes(job.ArchiveId)).equals(small));

  const multi = pattern(23 * MIB + 5, 22);
  await new Upload({ client, params: { Bucket: 'source', Key: 'multi.bin', Body: Readable.from([multi]) }, partSize: 8 * MIB }).done();
  const head = await client.send(new HeadObjectCommand({ Bucket: 'source', Key: 'multi.bin' }));
  assert.match(head.ETag ?? '', /^"[0-9a-f]{32}-3"$/);
  const job2 = await runJob({ Type: 'pull-from-oss', OSSHost: 'ceph.test', Bucket: 'source', Object: 'multi.bin' });
  assert.equal(job2.StatusCode, 'Succeeded', job2.StatusMessage);
  // The multipart ETag was checked (no "could not be checked" note).
  assert.equal(job2.StatusMessage, 'Succeeded');
  assert.equal(job2.ArchiveTreeEtag, treeEtag(multi));
  assert.ok((await archiveBytes(job2.ArchiveId)).equals(multi));
  ctx.diagnostic(`${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('radosgw: push in one PUT and as a multipart upload; ETags as the store computes them', async () => {
  const small = pattern(MIB + 3, 23);
  const smallId = await t.client.archiveId(vault, small);
  const job = await runJob({ Type: 'push-to-oss', ArchiveId: smallId, OSSHost: 'ceph.test', Bucket: 'target', Object: 'dir/small.bin' });
  assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
  assert.equal(job.StatusMessage, 'Succeeded');
  assert.ok((await getObject('target', 'dir/small.bin')).equals(small));
  assert.equal((await client.send(new HeadObjectCommand({ Bucket: 'target', Key: 'dir/small.bin' }))).ETag, `"${md5(small)}"`);

  const big = pattern(12 * MIB + 7, 24);
  const bigId = await t.client.archiveId(vault, big);
  const job2 = await runJob({ Type: 'push-to-oss', ArchiveId: bigId, OSSHost: 'ceph-small-parts.test', Bucket: 'target', Object: 'dir/multi.bin' });
  assert.equal(job2.StatusCode, 'Succeeded', job2.StatusMessage);
  assert.equal(job2.StatusMessage, 'Succeeded');
  assert.ok((await getObject('target', 'dir/multi.bin')).equals(big));
  const parts = [big.subarray(0, 5 * MIB), big.subarray(5 * MIB, 10 * MIB), big.subarray(10 * MIB)].map(md5);
  assert.equal((await client.send(new HeadObjectCommand({ Bucket: 'target', Key: 'dir/multi.bin' }))).ETag, `"${multipartEtag(parts)}"`);
  const open = await client.send(new ListMultipartUploadsCommand({ Bucket: 'target' }));
  assert.equal(open.Uploads?.length ?? 0, 0, 'no multipart upload left open');
});

test('radosgw: missing key, missing bucket', async () => {
  const noKey = await runJob({ Type: 'pull-from-oss', OSSHost: 'ceph.test', Bucket: 'source', Object: 'nope.bin' });
  assert.equal(noKey.StatusCode, 'Failed');
  assert.match(noKey.StatusMessage, /the object does not exist at ceph\.test \(NoSuchKey\)/);
  const id = await t.client.archiveId(vault, pattern(100));
  const noBucket = await runJob({ Type: 'push-to-oss', ArchiveId: id, OSSHost: 'ceph.test', Bucket: 'nobucket', Object: 'x' });
  assert.equal(noBucket.StatusCode, 'Failed');
  assert.match(noBucket.StatusMessage, /the bucket does not exist at ceph\.test \(NoSuchBucket\)/);
});

test(`radosgw: an object of ${BIG} bytes is pulled into ${Math.ceil(BIG / segmentBytesFor(BIG))} blobs and pushed back intact`, { timeout: HUGE ? 90 * 60_000 : 15 * 60_000 }, async (ctx) => {
  let mark = Date.now();
  const phase = (name: string) => {
    ctx.diagnostic(`${name}: ${((Date.now() - mark) / 1000).toFixed(1)} s`);
    mark = Date.now();
  };
  // Upload: a deterministic stream, hashed while it is generated (never on disk here).
  const source = generatedData(BIG, 77);
  const upload = new Upload({ client, params: { Bucket: 'source', Key: 'big.bin', Body: source.stream }, partSize: UPLOAD_PART, queueSize: 3 });
  await upload.done();
  const expected = await source.checksums;
  assert.equal(expected.size, BIG);
  const head = await client.send(new HeadObjectCommand({ Bucket: 'source', Key: 'big.bin' }));
  assert.equal(head.ContentLength, BIG);
  assert.match(head.ETag ?? '', new RegExp(`-${Math.ceil(BIG / UPLOAD_PART)}"$`));
  phase('upload with lib-storage');

  const pulled = await runJob({ Type: 'pull-from-oss', OSSHost: 'ceph.test', Bucket: 'source', Object: 'big.bin' }, 30 * 60_000);
  assert.equal(pulled.StatusCode, 'Succeeded', pulled.StatusMessage);
  assert.equal(pulled.StatusMessage, 'Succeeded', 'the multipart ETag was checked');
  assert.equal(pulled.ArchiveSizeInBytes, BIG);
  assert.equal(pulled.ArchiveTreeEtag, expected.treeEtag);
  const meta = await t.client.get(`/vaults/${vault}/archives/${pulled.ArchiveId}/meta`);
  assert.equal(meta.json.ArchiveSizeInBytes, BIG);
  assert.equal(meta.json.ArchiveTreeEtag, expected.treeEtag);
  phase('pull-from-oss');

  const pushed = await runJob({ Type: 'push-to-oss', ArchiveId: pulled.ArchiveId, OSSHost: 'ceph.test', Bucket: 'target', Object: 'big-copy.bin' }, 30 * 60_000);
  assert.equal(pushed.StatusCode, 'Succeeded', pushed.StatusMessage);
  assert.equal(pushed.StatusMessage, 'Succeeded');
  assert.equal(pushed.ArchiveSizeInBytes, BIG);
  assert.equal(pushed.ArchiveTreeEtag, expected.treeEtag);
  phase('push-to-oss');

  // Read the copy back as a stream: same size, same MD5 as the generated bytes.
  const copy = await client.send(new GetObjectCommand({ Bucket: 'target', Key: 'big-copy.bin' }));
  assert.equal(copy.ContentLength, BIG);
  const hash = createHash('md5');
  let size = 0;
  for await (const chunk of copy.Body as Readable) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).byteLength;
  }
  assert.equal(size, BIG);
  assert.equal(hash.digest('hex'), expected.md5);
  phase('read back');
});
