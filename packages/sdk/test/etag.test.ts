import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  MIB, ChecksumHasher, combineTreeEtags, contentEtag, hashBuffer, hashStream, treeEtag, treeEtagOfLeaves,
} from '../src/protocol/etag.js';
import { pattern } from './helpers/pattern.js';

// protocol.md §3.3: [length, content etag, tree etag]
const VECTORS: Array<[number, string, string]> = [
  [1, '93B885ADFE0DA089CDF634904FD59F71', '93B885ADFE0DA089CDF634904FD59F71'],
  [1000, 'A24F1E3EF66950E1327F210E3997BA2C', 'A24F1E3EF66950E1327F210E3997BA2C'],
  [MIB - 1, '6631289DA608F194E12B97CAF2B5D9CA', '6631289DA608F194E12B97CAF2B5D9CA'],
  [MIB, '8F293A2F6C19B345152F7A49BB4C643C', '8F293A2F6C19B345152F7A49BB4C643C'],
  [MIB + 1, '79B67C7FBF43B76E5B7F182328BDC4B6', '2DD050B18D8A52C275D3E6DAC425D44B'],
  [2 * MIB, '22B5D52B7D06E1B2B44F0FE3162E90E2', '063515434B8FC89318BC40C066B88DB2'],
  [3 * MIB + 5, '028BFCC1395093C0DF0DC731DE96E1B5', '2B016A0FD13C7CBC62DE133A913C2E6B'],
  [5 * MIB, '4C28640DC8DF1933AAEA192100D50AE0', 'DC4530AD763DB8493C5BD3A6A2650CA3'],
  [200 * MIB, '08C302B6EF23AD605CBCAF1EE27BDB25', '5E863328970BD2F6C6CE6C8CEA5AEB59'],
];

test('protocol.md §3.3: empty data and "abc"', () => {
  assert.deepEqual(hashBuffer(Buffer.alloc(0)), { etag: 'D41D8CD98F00B204E9800998ECF8427E', treeEtag: '', size: 0 });
  assert.equal(contentEtag('abc'), '900150983CD24FB0D6963F7D28E17F72');
  assert.equal(treeEtag('abc'), '900150983CD24FB0D6963F7D28E17F72');
});

for (const [length, etag, tree] of VECTORS) {
  test(`protocol.md §3.3: pattern of ${length} bytes`, () => {
    const data = pattern(length);
    assert.deepEqual(hashBuffer(data), { etag, treeEtag: tree, size: length });
  });
}

test('protocol.md §3.3: 3 MiB + 5 step by step leaves and parents', () => {
  const leaves: string[] = [];
  new ChecksumHasher((d) => leaves.push(d.toString('hex').toUpperCase())).update(pattern(3 * MIB + 5)).digest();
  assert.deepEqual(leaves, ['8F293A2F6C19B345152F7A49BB4C643C', 'B66F7BDA0D9B13D834B1B87EDE0A33BB',
    'D6BF877399E1176160D38BAA7A114898', 'BE9F131A4041136A935BB2D2D7B923EE']);
  assert.equal(combineTreeEtags(leaves.slice(0, 2)), '063515434B8FC89318BC40C066B88DB2');
  assert.equal(combineTreeEtags(leaves.slice(2)), '9C76029821D6F2633052F4C396C486B4');
  assert.equal(combineTreeEtags(leaves), '2B016A0FD13C7CBC62DE133A913C2E6B');
});

test('protocol.md §3.3: 5 MiB odd-node promotion', () => {
  const leaves: string[] = [];
  new ChecksumHasher((d) => leaves.push(d.toString('hex').toUpperCase())).update(pattern(5 * MIB)).digest();
  assert.equal(leaves[3], '149D2A5BB8BCEB9B566D044C3B1B30D9');
  assert.equal(leaves[4], 'DB0AAC8DD27E4BAC0FED17858385E983');
  assert.equal(combineTreeEtags(leaves.slice(2, 4)), '2B90C9EDF3B1E4A7B6F30746590B7945');
  assert.equal(combineTreeEtags(leaves.slice(0, 4)), 'D59AF37B8C35DA39AF7704B03FFA4512');
  assert.equal(combineTreeEtags(['D59AF37B8C35DA39AF7704B03FFA4512', leaves[4]!]), 'DC4530AD763DB8493C5BD3A6A2650CA3');
});

