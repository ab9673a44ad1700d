// SHA-256 leaves for blobs stored before they existed (docs/glacier.md, "Backfill of
// SHA-256 leaves"), on the file store and on s3rver. "Old" blobs are made by removing the
// SHA-256 leaves a current server writes. Checked: Complete, DescribeJob and inventories
// compute missing leaves on demand (never a null tree hash for intact data); a Glacier
// retrieval job adds them; `oas-server backfill` adds them (per vault or everywhere),
// reports a damaged blob instead of blessing it, and resumes without re-reading; the
// background pass does the same at start-up; bad usage exits 2.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand, CreateVaultCommand, DescribeJobCommand, GetJobOutputCommand, InitiateJobCommand,
  InitiateMultipartUploadCommand, UploadArchiveCommand, UploadMultipartPartCommand, type GlacierClient,
} from '@aws-sdk/client-glacier';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { treeHash } from '@oas/sdk';
import { backfillCommand } from '../src/backfill/command.js';
import type { CreateServerOptions } from '../src/app.js';
import { ConfigError, resolveOptions } from '../src/config.js';
import { openBlobs, parseBlobsUri } from '../src/store/open.js';
import type { BlobStore } from '../src/store/blob/types.js';
import { runCli } from './helpers/cli.js';
import { glacierJsClient } from './helpers/glacier-clients.js';
import { startS3rver, type S3TestServer } from './helpers/s3rver.js';
import { testS3Client } from './helpers/s3-client.js';
import { ROOT_ID, ROOT_SECRET, startServer, tempDir, type TestServer } from './helpers/server.js';

const MIB = 1024 * 1024;
const BUCKET = 'backfill';

function data(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 29 + seed * 7 + (i >> 20) * 13) & 0xff;
  return out;
}

/** The SHA-256 of each started MiB. */
function sha256Leaves(bytes: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += MIB) out.push(createHash('sha256').update(bytes.subarray(at, at + MIB)).digest());
  return Buffer.concat(out);
}

