// The file blob store: the shared contract, plus what only a directory tree can show
// (layout, crash halves, path traversal, leaf-count checks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MIB, newId } from '@oas/sdk';
import { openFileBlobStore } from '../src/store/blob/file.js';
import type { BlobStore } from '../src/store/blob/types.js';
import { blobStoreContract, leavesOf, writeBlob } from './store-contract.js';

async function tempDir(): Promise<{ root: string; dir: string; cleanup(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'oas-blobs-'));
  return { root, dir: join(root, 'store'), cleanup: () => rm(root, { recursive: true, force: true }) };
}

blobStoreContract('file', async () => {
  const { dir, cleanup } = await tempDir();
  return { store: await openFileBlobStore(dir), cleanup, reopen: () => openFileBlobStore(dir) };
});

/** Runs `fn` with a fresh store in a temp dir, then removes everything. */
async function withStore(fn: (store: BlobStore, dir: string, root: string) => Promise<void>): Promise<void> {
  const { root, dir, cleanup } = await tempDir();
  const store = await openFileBlobStore(dir);
  try {
    await fn(store, dir, root);
  } finally {
    await store.close();
    await cleanup();
  }
}

test('file: committed blobs live at blobs/<2 hex>/<key> with <key>.leaves; tmp/ is empty', () => withStore(async (store, dir) => {
  const data = Buffer.alloc(MIB + 10, 7);
  const key = await writeBlob(store, data);
  const shard = join(dir, 'blobs', key.slice(0, 2));
  assert.deepEqual((await readdir(shard)).sort(), [key, key + '.leaves']);
  assert.ok((await readFile(join(shard, key))).equals(data));
  assert.ok((await readFile(join(shard, key + '.leaves'))).equals(leavesOf(data)));
  assert.deepEqual(await readdir(join(dir, 'tmp')), []);
}));

test('file: the temp file exists in tmp/ while writing, never under blobs/', () => withStore(async (store, dir) => {
  const w = await store.create();
  assert.deepEqual(await readdir(join(dir, 'tmp')), [w.key]);
  assert.ok(!existsSync(join(dir, 'blobs', w.key.slice(0, 2), w.key)));
  await w.abort();
  assert.deepEqual(await readdir(join(dir, 'tmp')), []);
}));

test('file: removeLeftovers removes lone halves and tmp files, keeps whole blobs and foreign files', () => withStore(async (store, dir) => {
  const whole = await writeBlob(store, Buffer.from('whole'));
  const noData = await writeBlob(store, Buffer.from('no data'));
  const noLeaves = await writeBlob(store, Buffer.from('no leaves'));
  const path = (key: string) => join(dir, 'blobs', key.slice(0, 2), key);
  await unlink(path(noData)); // as if a delete was cut short
  await unlink(path(noLeaves) + '.leaves'); // as if a commit was cut between the renames
  await writeFile(join(dir, 'tmp', newId()), 'partial');
  const foreign = join(dir, 'blobs', whole.slice(0, 2), 'README');
  await writeFile(foreign, 'not a blob');

  assert.equal(await store.removeLeftovers(), 3);
  assert.ok(!existsSync(path(noData) + '.leaves'));
  assert.ok(!existsSync(path(noLeaves)));
  assert.ok(existsSync(foreign));
  assert.deepEqual(await readdir(join(dir, 'tmp')), []);
  const keys: string[] = [];
  for await (const k of store.keys()) keys.push(k);
  assert.deepEqual(keys, [whole]);
  assert.equal(await store.removeLeftovers(), 0);
}));

test('file: keys with path tricks never reach the file system', () => withStore(async (store, _dir, root) => {
  // With blobs/<first 2 chars>/<key>, the key "../sentinel" would resolve to <root>/sentinel.
  const sentinel = join(root, 'sentinel');
  await writeFile(sentinel, 'keep me');
  for (const bad of ['../sentinel', '../../sentinel', '..']) {
    assert.throws(() => store.read(bad), TypeError);
    await assert.rejects(store.size(bad), TypeError);
    await assert.rejects(store.readLeaves(bad), TypeError);
    await assert.rejects(store.delete(bad), TypeError);
  }
  assert.equal(await readFile(sentinel, 'utf8'), 'keep me');
}));

test('file: commit checks the stream ended and the leaf count, then abort cleans up', () => withStore(async (store, dir) => {
  const w = await store.create();
  w.stream.write(Buffer.alloc(10));
  await assert.rejects(w.commit(leavesOf(Buffer.alloc(10))), /ended/);
  await w.abort();

  const data = Buffer.alloc(2 * MIB + 1, 1);
  const bad = await store.create();
  await pipeline(Readable.from([data]), bad.stream);
  await assert.rejects(bad.commit(leavesOf(data).subarray(16)), /leaf/);
  await assert.rejects(bad.commit(leavesOf(data)), 'one commit per writer');
  await bad.abort();
  assert.equal(await store.size(bad.key), null);
  assert.deepEqual(await readdir(join(dir, 'tmp')), []);
  assert.deepEqual(await readdir(join(dir, 'blobs')), [], 'no shard directory for a blob that never landed');
}));

test('file: an empty blob has no leaves', () => withStore(async (store) => {
  const key = await writeBlob(store, Buffer.alloc(0));
  assert.equal(await store.size(key), 0);
  assert.equal((await store.readLeaves(key)).length, 0);
  const chunks: Buffer[] = [];
  for await (const c of store.read(key)) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).length, 0);
}));

test('file: read refuses bad ranges before opening anything', () => withStore(async (store) => {
  const key = await writeBlob(store, Buffer.alloc(100));
  assert.throws(() => store.read(key, 10, 5), RangeError);
  assert.throws(() => store.read(key, -1), RangeError);
  assert.throws(() => store.read(key, 1.5), RangeError);
  await assert.rejects(store.readLeaves(key, -1), RangeError);
}));
