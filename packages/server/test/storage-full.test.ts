// A full disk is the server's problem, told at once: on a 150 MiB tmpfs the test mounts
// itself (root only, as CI runs), an upload that runs out of space mid-body, a small write
// on a disk filled to the last block and an upload that would cross --min-free all answer
// 507 StorageFull (type server) and close the connection; nothing partial stays behind;
// reads, lists, deletes and jobs go on; freed space is used again without a restart.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ListObjectsV2Command, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { hashBuffer, isId } from '@oas/sdk';
import { StorageFullError, isStorageFull } from '../src/store/storage-full.js';
import type { FreeReserve } from '../src/util/reserve.js';
import { assertError } from './helpers/assert.js';
import type { Resp } from './helpers/client.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { parseHeaderLines, type RawResp } from './helpers/raw.js';
import { testS3Client } from './helpers/s3-client.js';
import { startS3rver } from './helpers/s3rver.js';
import { startServer, tempDir, type TestServer } from './helpers/server.js';

const MIB = 1048576;
const SIZE = 80 * MIB;
const DATA = randomBytes(SIZE);
const HASHES = hashBuffer(DATA);

let mnt = '';
let mounted = false;
let t: TestServer | undefined;

before(async () => {
  if (process.getuid?.() !== 0) {
    throw new Error('storage-full.test.ts mounts a tmpfs and must run as root (CI does); run it with sudo');
  }
  mnt = await tempDir('oas-full-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=150m', 'tmpfs', mnt]);
  mounted = true;
});

after(async () => {
  await t?.stop();
  if (mounted) execFileSync('umount', [mnt]);
  if (mnt) await rmdir(mnt).catch(() => undefined);
});

const dataDir = () => join(mnt, 'data');
const tmpFiles = () => readdir(join(dataDir(), 'blobs', 'tmp'));

/** (Re)starts the server on the tmpfs, always on the embedded stores. */
async function restart(minFree: FreeReserve): Promise<TestServer> {
  await t?.stop();
  const dir = dataDir();
  await mkdir(dir, { recursive: true });
  t = await startServer({ dataDir: dir, metadataUri: `sqlite:${join(dir, 'meta.sqlite')}`, blobsUri: `file:${join(dir, 'blobs')}`, minFree });
  return t;
}

/**
 * Writes `data` on a raw socket without waiting for anything, and reads until the server
 * closes the connection (bounded: 15 s). The answer must come, and the connection end,
 * without the client having to stop sending.
 */
function untilClosed(port: number, data: Buffer): Promise<RawResp> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(data, () => undefined));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server did not close the connection within 15 s'));
    }, 15_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined); // a reset after the answer is how a refused body may end
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      if (split < 0) {
        reject(new Error(`connection closed without an answer: ${JSON.stringify(all.toString('latin1').slice(0, 200))}`));
        return;
      }
      const lines = all.subarray(0, split).toString('latin1').split('\r\n');
      resolve({ status: Number(lines[0]!.split(' ')[1]), headers: parseHeaderLines(lines.slice(1)), head: lines.join('\r\n'), body: all.subarray(split + 4), interim: [] });
    });
  });
}

/** An upload over a raw socket: the whole body written at once, or (headOnly) none of it. */
function rawUpload(s: TestServer, path: string, headers: Array<[string, string]>, body: Buffer, headOnly = false): Promise<RawResp> {
  const head = Buffer.from(s.client.rawHead('POST', path, [...headers, ['Content-Length', String(body.length)]]), 'latin1');
  return untilClosed(s.port, headOnly ? head : Buffer.concat([head, body]));
}

function assertStorageFull(res: RawResp | Resp): void {
  const json = 'json' in res ? res.json : JSON.parse(res.body.toString('utf8'));
  assert.equal(res.status, 507, JSON.stringify(json));
  assert.equal(json.code, 'StorageFull');
  assert.equal(json.type, 'server');
  assert.match(json.message, /storage space/);
  assert.equal(res.headers.connection, 'close');
}

