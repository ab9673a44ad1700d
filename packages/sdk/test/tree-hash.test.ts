import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  TreeHasher, TreeHashBuilder, treeHash, treeHashOfLeaves, treeHashOfLeafBuffer, combineTreeHashes, treeHashStream,
  leafSpan, outputTreeHashRange, TREE_HASH_LEAF,
} from '../src/protocol/tree-hash.js';
import { isTreeHashAligned } from '../src/protocol/ranges.js';
import { pattern } from './helpers/pattern.js';

const MIB = TREE_HASH_LEAF;

// Data is byte i % 251; tree hash and linear SHA-256, computed by botocore.
const VECTORS: Array<[number, string, string?]> = [
  [0, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  [1, '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d'],
  [1_048_576, '631b84027d6b9e52b539c4e8373622d23032dfadc64d60af87339c9037e4f769'],
  [1_048_577, 'a9c574ce937d2371daf87cdd0e75396b096d7f74a66c764e4c656bd12b2e7bf9', '5769f52bc3eef28afa39c6fc68cadb7d0bd69812ae3a3d71452f519ec3c7aa56'],
  [2_097_152, 'bf4dff263ae686b64403208c35a3767e38453d6477e841947588d13d04e1d816', '1e075c8d478ad21844e33e830a695ef03a4d2488b69ee275bd8947618bb1be1e'],
  [3_145_729, '66ac946469b53baeeb5d6d4587807d914a28a0b59c4b2f5f105f64d312db56cc', 'fc66cb381d8de4396b685896bfef3b1811ca920b052873bea5227a354fd64f37'],
  [5_767_168, '3493387cee361be12e24da9c024bf3e2a55f81df464f6ae822209f79a92248f5', 'e06c1178d81a126be5aea1c067d9be2ed1a3ae33a59f1e1633c135d619ab4d53'],
  [9_961_472, '16530cbecb5c57da741e610369cf06d44179c4f78bf0024a438f8016538277a5', '2a8743ae1088dda67278fb26a81d8f44c6575e9f7f3989431039f290f1efdd0c'],
];

for (const [size, tree, linear] of VECTORS) {
  test(`vector: ${size} bytes`, () => {
    const data = pattern(size);
    assert.equal(treeHash(data), tree);
    const digest = new TreeHasher().update(data).digest();
    assert.deepEqual(digest, { treeHash: tree, sha256: linear ?? tree, size });
  });
}

test('any chunking gives the same hashes, and onLeaf sees every 1 MiB leaf in order', async () => {
  const data = pattern(5_767_168);
  const leaves: Buffer[] = [];
  const hasher = new TreeHasher((digest, index) => { assert.equal(index, leaves.length); leaves.push(digest); });
  for (let offset = 0, step = 1; offset < data.length; offset += step, step = (step * 7 + 13) % 900_001 + 1) {
    hasher.update(data.subarray(offset, offset + step));
  }
  const digest = hasher.digest();
  assert.equal(digest.treeHash, '3493387cee361be12e24da9c024bf3e2a55f81df464f6ae822209f79a92248f5');
  assert.equal(leaves.length, 6);
  for (const [i, leaf] of leaves.entries()) {
    assert.deepEqual(leaf, createHash('sha256').update(data.subarray(i * MIB, (i + 1) * MIB)).digest());
  }
  assert.equal(treeHashOfLeaves(leaves), digest.treeHash);
  assert.equal(treeHashOfLeafBuffer(Buffer.concat(leaves)), digest.treeHash);
  assert.throws(() => treeHashOfLeafBuffer(Buffer.alloc(33)), /multiple of 32/);
  const streamed = await treeHashStream(Readable.from([data.subarray(0, 3), data.subarray(3)]));
  assert.deepEqual(streamed, digest);
});

test('multipart: the part roots combine into the archive tree hash (1 MiB, 2 MiB and 4 MiB parts)', () => {
  const data = pattern(9_961_472);
  for (const partSize of [MIB, 2 * MIB, 4 * MIB]) {
    const roots: string[] = [];
    for (let offset = 0; offset < data.length; offset += partSize) roots.push(treeHash(data.subarray(offset, offset + partSize)));
    assert.equal(combineTreeHashes(roots), '16530cbecb5c57da741e610369cf06d44179c4f78bf0024a438f8016538277a5', `part size ${partSize}`);
  }
});

test('the builder: odd nodes are promoted, nodes must be 32 bytes, empty input hashes like empty data', () => {
  const a = createHash('sha256').update('a').digest();
  const b = createHash('sha256').update('b').digest();
  const c = createHash('sha256').update('c').digest();
  const ab = createHash('sha256').update(Buffer.concat([a, b])).digest();
  const abc = createHash('sha256').update(Buffer.concat([ab, c])).digest('hex');
  assert.equal(new TreeHashBuilder().push(a).push(b).push(c.toString('hex')).hex(), abc);
  assert.equal(new TreeHashBuilder().push(a).hex(), a.toString('hex'));
  assert.equal(new TreeHashBuilder().root(), null);
  assert.equal(new TreeHashBuilder().hex(), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.throws(() => new TreeHashBuilder().push(Buffer.alloc(16)), /32-byte/);
});

test('a tree-hash aligned range hashes to a node: the tree hash of its own bytes, from the stored leaves', () => {
  const size = 9_961_472;
  const data = pattern(size);
  const leaves: Buffer[] = [];
  new TreeHasher((d) => leaves.push(d)).update(data).digest();
  const cases = [
    { start: 0, end: size - 1 }, { start: 0, end: 4 * MIB - 1 }, { start: 4 * MIB, end: 8 * MIB - 1 },
    { start: 8 * MIB, end: size - 1 }, { start: 9 * MIB, end: size - 1 }, { start: 2 * MIB, end: 3 * MIB - 1 },
  ];
  for (const range of cases) {
    assert.ok(isTreeHashAligned(range, size), JSON.stringify(range));
    const { first, count } = leafSpan(range);
    assert.equal(treeHashOfLeaves(leaves.slice(first, first + count)), treeHash(data.subarray(range.start, range.end + 1)));
  }
  assert.equal(isTreeHashAligned({ start: MIB, end: 3 * MIB - 1 }, size), false);
  assert.equal(isTreeHashAligned({ start: 0, end: 3 * MIB - 1 }, size), false);
});

test('GetJobOutput checksum: sent only when both the job range and the download are tree-hash aligned', () => {
  const size = 10 * MIB + 5;
  const whole = { start: 0, end: size - 1 };
  // (no job range, whole download) and (no job range, aligned Range)
  assert.deepEqual(outputTreeHashRange(whole, size), whole);
  assert.deepEqual(outputTreeHashRange(whole, size, { start: 8 * MIB, end: size - 1 }), { start: 8 * MIB, end: size - 1 });
  assert.equal(outputTreeHashRange(whole, size, { start: MIB, end: 3 * MIB - 1 }), null);
  // (aligned job range, whole download) and (aligned job range, aligned Range), relative to the output
  const job = { start: 4 * MIB, end: 8 * MIB - 1 };
  assert.deepEqual(outputTreeHashRange(job, size), job);
  assert.deepEqual(outputTreeHashRange(job, size, { start: 2 * MIB, end: 4 * MIB - 1 }), { start: 6 * MIB, end: 8 * MIB - 1 });
  assert.equal(outputTreeHashRange(job, size, { start: MIB, end: 3 * MIB - 1 }), null);
  // A megabyte-aligned job range that is not a tree node never gets a checksum.
  const unaligned = { start: MIB, end: 3 * MIB - 1 };
  assert.equal(outputTreeHashRange(unaligned, size), null);
  assert.equal(outputTreeHashRange(unaligned, size, { start: 0, end: MIB - 1 }), null);
  // A job on the short last leaves: the output is smaller than a MiB.
  assert.deepEqual(outputTreeHashRange({ start: 10 * MIB, end: size - 1 }, size), { start: 10 * MIB, end: size - 1 });
});
