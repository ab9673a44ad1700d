// push-to-oss reads every request body twice (the Content-MD5 pass, then the bytes sent),
// both through the verifying reader: a leaf that rots between the two passes stops the
// upload before its bad bytes leave the server, the job fails naming the leaf, and no
// object appears in the target bucket (s3rver in process). The rot is simulated by a blob
// store that flips a byte from the second read of a blob on.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Transform, pipeline } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { openFileBlobStore } from '../src/store/blob/file.js';
import type { BlobStore } from '../src/store/blob/types.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { startS3rver, type S3TestServer } from './helpers/s3rver.js';
import { testS3Client } from './helpers/s3-client.js';
import { startServer, tempDir, type TestServer } from './helpers/server.js';

const MIB = 1024 * 1024;
/** The byte of every blob that rots (in its second leaf). */
const ROT_AT = MIB + 5;

let s3: S3TestServer;
let client: S3Client;
let t: TestServer;
let vault: string;
const reads = new Map<string, number>();

/** A file blob store whose blobs read back with one byte flipped from their second read on. */
function rottingStore(inner: BlobStore): BlobStore {
  return {
    removeLeftovers: () => inner.removeLeftovers(),
    create: (options) => inner.create(options),
    addLeaves: (key, family, digests) => inner.addLeaves(key, family, digests),
    read(key, start = 0, end, options) {
      const n = (reads.get(key) ?? 0) + 1;
      reads.set(key, n);
      const source = inner.read(key, start, end, options);
      if (n < 2) return source;
      let at = start;
      const flip = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          if (ROT_AT >= at && ROT_AT < at + chunk.length) {
            chunk = Buffer.from(chunk);
            chunk[ROT_AT - at] = chunk[ROT_AT - at]! ^ 0x10;
          }
          at += chunk.length;
          cb(null, chunk);
        },
      });
      return pipeline(source, flip, () => undefined);
    },
    readLeaves: (key, first, count, family) => inner.readLeaves(key, first, count, family),
    size: (key) => inner.size(key),
    delete: (key) => inner.delete(key),
    keys: () => inner.keys(),
    close: () => inner.close(),
  };
}

before(async () => {
  s3 = await startS3rver();
  await s3.createBucket('target');
  client = testS3Client(s3);
  const dataDir = await tempDir();
  const blobs = rottingStore(await openFileBlobStore(join(dataDir, 'blobs')));
  t = await startServer({
    dataDir, blobs,
    ossHosts: {
      's3.test': {
        accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, addressing: 'path', region: s3.region,
        endpoint: s3.endpoint, partSize: 5 * MIB, retryBaseMs: 5,
      },
    },
  });
  vault = await t.client.vaultId('rot');
});

after(async () => {
  await t?.close();
  client?.destroy();
  await s3?.stop();
});

async function objectExists(key: string): Promise<boolean> {
  return client.send(new HeadObjectCommand({ Bucket: 'target', Key: key })).then(() => true, (err: { $metadata?: { httpStatusCode?: number } }) => {
    if (err.$metadata?.httpStatusCode === 404) return false;
    throw err;
  });
}

/** The object's bytes once s3rver has finished writing what arrived (its size stops changing); null when there is none. */
async function objectBytes(key: string): Promise<Buffer | null> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const head = await client.send(new HeadObjectCommand({ Bucket: 'target', Key: key })).catch(() => null);
    if (!head) return null;
    if (head.ContentLength === last) break;
    last = head.ContentLength ?? -1;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const res = await client.send(new GetObjectCommand({ Bucket: 'target', Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

async function push(data: Buffer, object: string) {
  const archiveId = await t.client.archiveId(vault, data);
  const jobId = await t.client.jobId(vault, { Type: 'push-to-oss', ArchiveId: archiveId, OSSHost: 's3.test', Bucket: 'target', Object: object });
  return t.client.waitJob(vault, jobId, 120_000);
}

test('one PUT: bytes that rot after the checksum pass are not sent, the job fails, no complete object', async () => {
  const data = pattern(3 * MIB + 7, 41);
  const job = await push(data, 'single.bin');
  assert.equal(job.StatusCode, 'Failed');
  assert.match(job.StatusMessage, /Data corruption detected: leaf 1 \(1 MiB\) of archive [0-9A-F]{32} does not match its stored checksum/);
  // The PUT was cut off before the bad leaf. S3 refuses a body shorter than its
  // Content-Length; s3rver keeps what arrived, which can only be checked bytes.
  const kept = await objectBytes('single.bin');
  if (kept) {
    assert.ok(kept.length <= MIB, `only the leaf before the bad one may have arrived (${kept.length} bytes)`);
    assert.ok(kept.equals(data.subarray(0, kept.length)));
  }
});

test('multipart: a part whose bytes rot after its checksum pass is not sent, the upload is dropped, no object', async () => {
  const job = await push(pattern(11 * MIB, 42), 'multi.bin');
  assert.equal(job.StatusCode, 'Failed');
  assert.match(job.StatusMessage, /Data corruption detected: leaf 1 \(1 MiB\) of bytes 0-5242879 of archive/);
  assert.equal(await objectExists('multi.bin'), false);
});