/** Fills the file system to its last block; returns the file to delete to undo it. */
function fill(path: string): string {
  const fd = openSync(path, 'w');
  try {
    for (const chunk of [Buffer.alloc(MIB, 1), Buffer.alloc(4096, 1)]) {
      for (let i = 0; i < 200; i++) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

const archivePath = (vaultId: string) => `/vaults/${vaultId}/archives`;
const uploadHeaders: Array<[string, string]> = [['x-oas-content-etag', HASHES.etag], ['x-oas-tree-etag', HASHES.treeEtag]];

test('the errors that mean "no room" are recognised, wherever they come from', () => {
  assert.ok(isStorageFull(Object.assign(new Error('no space left on device, write'), { code: 'ENOSPC' })));
  assert.ok(isStorageFull(Object.assign(new Error('disk quota exceeded'), { code: 'EDQUOT' })));
  assert.ok(isStorageFull(new StorageFullError('reserve')));
  assert.ok(isStorageFull(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ENOSPC' }) })));
  // A real SQLITE_FULL: a database not allowed to grow.
  const db = new Database(':memory:');
  try {
    db.exec('CREATE TABLE t (x BLOB)');
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    let err: unknown;
    try { db.prepare('INSERT INTO t VALUES (?)').run(Buffer.alloc(65536)); } catch (e) { err = e; }
    assert.equal((err as { code?: string }).code, 'SQLITE_FULL');
    assert.ok(isStorageFull(err));
  } finally {
    db.close();
  }
  // The S3 store's own backends: radosgw and AWS quotas, MinIO's free drive threshold, a size limit.
  for (const [name, status] of [['QuotaExceeded', 403], ['XMinioStorageFull', 507], ['EntityTooLarge', 400], ['XMinioAdminBucketQuotaExceeded', 400], ['SlowDown', 507]] as const) {
    const err = new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });
    assert.ok(isStorageFull(err), name);
  }
  for (const err of [new Error('x'), Object.assign(new Error('x'), { code: 'EACCES' }), new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } })]) {
    assert.equal(isStorageFull(err), false, err.message);
  }
});

test('running out of space mid-body: 507 StorageFull at once, connection closed, no temp file', async () => {
  const s = await restart({ bytes: 0 });
  const vault = await s.client.vaultId('full');
  const first = await s.client.uploadArchive(vault, DATA);
  assert.equal(first.status, 201, first.text);
  // 80 MiB more do not fit in the 150 MiB: the client sends it all without waiting.
  const res = await rawUpload(s, archivePath(vault), uploadHeaders, DATA);
  assertStorageFull(res);
  assert.ok(isId(res.headers['x-oas-request-id']));
  assert.deepEqual(await tmpFiles(), [], 'the temporary blob is removed');
  const list = await s.client.get(`/vaults/${vault}`);
  assert.equal(list.status, 200, list.text);
  assert.equal(list.json.NumberOfArchives, 1);
});

test('a disk full to the last block: small writes get 507, reads and lists still work', async () => {
  const s = t!;
  const filler = fill(join(mnt, 'filler'));
  try {
    const created = await s.client.createVault('one-more');
    assertError(created, 507, 'StorageFull');
    assert.equal(created.headers.connection, 'close');
    const vaults = await s.client.get('/vaults');
    assert.equal(vaults.status, 200, vaults.text);
    assert.deepEqual(vaults.json.VaultList.map((v: { VaultName: string }) => v.VaultName), ['full']);
    const uploads = await s.client.get(`/vaults/${vaults.json.VaultList[0].VaultId}/multipart-uploads`);
    assert.equal(uploads.status, 200, uploads.text);
  } finally {
    await rm(filler);
  }
  // Space back: the same request works, same process.
  const created = await s.client.createVault('one-more');
  assert.equal(created.status, 201, created.text);
});