test('protocol.md §3.3 wrong variants give other values (negative tests)', () => {
  const data = pattern(2 * MIB);
  const leafRaw = [data.subarray(0, MIB), data.subarray(MIB)].map((b) => createHash('md5').update(b).digest());
  const lowerConcat = createHash('md5').update(leafRaw.map((d) => d.toString('hex')).join('')).digest('hex');
  const rawConcat = createHash('md5').update(Buffer.concat(leafRaw)).digest('hex').toUpperCase();
  assert.equal(lowerConcat, '3521f17f95e0998c3eefe1cd7bc02e39');
  assert.equal(rawConcat, '675923DBF40EDD9CA6B26DE7930FFC7C');
  const right = treeEtag(data);
  assert.equal(right, '063515434B8FC89318BC40C066B88DB2');
  assert.notEqual(right, lowerConcat.toUpperCase());
  assert.notEqual(right, rawConcat);
  // A third wrong variant: duplicating the odd node instead of carrying it up.
  const five = pattern(5 * MIB);
  const leaves = Array.from({ length: 5 }, (_, i) => contentEtag(five.subarray(i * MIB, (i + 1) * MIB)));
  const duplicated = combineTreeEtags([...leaves, leaves[4]!]);
  assert.notEqual(duplicated, 'DC4530AD763DB8493C5BD3A6A2650CA3');
  assert.equal(combineTreeEtags(leaves), 'DC4530AD763DB8493C5BD3A6A2650CA3');
});

function partTreeEtags(data: Buffer, partSize: number): string[] {
  const out: string[] = [];
  for (let off = 0; off < data.length; off += partSize) out.push(treeEtag(data.subarray(off, off + partSize)));
  return out;
}

test('protocol.md §3.4: combined part tree etags against whole-data tree etag', () => {
  const ten = pattern(10 * MIB + 7);
  assert.equal(treeEtag(ten), 'CF0DA8B83FD87A5261D1B4B1E0D43BDF');
  assert.equal(combineTreeEtags(partTreeEtags(ten, 4 * MIB)), 'CF0DA8B83FD87A5261D1B4B1E0D43BDF');
  assert.equal(combineTreeEtags(partTreeEtags(ten, 2 * MIB)), 'CF0DA8B83FD87A5261D1B4B1E0D43BDF');
  assert.equal(combineTreeEtags(partTreeEtags(ten, 3 * MIB)), '22A6C28BB2DB230C9A96FA49A21B68E9');
  const big = pattern(130 * MIB + 7);
  assert.equal(combineTreeEtags(partTreeEtags(big, 32 * MIB)), '027A01D61F0A632F893F717A59B08C6B');
  assert.equal(treeEtag(big), '027A01D61F0A632F893F717A59B08C6B');
});

test('protocol.md §3.4: 200 MiB uploaded in 64 MiB parts', () => {
  const data = pattern(200 * MIB);
  const expected = [
    ['8DBD2E5CBC41169E65CA6DD06D2F44A1', '47319858B7684810D5E25E649E334575'],
    ['38EF0298E770F72E6F4CCB8E5042E7BB', 'F70BF8B07EDCCA17E395F0084EB83A00'],
    ['BF4E08FB348C2016061E003DFD97AE5A', '6ED9928B23F9D7D6BF2A0784EC4F49A0'],
    ['99FF6A1CDB3C7E3EAB3D06C1EAF36B32', 'CAA6F82DFF91B76FEBEB319AC12E6D6C'],
  ];
  const trees: string[] = [];
  for (let i = 0; i < 4; i++) {
    const part = hashBuffer(data.subarray(i * 64 * MIB, Math.min(data.length, (i + 1) * 64 * MIB)));
    assert.deepEqual([part.etag, part.treeEtag], expected[i]);
    trees.push(part.treeEtag);
  }
  assert.equal(combineTreeEtags(trees), '5E863328970BD2F6C6CE6C8CEA5AEB59');
});

test('streaming hasher gives the same result for any chunking', async () => {
  const data = pattern(3 * MIB + 5);
  for (const chunk of [1, 7, 4096, 65536, MIB - 1, MIB, MIB + 3, data.length]) {
    const hasher = new ChecksumHasher();
    const step = chunk === 1 ? 997 : chunk; // 1-byte chunks over 3 MiB are slow; 997 is a prime stride
    for (let off = 0; off < data.length; off += step) hasher.update(data.subarray(off, off + step));
    assert.deepEqual(hasher.digest(), { etag: '028BFCC1395093C0DF0DC731DE96E1B5', treeEtag: '2B016A0FD13C7CBC62DE133A913C2E6B', size: data.length });
  }
  const streamed = await hashStream(Readable.from((function* () {
    for (let off = 0; off < data.length; off += 100_000) yield data.subarray(off, off + 100_000);
  })()));
  assert.equal(streamed.treeEtag, '2B016A0FD13C7CBC62DE133A913C2E6B');
});

test('tree etag from stored raw leaves and lower-case input to combine', () => {
  const leaves: Buffer[] = [];
  const sums = new ChecksumHasher((d) => leaves.push(d)).update(pattern(5 * MIB)).digest();
  assert.equal(treeEtagOfLeaves(leaves), sums.treeEtag);
  assert.equal(combineTreeEtags(['8f293a2f6c19b345152f7a49bb4c643c', 'b66f7bda0d9b13d834b1b87ede0a33bb']),
    '063515434B8FC89318BC40C066B88DB2');
  assert.equal(combineTreeEtags([]), '');
});
