// The download's piece sink: bytes arriving in any chunking land at their file offsets and
// give the tree etag of the piece, with the leaves hashed on the shared worker (or inline
// when the pool is exhausted); a failed write fails the piece; every slot is given back.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIB, hashBuffer } from '../src/protocol/etag.js';
import { leafWorkerStats, stopLeafWorker } from '../src/protocol/hash-file.js';
import { BatchBudget, LeafBatcher } from '../src/ease/leaf-batcher.js';
import { FileWriter, PieceSink } from '../src/ease/piece-sink.js';

const dir = await mkdtemp(join(tmpdir(), 'piece-sink-'));
after(async () => {
  await stopLeafWorker();
  await rm(dir, { recursive: true, force: true });
});

/** Every slot the pool created is free again (the worker may still be finishing a discarded batch). */
async function slotsAllFree(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = leafWorkerStats();
    if (s.free === s.slots && s.inflight === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`slots not given back: ${JSON.stringify(leafWorkerStats())}`);
}

/** Feeds `data` to a sink at `start` in chunks of the given sizes (cycled); the piece's tree etag. */
async function sink(path: string, start: number, data: Buffer, chunks: number[], budget?: BatchBudget): Promise<string> {
  const file = await open(path, 'r+');
  try {
    const out = new PieceSink(new FileWriter(file), start, budget);
    for (let at = 0, i = 0; at < data.length; i++) {
      const n = Math.min(chunks[i % chunks.length]!, data.length - at);
      // A reused chunk buffer: the sink must have copied what it needs before the next write.
      const chunk = Buffer.from(data.subarray(at, at + n));
      await out.write(chunk);
      chunk.fill(0xee);
      at += n;
    }
    assert.equal(out.position, start + data.length);
    return await out.finish();
  } finally {
    await file.close();
  }
}

test('any chunking, any length: bytes at their offsets, the tree etag of the piece', async () => {
  const path = join(dir, 'chunks.bin');
  for (const [size, chunks] of [
    [1, [1]], [MIB - 1, [65536]], [MIB, [7, 65536]], [8 * MIB, [65536]], [8 * MIB + 1, [3 * MIB]],
    [19 * MIB + 12345, [65536, 1, 999_999]], [32 * MIB, [16 * MIB]],
  ] as Array<[number, number[]]>) {
    const data = randomBytes(size);
    const start = 3 * MIB;
    await (await open(path, 'w')).close();
    const treeEtag = await sink(path, start, data, chunks);
    assert.equal(treeEtag, hashBuffer(data).treeEtag, `size ${size}`);
    const file = await readFile(path);
    assert.equal(file.length, start + size);
    assert.ok(file.subarray(start).equals(data), `size ${size}: the bytes at their offset`);
    assert.ok(file.subarray(0, start).equals(Buffer.alloc(start)), 'nothing written before the piece');
  }
  await slotsAllFree();
});

test('more pieces at once than the pool has slots: the rest hash inline, all correct, slots given back', async () => {
  const path = join(dir, 'many.bin');
  const pieces = Array.from({ length: 7 }, () => randomBytes(16 * MIB + 5));
  await (await open(path, 'w')).close();
  const size = 17 * MIB;
  const results = await Promise.all(pieces.map((data, i) => sink(path, i * size, data, [65536])));
  const file = await readFile(path);
  pieces.forEach((data, i) => {
    assert.equal(results[i], hashBuffer(data).treeEtag, `piece ${i}`);
    assert.ok(file.subarray(i * size, i * size + data.length).equals(data), `piece ${i} bytes`);
  });
  await slotsAllFree();
});

test('pieces sharing a budget of one batch all finish (no deadlock), bytes and tree etags right', async () => {
  const path = join(dir, 'budget.bin');
  await (await open(path, 'w')).close();
  const budget = new BatchBudget(1);
  const pieces = Array.from({ length: 3 }, () => randomBytes(20 * MIB));
  const results = await Promise.all(pieces.map((data, i) => sink(path, i * 20 * MIB, data, [65536], budget)));
  pieces.forEach((data, i) => assert.equal(results[i], hashBuffer(data).treeEtag));
  assert.ok((await readFile(path)).equals(Buffer.concat(pieces)));
  await slotsAllFree();
});

test('a write that fails fails the piece; discard gives every slot back', async () => {
  const path = join(dir, 'readonly.bin');
  await (await open(path, 'w')).close();
  const file = await open(path, 'r'); // writes fail with EBADF
  try {
    const out = new PieceSink(new FileWriter(file), 0);
    const data = randomBytes(MIB);
    await assert.rejects(async () => {
      for (let i = 0; i < 24; i++) await out.write(data);
      await out.finish();
    }, /EBADF|bad file descriptor/i);
    await out.discard();
  } finally {
    await file.close();
  }
  await slotsAllFree();

  const abandoned = await open(path, 'r+');
  try {
    const out = new PieceSink(new FileWriter(abandoned), 0);
    await out.write(randomBytes(12 * MIB + 3)); // one batch submitted, one filling
    await out.discard();
  } finally {
    await abandoned.close();
  }
  await slotsAllFree();
});

test('LeafBatcher: leaves of any length up to 1 MiB, misuse is refused', async () => {
  const batcher = new LeafBatcher();
  const leaf = await batcher.leafBuffer();
  assert.equal(leaf.length, MIB);
  assert.throws(() => batcher.leafDone(MIB + 1), RangeError);
  leaf.fill(7, 0, 10);
  batcher.leafDone(10);
  assert.throws(() => batcher.leafDone(10), /leafDone without leafBuffer/);
  assert.equal(await batcher.digest(), hashBuffer(Buffer.alloc(10, 7)).treeEtag);
  await assert.rejects(batcher.leafBuffer(), /after digest/);
  await slotsAllFree();
});