test('--min-free: an upload that would cross the reserve is refused before its body; the rest goes on; freed space counts at once', async () => {
  // About 65 MiB are free after the first test's archive; 40 MiB must stay free.
  const s = await restart({ bytes: 40 * MIB });
  const vault = String((await s.client.get('/vaults')).json.VaultList.find((v: { VaultName: string }) => v.VaultName === 'full').VaultId);
  const big = String((await s.client.get(`/vaults/${vault}`)).json.NumberOfArchives);
  assert.equal(big, '1');

  // No body sent at all: the answer cannot have waited for it.
  const single = await rawUpload(s, archivePath(vault), uploadHeaders, DATA, true);
  assertStorageFull(single);
  assert.match(JSON.parse(single.body.toString()).message, /--min-free 40M/);
  assert.deepEqual(await tmpFiles(), [], 'no temporary blob was even created');

  const init = await s.client.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads`, headers: { 'x-oas-part-size': 32 * MIB } });
  assert.equal(init.status, 201, init.text);
  const uploadId = String(init.headers['x-oas-multipart-upload-id']);
  const part = DATA.subarray(0, 32 * MIB);
  const ph = hashBuffer(part);
  const head = s.client.rawHead('PUT', `/vaults/${vault}/multipart-uploads/${uploadId}`, [
    ['Content-Range', `bytes 0-${part.length - 1}/*`], ['x-oas-content-etag', ph.etag], ['x-oas-tree-etag', ph.treeEtag], ['Content-Length', String(part.length)],
  ]);
  assertStorageFull(await untilClosed(s.port, Buffer.from(head, 'latin1')));
  assert.deepEqual(await tmpFiles(), []);

  // Below the reserve: small uploads, jobs, lists and deletes work.
  const small = DATA.subarray(0, 2 * MIB);
  const smallId = await s.client.archiveId(vault, small, 'small');
  const retrieval = await s.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: smallId });
  const inventory = await s.client.jobId(vault, { Type: 'inventory-retrieval' });
  assert.equal((await s.client.waitJob(vault, retrieval)).StatusCode, 'Succeeded');
  assert.equal((await s.client.waitJob(vault, inventory)).StatusCode, 'Succeeded');
  const out = await s.client.get(`/vaults/${vault}/jobs/${retrieval}/output`);
  assert.equal(out.status, 200);
  assert.ok(out.body.equals(small));
  const inv = await s.client.get(`/vaults/${vault}/jobs/${inventory}/output`);
  assert.equal(inv.status, 200, inv.text);
  assert.equal(inv.json.ArchiveList.length, 2);
  const bigId = inv.json.ArchiveList.find((a: { Size: number }) => a.Size === SIZE).ArchiveId;

  // Deleting the big archive frees its space (once purged): the refused upload now fits.
  const deleted = await s.client.del(`/vaults/${vault}/archives/${bigId}`);
  assert.equal(deleted.status, 204, deleted.text);
  await s.server.runMaintenance();
  const again = await s.client.uploadArchive(vault, DATA);
  assert.equal(again.status, 201, again.text);
  assert.deepEqual(await tmpFiles(), []);
});

test('blobs on a full disk, metadata elsewhere: retrievals still run; an inventory fails with a message that says why', async () => {
  await t?.stop();
  t = undefined;
  const metaDir = await tempDir('oas-full-meta-');
  const blobsDir = join(mnt, 'blobs-only');
  let server: TestServer | undefined;
  let filler: string | undefined;
  try {
    server = await startServer({ dataDir: metaDir, metadataUri: `sqlite:${join(metaDir, 'meta.sqlite')}`, blobsUri: `file:${blobsDir}`, minFree: { bytes: 0 } });
    const vault = await server.client.vaultId('blobs-full');
    const small = DATA.subarray(0, MIB + 3);
    const archiveId = await server.client.archiveId(vault, small);
    filler = fill(join(mnt, 'filler'));

    assertError(await server.client.uploadArchive(vault, small), 507, 'StorageFull');
    assert.equal((await server.client.createVault('meta-still-fine')).status, 201, 'metadata has room');
    const retrieval = await server.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: archiveId });
    assert.equal((await server.client.waitJob(vault, retrieval)).StatusCode, 'Succeeded');
    const out = await server.client.get(`/vaults/${vault}/jobs/${retrieval}/output`);
    assert.equal(out.status, 200);
    assert.ok(out.body.equals(small));
    const inventory = await server.client.waitJob(vault, await server.client.jobId(vault, { Type: 'inventory-retrieval' }));
    assert.equal(inventory.StatusCode, 'Failed');
    assert.match(inventory.StatusMessage, /ran out of storage space/);
    assert.deepEqual(await readdir(join(blobsDir, 'tmp')), []);
  } finally {
    if (filler) await rm(filler);
    await server?.close();
  }
});

test('S3 blobs: the backend\'s own "full" (MinIO\'s free drive threshold, a radosgw quota) is 507 StorageFull too, nothing left', async () => {
  const s3 = await startS3rver();
  const proxy = await startFaultProxy(s3.endpoint);
  const s3Client = testS3Client(s3);
  const dir = await tempDir('oas-full-s3-');
  let server: TestServer | undefined;
  try {
    await s3.createBucket('full');
    server = await startServer({
      dataDir: dir, metadataUri: `sqlite:${join(dir, 'meta.sqlite')}`, minFree: { bytes: 0 },
      blobsUri: `s3://full/node?endpoint=${encodeURIComponent(proxy.endpoint)}&path-style=true`,
      s3AccessKeyId: s3.accessKeyId, s3SecretAccessKey: s3.secretAccessKey, s3Region: s3.region,
    });
    const vault = await server.client.vaultId('s3-full');
    // Writes of blob data fail as the backend would; markers and deletes go through.
    proxy.rule = ({ method, url }) => (method === 'PUT' && url.includes('/blobs/') ? 's3-error' : 'pass');
    const data = DATA.subarray(0, 3 * MIB);
    for (const reply of [proxy.errorReply, { status: 403, code: 'QuotaExceeded', message: 'Quota exceeded.' }]) {
      proxy.errorReply = reply;
      const res = await server.client.uploadArchive(vault, data);
      assertError(res, 507, 'StorageFull');
      assert.equal(res.headers.connection, 'close');
    }
    assert.ok(proxy.seen.some((r) => r.fault === 's3-error'), 'the backend was asked and refused');
    const left = await s3Client.send(new ListObjectsV2Command({ Bucket: 'full', Prefix: 'node/' }));
    assert.deepEqual((left.Contents ?? []).map((o) => o.Key), [], 'no object of the refused writes is left');
    proxy.rule = () => 'pass';
    assert.equal((await server.client.uploadArchive(vault, data)).status, 201, 'the backend has room again');
  } finally {
    await server?.close();
    s3Client.destroy();
    await proxy.stop();
    await s3.stop();
  }
});

test('--min-free holds for OSS pulls too: a pull that would cross it fails before it copies a byte', async () => {
  const s3 = await startS3rver();
  const s3Client = testS3Client(s3);
  const dir = join(mnt, 'pull');
  let server: TestServer | undefined;
  try {
    await s3.createBucket('source');
    await s3Client.send(new PutObjectCommand({ Bucket: 'source', Key: 'big.bin', Body: DATA.subarray(0, 2 * MIB) }));
    const ossHosts = { 's3.test': { endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region, addressing: 'path' as const } };
    // 99 %: even 2 MiB into this nearly empty tmpfs would cross it.
    server = await startServer({ dataDir: dir, metadataUri: `sqlite:${join(dir, 'meta.sqlite')}`, blobsUri: `file:${join(dir, 'blobs')}`, minFree: { percent: 99 }, ossHosts });
    const vault = await server.client.vaultId('pulls');
    const job = await server.client.waitJob(vault, await server.client.jobId(vault, { Type: 'pull-from-oss', OSSHost: 's3.test', Bucket: 'source', Object: 'big.bin' }));
    assert.equal(job.StatusCode, 'Failed');
    assert.match(job.StatusMessage, /oss:\/\/source\/big\.bin at s3\.test was not copied: .*--min-free 99%.*No archive was created/);
    assert.deepEqual(await readdir(join(dir, 'blobs', 'tmp')), []);
    assert.equal((await server.client.get(`/vaults/${vault}`)).json.NumberOfArchives, 0);
  } finally {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
    s3Client.destroy();
    await s3.stop();
  }
});
