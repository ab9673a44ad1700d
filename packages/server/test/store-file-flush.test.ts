// The file store flushes a large blob's data while it is written (every 64 MiB): a write
// that pauses past that point (so the early flush runs) still commits exact bytes with
// their leaves, and an abort while a flush may be in flight leaves nothing behind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MIB, hashBuffer, stopLeafWorker } from '@oas/sdk';
import { openFileBlobStore } from '../src/store/blob/file.js';
import type { BlobStore } from '../src/store/blob/types.js';
import { scanVerified } from '../src/store/blob/verifying-reader.js';
import { VerifyingWriter, writeBlob } from '../src/store/blob/verifying-writer.js';

let dir: string;
let store: BlobStore;
const block = randomBytes(8 * MIB);
const SIZE = 80 * MIB;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oas-flush-'));
  store = await openFileBlobStore(dir);
});

after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
  await stopLeafWorker();
});

/** 80 MiB in 8 MiB blocks, with a pause once 64 MiB are out (the flush timer runs then). */
async function* slowSource(): AsyncGenerator<Buffer> {
  for (let at = 0; at < SIZE; at += block.length) {
    if (at === 64 * MIB) await sleep(300);
    yield block;
  }
}

test('a blob written past the flush point commits exact bytes and leaves', async () => {
  const whole = Buffer.concat(Array.from({ length: SIZE / block.length }, () => block));
  const sums = hashBuffer(whole);
  const written = await writeBlob(store, slowSource(), { expect: { size: SIZE, etag: sums.etag, trees: { md5: sums.treeEtag } } });
  assert.equal(written.treeEtag, sums.treeEtag);
  assert.equal(await store.size(written.key), SIZE);
  assert.equal(await scanVerified(store, [{ blobKey: written.key, size: SIZE }], 0, SIZE - 1), SIZE);
});

test('an abort after the flush point leaves no temporary file', async () => {
  const writer = await VerifyingWriter.open(store, { expect: { size: SIZE } });
  for (let i = 0; i < 9; i++) await writer.write(block);
  await sleep(300);
  await writer.abort();
  assert.deepEqual(await readdir(join(dir, 'tmp')), []);
});
