// hashLeaves (a batch's leaf MD5s, on the shared worker when a slot is free) and the
// leaves-only ParallelChecksumHasher give the same digests as the single-threaded hasher,
// from any chunking, several batches at once, and give every slot back.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MIB, ChecksumHasher } from '../src/protocol/etag.js';
import { ParallelChecksumHasher, hashLeaves, leafWorkerStats, stopLeafWorker } from '../src/protocol/hash-file.js';

after(() => stopLeafWorker());

function reference(data: Buffer): Buffer[] {
  const leaves: Buffer[] = [];
  new ChecksumHasher((leaf) => leaves.push(leaf)).update(data).digest();
  return leaves;
}

test('hashLeaves: inline below a leaf, on the worker above, same digests from any chunking', async () => {
  for (const size of [1, MIB - 1, MIB, 3 * MIB + 5, 8 * MIB]) {
    const data = randomBytes(size);
    assert.deepEqual(await hashLeaves([data]), reference(data), `size ${size}`);
    const a = Math.min(7, size);
    const b = Math.max(a, size >> 1);
    const split = [data.subarray(0, a), data.subarray(a, b), data.subarray(b)];
    assert.deepEqual(await hashLeaves(split), reference(data), `size ${size}, three chunks`);
  }
  await assert.rejects(hashLeaves([Buffer.alloc(8 * MIB + 1)]), RangeError);
});

test('hashLeaves: more batches at once than the pool has slots, all correct, slots given back', async () => {
  const batches = Array.from({ length: 12 }, () => randomBytes(8 * MIB));
  const results = await Promise.all(batches.map((b) => hashLeaves([b])));
  results.forEach((r, i) => assert.deepEqual(r, reference(batches[i]!)));
  const stats = leafWorkerStats();
  assert.equal(stats.inflight, 0);
  assert.equal(stats.free, stats.slots);
});

test('ParallelChecksumHasher without the content MD5: same leaves and tree etag, etag empty', async () => {
  const data = randomBytes(20 * MIB + 3);
  const leaves: Buffer[] = [];
  const hasher = new ParallelChecksumHasher({ content: false, onLeaf: (d) => leaves.push(d) });
  for (let at = 0; at < data.length; at += 3 * MIB + 1) hasher.update(data.subarray(at, at + 3 * MIB + 1));
  const digest = await hasher.digest();
  assert.equal(digest.etag, '');
  assert.equal(digest.treeEtag, new ChecksumHasher().update(data).digest().treeEtag);
  assert.deepEqual(leaves, reference(data));
});