async function bytesOf(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Where the blobs live, and how a test makes a blob "old" (no SHA-256 leaves) or damaged. */
interface Place {
  name: string;
  /** Server options selecting the blob store (the data dir's SQLite holds the metadata). */
  options(dataDir: string): Partial<CreateServerOptions>;
  /** The same as command-line options. */
  args(dataDir: string): string[];
  forget(dataDir: string, key: string): Promise<void>;
  /** Flips a byte of the stored data (the MD5 leaves stay as written). */
  damage(dataDir: string, key: string): Promise<void>;
}

const filePlace: Place = {
  name: 'file store',
  options: (dir) => ({ blobsUri: `file:${dir}/blobs` }),
  args: (dir) => ['--blobs', `file:${dir}/blobs`],
  forget: (dir, key) => rm(join(dir, 'blobs', 'blobs', key.slice(0, 2), `${key}.sha256.leaves`)),
  async damage(dir, key) {
    const f = await open(join(dir, 'blobs', 'blobs', key.slice(0, 2), key), 'r+');
    try {
      const b = Buffer.alloc(1);
      await f.read(b, 0, 1, 5);
      b[0] = b[0]! ^ 0x40;
      await f.write(b, 0, 1, 5);
    } finally {
      await f.close();
    }
  },
};

function s3Place(s3: S3TestServer): Place {
  const client = testS3Client(s3);
  after(() => client.destroy());
  const s3Args = ['--s3-endpoint', s3.endpoint, '--s3-region', s3.region, '--s3-access-key-id', s3.accessKeyId,
    '--s3-secret-access-key', s3.secretAccessKey, '--s3-force-path-style'];
  const prefix = (dir: string) => dir.split('/').pop()!;
  return {
    name: 's3rver',
    options: (dir) => ({
      blobsUri: `s3://${BUCKET}/${prefix(dir)}`, s3Endpoint: s3.endpoint, s3Region: s3.region,
      s3AccessKeyId: s3.accessKeyId, s3SecretAccessKey: s3.secretAccessKey, s3ForcePathStyle: true,
    }),
    args: (dir) => ['--blobs', `s3://${BUCKET}/${prefix(dir)}`, ...s3Args],
    async forget(dir, key) {
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${prefix(dir)}/leaves-sha256/${key}` }));
    },
    async damage(dir, key) {
      const objectKey = `${prefix(dir)}/blobs/${key}`;
      const res = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: objectKey }));
      const bytes = Buffer.from(await res.Body!.transformToByteArray());
      bytes[5] = bytes[5]! ^ 0x40;
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: objectKey, Body: bytes, ContentLength: bytes.length }));
    },
  };
}

async function sha256LeavesOf(blobs: BlobStore, key: string): Promise<Buffer | null> {
  try {
    return await blobs.readLeaves(key, 0, undefined, 'sha256');
  } catch {
    return null;
  }
}

async function scenario(place: Place): Promise<void> {
  const dir = await tempDir('oas-backfill-');
  after(() => rm(dir, { recursive: true, force: true }));
  let ts: TestServer | null = await startServer({ dataDir: dir, backfill: false, ...place.options(dir) });
  let glacier: GlacierClient = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET });
  const server = () => ts!.server;
  assert.equal(ts.server.backfiller, null, '--backfill off');
  const segmentsOf = async (archiveId: string) => (await server().meta.getSegments(archiveId)).map((s) => s.blobKey);
  try {
    await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: 'old-photos' }));
    await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: 'other' }));
    const upload = async (vaultName: string, body: Buffer) =>
      (await glacier.send(new UploadArchiveCommand({ accountId: '-', vaultName, body }))).archiveId!;
    const a = data(3 * MIB + 5, 1);
    const damaged = data(2 * MIB, 2);
    const e = data(MIB + 1, 3);
    const aId = await upload('old-photos', a);
    const damagedId = await upload('old-photos', damaged);
    const eId = await upload('other', e);

    // A multipart upload whose parts are "old": Complete computes their leaves on demand.
    const c = data(2 * MIB + 100, 4);
    const init = await glacier.send(new InitiateMultipartUploadCommand({ accountId: '-', vaultName: 'old-photos', partSize: String(MIB) }));
    for (let start = 0; start < c.length; start += MIB) {
      const part = c.subarray(start, start + MIB);
      await glacier.send(new UploadMultipartPartCommand({
        accountId: '-', vaultName: 'old-photos', uploadId: init.uploadId!, range: `bytes ${start}-${start + part.length - 1}/*`, body: part,
      }));
    }
    const partKeys = (await server().meta.allParts(init.uploadId!)).map((p) => p.blobKey);
    for (const k of partKeys) await place.forget(dir, k);
    const done = await glacier.send(new CompleteMultipartUploadCommand({
      accountId: '-', vaultName: 'old-photos', uploadId: init.uploadId!, archiveSize: String(c.length), checksum: treeHash(c),
    }));
    assert.equal(done.checksum, treeHash(c));
    // An upload left open, with one "old" part.
    const d = data(MIB, 5);
    const open = await glacier.send(new InitiateMultipartUploadCommand({ accountId: '-', vaultName: 'old-photos', partSize: String(MIB) }));
    await glacier.send(new UploadMultipartPartCommand({ accountId: '-', vaultName: 'old-photos', uploadId: open.uploadId!, range: `bytes 0-${MIB - 1}/*`, body: d }));
    const dKey = (await server().meta.allParts(open.uploadId!))[0]!.blobKey;
    await place.forget(dir, dKey);

    const [aKey] = await segmentsOf(aId);
    const [damagedKey] = await segmentsOf(damagedId);
    const [eKey] = await segmentsOf(eId);
    for (const k of [aKey!, damagedKey!, eKey!]) await place.forget(dir, k);
    await place.damage(dir, damagedKey!);
    assert.equal(await sha256LeavesOf(server().blobs, aKey!), null, 'A is "old" now');

    // A Glacier retrieval job adds the leaves (checked before anything asks for the hash).
    const vault = (await server().meta.vaultIdsNamed('old-photos'))[0]!;
    const job = await glacier.send(new InitiateJobCommand({ accountId: '-', vaultName: 'old-photos', jobParameters: { Type: 'archive-retrieval', ArchiveId: aId } }));
    for (let i = 0; i < 400; i++) {
      const rec = await server().meta.getJob(vault, job.jobId!, Date.now());
      if (rec?.status !== 'InProgress') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok((await sha256LeavesOf(server().blobs, aKey!))?.equals(sha256Leaves(a)), 'the retrieval job added A\'s leaves');
    const described = await glacier.send(new DescribeJobCommand({ accountId: '-', vaultName: 'old-photos', jobId: job.jobId! }));
    assert.equal(described.StatusCode, 'Succeeded');
    assert.equal(described.ArchiveSHA256TreeHash, treeHash(a));
    assert.equal(described.SHA256TreeHash, treeHash(a));
    // GetJobOutput computes missing leaves before its first byte, for its x-amz-sha256-tree-hash.
    await place.forget(dir, aKey!);
    const output = await glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName: 'old-photos', jobId: job.jobId! }));
    assert.equal(output.checksum, treeHash(a));
    assert.ok((await bytesOf(output.body)).equals(a));
    const ranged = await glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName: 'old-photos', jobId: job.jobId!, range: `bytes=${MIB}-${2 * MIB - 1}` }));
    assert.equal(ranged.checksum, treeHash(a.subarray(MIB, 2 * MIB)));
    await bytesOf(ranged.body);

    // An inventory computes E's hash on demand; the damaged archive's stays null (never blessed).
    await place.forget(dir, aKey!);
    const inv = await glacier.send(new InitiateJobCommand({ accountId: '-', vaultName: 'old-photos', jobParameters: { Type: 'inventory-retrieval' } }));
    let invState = await glacier.send(new DescribeJobCommand({ accountId: '-', vaultName: 'old-photos', jobId: inv.jobId! }));
    for (let i = 0; i < 400 && !invState.Completed; i++) {
      await new Promise((r) => setTimeout(r, 25));
      invState = await glacier.send(new DescribeJobCommand({ accountId: '-', vaultName: 'old-photos', jobId: inv.jobId! }));
    }
    assert.equal(invState.StatusCode, 'Succeeded', `the inventory job: ${invState.StatusMessage}`);
    const out = await glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName: 'old-photos', jobId: inv.jobId! }));
    const list = (JSON.parse((await bytesOf(out.body)).toString()) as { ArchiveList: { ArchiveId: string; SHA256TreeHash: string | null }[] }).ArchiveList;
    const hashOf = (id: string) => list.find((x) => x.ArchiveId === id)?.SHA256TreeHash;
    assert.equal(hashOf(aId), treeHash(a));
    assert.equal(hashOf(done.archiveId!), treeHash(c));
    assert.equal(hashOf(damagedId), null);
    assert.equal(await sha256LeavesOf(server().blobs, damagedKey!), null, 'no leaves from damaged bytes');

    await place.forget(dir, aKey!); // "old" again, for the command
    glacier.destroy();
    await ts.stop();
    ts = null;

    // The command, per vault, then everywhere; the damaged blob is reported; a rerun reads nothing.
    const lines: string[] = [];
    const run = (...extra: string[]) => backfillCommand(['--data-dir', dir, ...place.args(dir), ...extra], {}, (l) => lines.push(l));
    assert.equal(await run('--vault', 'other'), 0);
    assert.match(lines.join('\n'), /added leaves to 1 \(/);
    const blobs = await openBlobs(parseBlobsUri(place.options(dir).blobsUri, { pgPoolSize: 1, s3ForcePathStyle: false, ...place.options(dir), dataDir: dir }));
    try {
      assert.ok((await sha256LeavesOf(blobs, eKey!))?.equals(sha256Leaves(e)));
      assert.equal(await sha256LeavesOf(blobs, aKey!), null, '--vault other leaves old-photos alone');
      lines.length = 0;
      assert.equal(await run(), 1);
      const text = lines.join('\n');
      assert.match(text, /added leaves to 2 \(/, text);
      assert.match(text, new RegExp(`${damagedKey}\tarchive ${damagedId}\tdamaged\t.*do not match their stored checksum`));
      assert.ok((await sha256LeavesOf(blobs, aKey!))?.equals(sha256Leaves(a)));
      assert.ok((await sha256LeavesOf(blobs, dKey))?.equals(sha256Leaves(d)), 'parts of open uploads too');
      assert.equal(await sha256LeavesOf(blobs, damagedKey!), null);
      lines.length = 0;
      assert.equal(await run(), 1);
      assert.match(lines.join('\n'), /added leaves to 0 \(0 bytes read\)/, 'resumes: nothing done twice');
      await place.forget(dir, eKey!);
    } finally {
      await blobs.close();
    }

    // The background pass at start-up.
    ts = await startServer({ dataDir: dir, backfill: true, backfillDelayMs: 0, ...place.options(dir) });
    glacier = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET });
    const report = await ts.server.backfiller!.finished();
    assert.equal(report?.added, 1);
    assert.deepEqual(report?.failed.map((f) => [f.blobKey, f.kind]), [[damagedKey, 'damaged']]);
    assert.ok((await sha256LeavesOf(ts.server.blobs, eKey!))?.equals(sha256Leaves(e)));
  } finally {
    glacier.destroy();
    await ts?.stop();
  }
}

test('backfill on the file store: on demand, by a retrieval job, by the command and in the background', { timeout: 120_000 }, async () => {
  await scenario(filePlace);
});

test('backfill on s3rver', { timeout: 180_000 }, async (t) => {
  const s3 = await startS3rver();
  t.after(() => s3.stop());
  await s3.createBucket(BUCKET);
  await scenario(s3Place(s3));
});

test('oas-server backfill: bad usage exits 2, a missing data dir exits 2', { timeout: 60_000 }, async () => {
  const dir = await tempDir('oas-backfill-usage-');
  after(() => rm(dir, { recursive: true, force: true }));
  const noName = await runCli(['backfill', '--data-dir', dir, '--vault']);
  assert.equal(noName.code, 2, noName.stderr);
  assert.match(noName.stderr, /--vault needs a vault name/);
  const noData = await runCli(['backfill', '--data-dir', join(dir, 'nothing')]);
  assert.equal(noData.code, 2, noData.stderr);
  assert.match(noData.stderr, /no server data/);
});

test('--backfill on|off and OAS_BACKFILL; on by default', () => {
  assert.equal(resolveOptions({}, {}).backfill, true);
  assert.equal(resolveOptions({ backfill: 'off' }, {}).backfill, false);
  assert.equal(resolveOptions({}, { OAS_BACKFILL: 'off' }).backfill, false);
  assert.equal(resolveOptions({ backfill: 'on' }, { OAS_BACKFILL: 'off' }).backfill, true, 'the flag wins');
  assert.throws(() => resolveOptions({ backfill: 'maybe' }, {}), ConfigError);
});
