import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MIB, ChecksumHasher, hashBuffer } from '../src/protocol/etag.js';
import {
  ParallelChecksumHasher, configureLeafWorker, hashFile, hashStreamParallel, leafWorkerStats, stopLeafWorker,
} from '../src/protocol/hash-file.js';
import { LeafBuffer } from '../src/protocol/pool-hasher.js';
import { pattern } from './helpers/pattern.js';

const dir = mkdtempSync(join(tmpdir(), 'oas-hash-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writeTemp(name: string, data: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

/** Raw leaf digests as ChecksumHasher reports them (the reference). */
function referenceLeaves(data: Uint8Array): Buffer[] {
  const leaves: Buffer[] = [];
  new ChecksumHasher((d) => leaves.push(d)).update(data).digest();
  return leaves;
}

/** Resolves once no leaf work is in flight and every slot is back in the pool. */
async function poolIdle(): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const s = leafWorkerStats();
    if (s.inflight === 0 && s.free === s.slots) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`leaf pool did not settle: ${JSON.stringify(leafWorkerStats())}`);
}

const random = randomBytes(40 * MIB + 321);
const randomPath = writeTemp('random.bin', random);

test('hashFile: protocol.md §3 vectors (3 MiB + 5, 10 MiB + 7, 200 MiB and its 64 MiB parts)', async () => {
  const small = writeTemp('p3.bin', pattern(3 * MIB + 5));
  assert.deepEqual(await hashFile(small), {
    etag: '028BFCC1395093C0DF0DC731DE96E1B5', treeEtag: '2B016A0FD13C7CBC62DE133A913C2E6B', size: 3 * MIB + 5,
  });
  const ten = pattern(10 * MIB + 7);
  const tenSums = await hashFile(writeTemp('p10.bin', ten));
  assert.equal(tenSums.treeEtag, 'CF0DA8B83FD87A5261D1B4B1E0D43BDF');
  assert.equal(tenSums.etag, hashBuffer(ten).etag);

  const big = writeTemp('p200.bin', pattern(200 * MIB));
  const progress: number[] = [];
  const whole = await hashFile(big, { onProgress: (n) => progress.push(n) });
  assert.deepEqual(whole, {
    etag: '08C302B6EF23AD605CBCAF1EE27BDB25', treeEtag: '5E863328970BD2F6C6CE6C8CEA5AEB59', size: 200 * MIB,
  });
  assert.equal(progress.at(-1), 200 * MIB);
  assert.ok(progress.length > 2, 'progress is reported along the way');
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i]! > progress[i - 1]!, 'progress only grows');

  assert.deepEqual(await hashFile(big, { offset: 201326592, length: 8388608 }), {
    etag: '99FF6A1CDB3C7E3EAB3D06C1EAF36B32', treeEtag: 'CAA6F82DFF91B76FEBEB319AC12E6D6C', size: 8388608,
  });
  assert.deepEqual(await hashFile(big, { offset: 67108864, length: 67108864 }), {
    etag: '38EF0298E770F72E6F4CCB8E5042E7BB', treeEtag: 'F70BF8B07EDCCA17E395F0084EB83A00', size: 67108864,
  });
});

// Offsets off the MiB grid (leaves count from the offset), lengths around the inline
// threshold (8 MiB), the slot size and partial SIMD lane groups.
const RANGES: Array<[number, number | undefined]> = [
  [0, undefined], [1, undefined], [MIB - 1, 8 * MIB], [MIB + 12345, 8 * MIB - 1], [3 * MIB + 7, 8 * MIB + 1],
  [5, 16 * MIB], [777, 16 * MIB + 3], [2 * MIB, 21 * MIB], [123, 1000], [0, MIB], [MIB, MIB + 1], [99, 0],
  [40 * MIB + 321, undefined], [17, 40 * MIB + 304],
];

for (const engine of ['wasm', 'crypto'] as const) {
  test(`hashFile (${engine} leaves): unaligned ranges equal hashBuffer of the slice, leaves too`, async () => {
    await configureLeafWorker({ wasm: engine === 'wasm' });
    try {
      for (const [offset, length] of RANGES) {
        const slice = random.subarray(offset, length === undefined ? undefined : offset + length);
        const leaves: Array<[number, string]> = [];
        const got = await hashFile(randomPath, { offset, length, leaves: true, onLeaf: (d, i) => leaves.push([i, d.toString('hex')]) });
        const want = hashBuffer(slice);
        const label = `offset ${offset} length ${length}`;
        assert.deepEqual({ etag: got.etag, treeEtag: got.treeEtag, size: got.size }, want, label);
        const ref = referenceLeaves(slice);
        assert.deepEqual(got.leaves, Buffer.concat(ref), label);
        assert.deepEqual(leaves, ref.map((d, i) => [i, d.toString('hex')]), label);
      }
      if (engine === 'wasm') assert.equal(leafWorkerStats().engine, 'wasm-simd');
      else assert.equal(leafWorkerStats().engine, 'node:crypto');
    } finally {
      await configureLeafWorker({ wasm: true });
    }
  });
}

