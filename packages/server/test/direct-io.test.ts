// Direct I/O of blob data (direct-io.ts): exact bytes whatever the chunking, whole blocks
// direct and the rest through the page cache, a file system without O_DIRECT served
// entirely buffered, and a destroyed stream that issues nothing more and closes both
// descriptors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { LeafBuffer, MIB, leafWorkerStats } from '@oas/sdk';
import { BlobDataReader, BlobDataStream, DIRECT_ALIGN, openDirect } from '../src/store/blob/direct-io.js';

async function inDir<T>(parent: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(parent, 'oas-direct-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes `data` in chunks of `step` through a BlobDataStream on a new file; returns the stream. */
async function writeThrough(path: string, data: Buffer, step: number, direct = true): Promise<BlobDataStream> {
  const fd = fs.openSync(path, 'wx');
  const stream = new BlobDataStream(fd, direct ? await openDirect(path, true) : undefined);
  for (let at = 0; at < data.length; at += step) {
    if (!stream.write(data.subarray(at, at + step))) await new Promise((resolve) => stream.once('drain', resolve));
  }
  stream.end();
  await finished(stream);
  fs.fsyncSync(fd);
  stream.destroy();
  await new Promise((resolve) => stream.once('close', resolve));
  return stream;
}

const blocksOf = (n: number): number => n - (n % DIRECT_ALIGN);

/** Whether files under `dir` take O_DIRECT (the machine's temporary directory is on a disk here; tmpfs is not). */
async function directCapable(dir: string): Promise<boolean> {
  const probe = join(dir, 'probe');
  fs.writeFileSync(probe, '');
  const fd = await openDirect(probe, true);
  if (fd !== undefined) fs.closeSync(fd);
  fs.unlinkSync(probe);
  return fd !== undefined;
}

test('a disk file: whole blocks go direct, the tail through the page cache, the bytes are exact', async (t) => {
  await inDir(tmpdir(), async (dir) => {
    if (!(await directCapable(dir))) return t.skip(`${tmpdir()} has no O_DIRECT`);
    const data = randomBytes(9 * MIB + 1234);
    for (const step of [64 * 1024 - 7, 4 * MIB, 1_000_003]) {
      const path = join(dir, `blob-${step}`);
      const stream = await writeThrough(path, data, step);
      assert.ok((await readFile(path)).equals(data), `chunks of ${step}`);
      assert.equal(stream.bytesWritten, data.length);
      // Full 4 MiB halves, then the last 1 MiB + 1234 bytes: its whole blocks direct, 1234 bytes buffered.
      assert.equal(stream.directBytes, blocksOf(data.length), 'every whole block went direct');
    }
    assert.equal(leafWorkerStats().free, leafWorkerStats().slots, 'the staging slot went back to the pool');
  });
});

test('reads: whole blocks into pool memory go direct, a plain buffer and the tail through the page cache', async (t) => {
  await inDir(tmpdir(), async (dir) => {
    if (!(await directCapable(dir))) return t.skip(`${tmpdir()} has no O_DIRECT`);
    const path = join(dir, 'blob');
    const data = randomBytes(3 * MIB + 100);
    await writeThrough(path, data, MIB);
    const reader = await BlobDataReader.open(path);
    const slot = LeafBuffer.acquire();
    assert.ok(slot, 'a pool slot');
    try {
      let got = 0;
      while (got < data.length) {
        const n = await reader.read(slot.data, got, data.length - got, got);
        assert.ok(n > 0);
        got += n;
      }
      assert.ok(slot.data.subarray(0, data.length).equals(data));
      assert.equal(reader.directBytes, blocksOf(data.length));
      const plain = Buffer.alloc(2 * MIB);
      assert.equal(await reader.read(plain, 0, plain.length, MIB), plain.length);
      assert.ok(plain.equals(data.subarray(MIB, 3 * MIB)));
      assert.equal(reader.directBytes, blocksOf(data.length), 'a buffer of its own is read through the page cache');
      // An unaligned position is read buffered too, and right.
      assert.equal(await reader.read(slot.data, 0, 5000, 4097), 5000);
      assert.ok(slot.data.subarray(0, 5000).equals(data.subarray(4097, 9097)));
    } finally {
      slot.release();
      await reader.close();
    }
  });
});

test('without O_DIRECT (a file system that refuses it: openDirect gives nothing), everything goes through the ordinary descriptor', async () => {
  await inDir(tmpdir(), async (dir) => {
    const path = join(dir, 'blob');
    const data = randomBytes(9 * MIB + 3);
    const stream = await writeThrough(path, data, 100_000, false);
    assert.equal(stream.directBytes, 0);
    assert.equal(stream.bytesWritten, data.length);
    assert.ok((await readFile(path)).equals(data));
    const reader = new BlobDataReader(fs.openSync(path, 'r'), undefined);
    const slot = LeafBuffer.acquire()!;
    try {
      assert.equal(await reader.read(slot.data, 0, 4 * MIB, 0), 4 * MIB);
      assert.ok(slot.data.subarray(0, 4 * MIB).equals(data.subarray(0, 4 * MIB)));
      assert.equal(reader.directBytes, 0);
    } finally {
      slot.release();
      await reader.close();
    }
  });
});

test('destroyed half way: nothing more is written, both descriptors close, the slot comes back', async () => {
  await inDir(tmpdir(), async (dir) => {
    const path = join(dir, 'blob');
    const fd = fs.openSync(path, 'wx');
    const direct = await openDirect(path, true);
    const stream = new BlobDataStream(fd, direct);
    stream.write(randomBytes(5 * MIB));
    stream.write(randomBytes(5 * MIB)); // a full half is being written as the stream goes
    stream.destroy();
    await new Promise((resolve) => stream.once('close', resolve));
    const size = fs.statSync(path).size;
    assert.ok(size <= 8 * MIB, `at most the two halves sent before the destroy, got ${size}`);
    assert.throws(() => fs.fstatSync(fd), { code: 'EBADF' });
    if (direct !== undefined) assert.throws(() => fs.fstatSync(direct), { code: 'EBADF' });
    assert.equal(leafWorkerStats().free, leafWorkerStats().slots);
  });
});