test('hashFile: empty ranges and empty files', async () => {
  const empty = { etag: 'D41D8CD98F00B204E9800998ECF8427E', treeEtag: '', size: 0 };
  assert.deepEqual(await hashFile(writeTemp('empty.bin', new Uint8Array(0))), empty);
  assert.deepEqual(await hashFile(randomPath, { offset: 5 * MIB, length: 0 }), empty);
  assert.deepEqual(await hashFile(randomPath, { offset: random.length }), empty);
  const progress: number[] = [];
  await hashFile(randomPath, { offset: 3, length: 0, onProgress: (n) => progress.push(n) });
  assert.deepEqual(progress, [0]);
});

test('hashFile: clear errors for ranges past the end, bad arguments and missing files', async () => {
  await assert.rejects(hashFile(randomPath, { offset: random.length - 10, length: 11 }), (err: Error) =>
    err instanceof RangeError && /past the end/.test(err.message) && err.message.includes(String(random.length)));
  await assert.rejects(hashFile(randomPath, { offset: random.length + 1 }), /past the end/);
  await assert.rejects(hashFile(randomPath, { offset: -1 }), RangeError);
  await assert.rejects(hashFile(randomPath, { length: 1.5 }), RangeError);
  await assert.rejects(hashFile(join(dir, 'no-such-file')), (err: NodeJS.ErrnoException) =>
    err.code === 'ENOENT' && err.message.includes('no-such-file'));
});

test('hashFile: AbortSignal stops it, before and during the pass, and frees its slots', async () => {
  await assert.rejects(hashFile(randomPath, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  const controller = new AbortController();
  let calls = 0;
  await assert.rejects(
    hashFile(randomPath, { signal: controller.signal, onProgress: () => { if (++calls === 1) controller.abort(); } }),
    { name: 'AbortError' });
  assert.equal(calls, 1);
  await poolIdle();
  // The pool still works afterwards.
  assert.deepEqual(await hashFile(randomPath), hashBuffer(random));
});

test('hashFile with every pool slot taken (its reads go to a private buffer, the whole MD5 still to the chain), and many at once', async () => {
  const held: LeafBuffer[] = [];
  for (let slot = LeafBuffer.acquire(); slot; slot = LeafBuffer.acquire()) held.push(slot);
  try {
    assert.ok(held.length > 0);
    assert.deepEqual(await hashFile(randomPath), hashBuffer(random));
  } finally {
    for (const slot of held) slot.release();
  }
  const ranges = Array.from({ length: 7 }, (_, i) => ({ offset: i * 1001, length: 33 * MIB + i }));
  const results = await Promise.all(ranges.map((r) => hashFile(randomPath, r)));
  results.forEach((got, i) => assert.deepEqual(got, hashBuffer(random.subarray(ranges[i]!.offset, ranges[i]!.offset + ranges[i]!.length)), `range ${i}`));
  await poolIdle();
});

/** Feeds `data` in random chunk sizes through a reused buffer, as a socket's pool would. */
function feedRandomly(hasher: ParallelChecksumHasher, data: Buffer, maxChunk: number): void {
  const scratch = Buffer.alloc(maxChunk);
  for (let at = 0; at < data.length; ) {
    const n = Math.min(data.length - at, 1 + Math.floor(Math.random() ** 3 * maxChunk));
    data.copy(scratch, 0, at, at + n);
    hasher.update(scratch.subarray(0, n));
    scratch.fill(0xa5, 0, n); // the hasher must have copied what it needs
    at += n;
  }
}

test('ParallelChecksumHasher: random chunkings equal hashBuffer; onLeaf in order', async () => {
  const sizes = [0, 1, MIB, 8 * MIB - 1, 8 * MIB, 8 * MIB + 1, 16 * MIB, 24 * MIB + 5, 40 * MIB + 321];
  for (const size of sizes) {
    const data = random.subarray(0, size);
    for (const maxChunk of [64 * 1024, 3 * MIB, 10 * MIB]) {
      const leaves: Array<[number, string]> = [];
      const hasher = new ParallelChecksumHasher({ onLeaf: (d, i) => leaves.push([i, d.toString('hex')]) });
      feedRandomly(hasher, data, maxChunk);
      assert.equal(hasher.size, size);
      assert.deepEqual(await hasher.digest(), hashBuffer(data), `size ${size} chunks up to ${maxChunk}`);
      assert.deepEqual(leaves, referenceLeaves(data).map((d, i) => [i, d.toString('hex')]), `leaves of ${size}`);
    }
  }
  await poolIdle();
});

test('ParallelChecksumHasher: many at once exhaust the slots and fall back to inline leaves', async () => {
  const hashers = Array.from({ length: 6 }, () => new ParallelChecksumHasher());
  const datas = hashers.map((_, i) => random.subarray(i * 1000, i * 1000 + 33 * MIB + i));
  for (let at = 0; at < 34 * MIB; at += 512 * 1024) {
    hashers.forEach((h, i) => { if (at < datas[i]!.length) h.update(datas[i]!.subarray(at, at + 512 * 1024)); });
  }
  const results = await Promise.all(hashers.map((h) => h.digest()));
  results.forEach((r, i) => assert.deepEqual(r, hashBuffer(datas[i]!), `hasher ${i}`));
  await poolIdle();
});

test('ParallelChecksumHasher: destroy frees everything; later calls fail clearly', async () => {
  const hasher = new ParallelChecksumHasher();
  hasher.update(random.subarray(0, 30 * MIB));
  hasher.destroy();
  hasher.destroy(); // idempotent
  assert.throws(() => hasher.update(random.subarray(0, 10)), /after destroy/);
  await assert.rejects(hasher.digest(), /after destroy/);
  await poolIdle();

  const racing = new ParallelChecksumHasher();
  racing.update(random.subarray(0, 40 * MIB));
  const digest = racing.digest();
  racing.destroy();
  await assert.rejects(digest, /destroyed/);
  await poolIdle();
});

test('a stopped or crashed worker fails pending work, and the next hash starts a new one', async () => {
  const hasher = new ParallelChecksumHasher();
  // Ends on a batch boundary, so the last batch was just handed to the worker: stopping
  // it right away (synchronously) catches that batch in flight.
  hasher.update(random.subarray(0, 32 * MIB));
  const stopping = stopLeafWorker();
  hasher.update(random.subarray(32 * MIB, 40 * MIB)); // update itself never throws the worker's failure
  await assert.rejects(hasher.digest(), /stopped/);
  await stopping;
  await poolIdle();
  assert.deepEqual(await hashStreamParallel(Readable.from([random.subarray(0, 20 * MIB)])), hashBuffer(random.subarray(0, 20 * MIB)));
});

test('hashStreamParallel: equals hashBuffer; a failing stream rejects and frees its slots', async () => {
  const data = random.subarray(7, 7 + 29 * MIB + 11);
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += 1_000_003) chunks.push(data.subarray(at, at + 1_000_003));
  assert.deepEqual(await hashStreamParallel(Readable.from(chunks)), hashBuffer(data));
  assert.deepEqual(await hashStreamParallel(Readable.from([])), hashBuffer(Buffer.alloc(0)));

  async function* failing(): AsyncGenerator<Buffer> {
    yield data.subarray(0, 20 * MIB);
    throw new Error('socket reset');
  }
  await assert.rejects(hashStreamParallel(failing()), /socket reset/);
  await poolIdle();
});

test('an idle worker never keeps the process alive (a child process exits on its own)', () => {
  const module = fileURLToPath(new URL('../src/protocol/hash-file.ts', import.meta.url));
  const code = `
    const { ParallelChecksumHasher, hashFile } = await import(${JSON.stringify(module)});
    const a = new ParallelChecksumHasher();
    a.update(Buffer.alloc(30 * 1024 * 1024, 1));
    a.destroy();
    const b = new ParallelChecksumHasher();
    b.update(Buffer.alloc(20 * 1024 * 1024, 2));
    console.log((await b.digest()).size, (await hashFile(${JSON.stringify(randomPath)})).size);`;
  const child = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', code],
    { encoding: 'utf8', timeout: 60_000 });
  assert.equal(child.error, undefined, 'the child exited by itself');
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), `${20 * MIB} ${random.length}`);
});
