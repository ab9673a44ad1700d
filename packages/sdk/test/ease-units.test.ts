// Pure logic of the high-level layer: sizes, ranges, retry policy, resume planning,
// stream chunking, workers, inventory parsing. No server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { MIB, combineTreeEtags, hashBuffer, treeEtag } from '../src/protocol/etag.js';
import { OASError } from '../src/protocol/errors.js';
import { OASAbortError, OASTransportError } from '../src/client/errors.js';
import {
  GIB, MAX_ARCHIVE_SIZE, calcPartSize, calcPieceSize, splitRanges, isPowerOfTwoMib, isValidPartSize, rangeLength,
} from '../src/ease/sizes.js';
import { backoffDelay, isRetryable, withRetry } from '../src/ease/retry.js';
import { planParts } from '../src/ease/uploader.js';
import { PartMismatchError, ChecksumMismatchError, TransferError } from '../src/ease/errors.js';
import { ChunkReader } from '../src/ease/sources.js';
import { runWorkers, sleep } from '../src/ease/abort.js';
import { parseInventory } from '../src/ease/inventory.js';
import { SubtreeFolder, TreeEtagHasher, hashBytes, treeEtagOfSubtrees, type Subtree } from '../src/ease/hashing.js';
import { ProgressTracker } from '../src/ease/progress.js';
import { toDate } from '../src/ease/model.js';
import { pattern } from './helpers/pattern.js';

test('part size: default 64 MiB, grown to the smallest power of two keeping ≤ 10,000 parts', () => {
  assert.equal(calcPartSize(1), 64 * MIB);
  assert.equal(calcPartSize(undefined), 64 * MIB);
  assert.equal(calcPartSize(10_000 * 64 * MIB), 64 * MIB);
  assert.equal(calcPartSize(10_000 * 64 * MIB + 1), 128 * MIB);
  assert.equal(calcPartSize(1024 * GIB), 128 * MIB);
  assert.equal(calcPartSize(MAX_ARCHIVE_SIZE), 4 * GIB);
  assert.throws(() => calcPartSize(MAX_ARCHIVE_SIZE + 1), /larger than/);
});

test('part size: an explicit size is any multiple of 1 MiB from 1 MiB to 4 GiB needing ≤ 10,000 parts', () => {
  assert.equal(calcPartSize(10 * MIB, MIB), MIB);
  assert.equal(calcPartSize(undefined, 2 * MIB), 2 * MIB);
  // Not only powers of two: oascmd -p 96M, 3M, 4G - 1M.
  for (const ok of [3 * MIB, 96 * MIB, 100 * MIB, 4 * GIB - MIB, 4 * GIB]) assert.equal(calcPartSize(10 * MIB, ok), ok, String(ok));
  assert.equal(calcPartSize(undefined, 96 * MIB), 96 * MIB);
  for (const bad of [0, -MIB, MIB - 1, MIB + 1, 96 * MIB + 512, 4 * GIB + MIB, 8 * GIB, 1.5, NaN]) {
    assert.throws(() => calcPartSize(10 * MIB, bad), /part size must be a multiple of 1 MiB from 1 MiB to 4 GiB/, String(bad));
    assert.equal(isValidPartSize(bad), false, String(bad));
  }
  assert.throws(() => calcPartSize(10_000 * MIB + 1, MIB), /10001 parts.*at most 10000/);
  assert.equal(calcPartSize(10_000 * MIB, MIB), MIB);
  assert.throws(() => calcPartSize(10_000 * 3 * MIB + 1, 3 * MIB), /10001 parts/);
});

test('power-of-two MiB sizes', () => {
  for (const k of [0, 1, 5, 12, 20]) assert.equal(isPowerOfTwoMib(MIB * 2 ** k), true);
  for (const bad of [0, 1, MIB / 2, 3 * MIB, 6 * MIB, MIB + 1, -MIB, NaN]) assert.equal(isPowerOfTwoMib(bad), false, String(bad));
});

test('piece size: 32 MiB by default, grown to keep ≤ 10,000 pieces', () => {
  assert.equal(calcPieceSize(1), 32 * MIB);
  assert.equal(calcPieceSize(10_000 * 32 * MIB), 32 * MIB);
  assert.equal(calcPieceSize(10_000 * 32 * MIB + 1), 64 * MIB);
  assert.equal(calcPieceSize(100 * MIB, 2 * MIB), 2 * MIB);
  assert.throws(() => calcPieceSize(100, 3 * MIB), /1 MiB × 2\^k/);
});

test('splitting into inclusive ranges', () => {
  assert.deepEqual(splitRanges(10, 4), [{ start: 0, end: 3 }, { start: 4, end: 7 }, { start: 8, end: 9 }]);
  assert.deepEqual(splitRanges(8, 4), [{ start: 0, end: 3 }, { start: 4, end: 7 }]);
  assert.deepEqual(splitRanges(0, 4), []);
  assert.deepEqual(splitRanges(5, 4, 100), [{ start: 100, end: 103 }, { start: 104, end: 104 }]);
  const ranges = splitRanges(200 * MIB, 64 * MIB);
  assert.equal(ranges.length, 4);
  assert.deepEqual(ranges[1], { start: 67108864, end: 134217727 });
  assert.equal(ranges.reduce((n, r) => n + rangeLength(r), 0), 200 * MIB);
});

test('retry policy: network, 5xx (but StorageFull) and InvalidDigest yes; other client errors and aborts no', () => {
  const target = { operation: 'x', method: 'GET', host: 'h', port: 1, path: '/' };
  assert.equal(isRetryable(new OASTransportError(target, 'reset', Object.assign(new Error('x'), { code: 'ECONNRESET' }))), true);
  assert.equal(isRetryable(Object.assign(new Error('socket'), { code: 'ECONNRESET' })), true);
  assert.equal(isRetryable(new OASError(500, 'InternalError', 'x', 'server')), true);
  assert.equal(isRetryable(new OASError(503, 'ServiceUnavailable', 'x', 'server')), true);
  assert.equal(isRetryable(OASError.of('StorageFull', 'x')), false, 'a full server waits for its operator, not for a resend');
  assert.equal(isRetryable(new OASError(400, 'InvalidDigest', 'x', 'client')), true);
  assert.equal(isRetryable(new OASError(400, 'InvalidArgument', 'x', 'client')), false);
  assert.equal(isRetryable(new OASError(404, 'VaultNotExist', 'x', 'client')), false);
  assert.equal(isRetryable(new OASError(403, 'SignatureDoesNotMatch', 'x', 'client')), false);
  assert.equal(isRetryable(new OASAbortError('x')), false);
  assert.equal(isRetryable(new TypeError('bug')), false);
  assert.equal(isRetryable(new TransferError('cut short')), true);
  assert.equal(isRetryable(new ChecksumMismatchError('m', null, 'A', 'B', true)), true);
  assert.equal(isRetryable(new PartMismatchError({ start: 0, end: 9 }, '')), false);
});

test('backoff: full jitter under an exponentially growing cap', () => {
  const opts = { baseDelayMs: 100, maxDelayMs: 1000 };
  assert.equal(backoffDelay(1, opts, () => 0), 0);
  assert.equal(backoffDelay(1, opts, () => 0.999999), 99);
  assert.equal(backoffDelay(2, opts, () => 0.999999), 199);
  assert.equal(backoffDelay(4, opts, () => 0.999999), 799);
  assert.equal(backoffDelay(5, opts, () => 0.999999), 999);
  assert.equal(backoffDelay(30, opts, () => 0.999999), 999);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(3, opts);
    assert.ok(d >= 0 && d < 400);
  }
});

test('withRetry: retries retryable errors up to the attempts, stops at the first final one', async () => {
  const fast = { baseDelayMs: 1, maxDelayMs: 2 };
  let calls = 0;
  const result = await withRetry(async (attempt) => {
    calls++;
    if (attempt < 3) throw new OASError(500, 'InternalError', 'boom', 'server');
    return 'ok';
  }, fast);
  assert.equal(result, 'ok');
  assert.equal(calls, 3);

  calls = 0;
  await assert.rejects(withRetry(async () => {
    calls++;
    throw new OASError(503, 'ServiceUnavailable', 'busy', 'server');
  }, { ...fast, attempts: 4 }), { code: 'ServiceUnavailable' });
  assert.equal(calls, 4);

  calls = 0;
  await assert.rejects(withRetry(async () => {
    calls++;
    throw new OASError(404, 'ArchiveNotExist', 'gone', 'client');
  }, fast), { code: 'ArchiveNotExist' });
  assert.equal(calls, 1);

  const retries: number[] = [];
  calls = 0;
  await withRetry(async () => {
    if (++calls === 1) throw new OASError(400, 'InvalidDigest', 'bad', 'client');
  }, { ...fast, onRetry: ({ attempt }) => retries.push(attempt) });
  assert.deepEqual(retries, [1]);
});

test('withRetry: an abort ends the backoff wait at once with an AbortError', async () => {
  const controller = new AbortController();
  const pending = withRetry(async () => {
    setImmediate(() => controller.abort());
    throw new OASError(500, 'InternalError', 'x', 'server');
  }, { baseDelayMs: 3_600_000, maxDelayMs: 3_600_000 }, controller.signal);
  // Math.random could pick ~0 ms; either way it must end as an abort, not a retry.
  await assert.rejects(pending, { name: 'AbortError' });
  await assert.rejects(withRetry(async () => 1, {}, AbortSignal.abort()), { name: 'AbortError' });
});

test('sleep is abortable', async () => {
  const c = new AbortController();
  const p = sleep(3_600_000, c.signal);
  c.abort();
  await assert.rejects(p, { name: 'AbortError' });
});

test('resume planning: missing parts, and listed parts that cannot belong to the file', () => {
  const part = (start: number, end: number) => ({ range: { start, end }, contentEtag: 'A', treeEtag: 'B' });
  const size = 5 * MIB + 3;
  assert.deepEqual(planParts(2 * MIB, size, []), splitRanges(size, 2 * MIB));
  assert.deepEqual(planParts(2 * MIB, size, [part(2 * MIB, 4 * MIB - 1)]),
    [{ start: 0, end: 2 * MIB - 1 }, { start: 4 * MIB, end: size - 1 }]);
  assert.deepEqual(planParts(2 * MIB, size, [part(0, 2 * MIB - 1), part(2 * MIB, 4 * MIB - 1), part(4 * MIB, size - 1)]), []);
  // A part of another size, a part past the end, a last part of another file size.
  assert.throws(() => planParts(2 * MIB, size, [part(0, MIB - 1)]), (e: unknown) =>
    e instanceof PartMismatchError && /part 0-1048575 on the server does not match the local file/.test(e.message));
  assert.throws(() => planParts(2 * MIB, size, [part(6 * MIB, 8 * MIB - 1)]), PartMismatchError);
  assert.throws(() => planParts(2 * MIB, size, [part(4 * MIB, 6 * MIB - 1)]), PartMismatchError);
  assert.throws(() => planParts(2 * MIB, size, [part(MIB, 3 * MIB - 1)]), PartMismatchError);
});

async function* chunks(sizes: number[]): AsyncGenerator<Uint8Array> {
  let offset = 0;
  for (const n of sizes) {
    yield pattern(n, offset);
    offset += n;
  }
}

test('ChunkReader fills buffers across chunk boundaries', async () => {
  const reader = new ChunkReader(chunks([3, 10, 1, 7]));
  const a = Buffer.alloc(5);
  assert.equal(await reader.fill(a), 5);
  assert.deepEqual(a, pattern(5));
  const b = Buffer.alloc(10);
  assert.equal(await reader.fill(b), 10);
  assert.deepEqual(b, pattern(10, 5));
  assert.equal(await reader.hasMore(), true);
  const c = Buffer.alloc(10);
  assert.equal(await reader.fill(c), 6);
  assert.deepEqual(c.subarray(0, 6), pattern(6, 15));
  assert.equal(await reader.fill(c), 0);
  assert.equal(reader.position, 21);
});

test('ChunkReader peek keeps the bytes for later fills; object-mode Readables of buffers work, of strings fail', async () => {
  const reader = new ChunkReader(chunks([4, 4, 4]));
  const probe = await reader.peek(5);
  assert.equal(probe.ended, false);
  assert.equal(probe.total, 8);
  const all = Buffer.alloc(20);
  assert.equal(await reader.fill(all), 12);
  assert.deepEqual(all.subarray(0, 12), pattern(12));

  const small = new ChunkReader(chunks([2, 2]));
  const p2 = await small.peek(10);
  assert.equal(p2.ended, true);
  assert.equal(p2.total, 4);

  const buffers = new ChunkReader(Readable.from([Buffer.from('ab'), Buffer.from('cd')]));
  const out = Buffer.alloc(4);
  assert.equal(await buffers.fill(out), 4);
  assert.equal(out.toString(), 'abcd');

  const text = new ChunkReader(Readable.from(['ab', 'cd'], { objectMode: true }));
  await assert.rejects(text.fill(out), (e: Error) => e instanceof TypeError && /yielded a string \("ab"\), not bytes/.test(e.message));
});

test('ChunkReader: abort while waiting for data', async () => {
  const never = { [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Uint8Array>>(() => {}) }) };
  const reader = new ChunkReader(never);
  const c = new AbortController();
  const p = reader.fill(Buffer.alloc(4), c.signal);
  c.abort();
  await assert.rejects(p, { name: 'AbortError' });
});

test('runWorkers: the first failure stops the others and is the one thrown', async () => {
  const stopped: number[] = [];
  await assert.rejects(runWorkers(3, undefined, async (signal, i) => {
    if (i === 1) throw new Error('worker 1 failed');
    await sleep(3_600_000, signal).catch((e: unknown) => {
      stopped.push(i);
      throw e;
    });
  }), /worker 1 failed/);
  assert.deepEqual(stopped.sort(), [0, 2]);
});

test('tree etag hasher matches the protocol on the protocol.md §3.3 vectors', async () => {
  for (const n of [1, 1000, MIB - 1, MIB, MIB + 1, 3 * MIB + 5, 5 * MIB]) {
    const data = pattern(n);
    const h = new TreeEtagHasher();
    for (let at = 0; at < n; at += 70_000) h.update(data.subarray(at, at + 70_000));
    assert.equal(h.digest(), treeEtag(data), String(n));
  }
  assert.equal(new TreeEtagHasher().update(pattern(3 * MIB + 5)).digest(), '2B016A0FD13C7CBC62DE133A913C2E6B');
  const sums = await hashBytes(pattern(5 * MIB));
  assert.deepEqual(sums, { etag: '4C28640DC8DF1933AAEA192100D50AE0', treeEtag: 'DC4530AD763DB8493C5BD3A6A2650CA3', size: 5 * MIB });
  const big = await hashBytes(pattern(10 * MIB + 7));
  assert.equal(big.treeEtag, 'CF0DA8B83FD87A5261D1B4B1E0D43BDF');
});

/** Folds `data` in parts of `partSize` the way the uploader does, in any part order. */
function subtreesOf(data: Buffer, partSize: number): Subtree[][] {
  const parts: Subtree[][] = [];
  for (let start = 0; start < data.length; start += partSize) {
    const folder = new SubtreeFolder(start / MIB);
    const part = data.subarray(start, Math.min(start + partSize, data.length));
    for (let at = 0; at < part.length; at += MIB) folder.push(hashBuffer(part.subarray(at, at + MIB)).etag);
    parts.push(folder.nodes);
  }
  return parts;
}

test('archive tree etag from part subtrees: any MiB-multiple part size gives the whole-data tree etag (protocol.md §3.4)', () => {
  // The table of protocol.md §3.4: 10 MiB + 7 in 3 MiB parts combines to 22A6…, the data's tree etag is CF0D….
  const data = pattern(10 * MIB + 7);
  const parts = subtreesOf(data, 3 * MIB);
  assert.equal(parts.length, 4);
  const partEtags = splitRanges(data.length, 3 * MIB).map((r) => treeEtag(data.subarray(r.start, r.end + 1)));
  assert.equal(combineTreeEtags(partEtags), '22A6C28BB2DB230C9A96FA49A21B68E9');
  assert.equal(treeEtagOfSubtrees(parts.flat()), 'CF0DA8B83FD87A5261D1B4B1E0D43BDF');
  // A part at leaf 3 of 3 leaves: leaf 3 alone (a right child), then 4-5 as one subtree.
  assert.deepEqual(parts[1]!.map(({ first, level }) => [first, level]), [[3, 0], [4, 1]]);
  // Every shape against the tree over all leaves, including power-of-two sizes (one subtree each).
  for (const [size, partMib] of [[MIB, 1], [7 * MIB, 3], [13 * MIB + 1, 5], [16 * MIB, 6], [17 * MIB - 3, 7], [12 * MIB, 4], [9 * MIB + 9, 2]] as const) {
    const d = pattern(size, partMib);
    const nodes = subtreesOf(d, partMib * MIB);
    assert.equal(treeEtagOfSubtrees(nodes.flat()), treeEtag(d), `${size} in ${partMib} MiB parts`);
    if (isPowerOfTwoMib(partMib * MIB)) assert.ok(nodes.slice(0, -1).every((n) => n.length === 1), `${partMib} MiB parts are single subtrees`);
  }
  assert.equal(treeEtagOfSubtrees([]), '');
  assert.throws(() => treeEtagOfSubtrees([parts[0]!, parts[2]!].flat()), /does not follow/);
});

test('inventory parsing', () => {
  const inv = parseInventory(JSON.stringify({
    VaultId: 'V1', InventoryDate: 'Tue, 25 Mar 2014 12:00:00 GMT',
    ArchiveList: [
      { ArchiveId: 'A1', ArchiveDescription: 'first', CreationDate: 'Tue, 18 Mar 2014 22:06:47 GMT', Size: 3, TreeEtag: 'abc' },
      { ArchiveId: 'A2', ArchiveDescription: '', CreationDate: 'Wed, 19 Mar 2014 22:06:47 GMT', Size: 10, TreeEtag: 'DEF' },
    ],
  }));
  assert.equal(inv.vaultId, 'V1');
  assert.equal(inv.inventoryDate.toISOString(), '2014-03-25T12:00:00.000Z');
  assert.equal(inv.archives.length, 2);
  assert.deepEqual(inv.archives[0], { archiveId: 'A1', description: 'first', creationDate: new Date('2014-03-18T22:06:47Z'), size: 3, treeEtag: 'ABC' });
  assert.equal(inv.archives[1]!.description, null);
  assert.throws(() => parseInventory('{"VaultId":"x"}'), /ArchiveList/);
  assert.throws(() => parseInventory('{"VaultId":"x","InventoryDate":"soon","ArchiveList":[]}'), /InventoryDate/);
});

test('progress counts in-flight bytes and takes them back on a retry', () => {
  const seen: Array<[number, number | null]> = [];
  const p = new ProgressTracker(100, ({ done, total }) => seen.push([done, total]));
  p.add(0, 10);
  p.add(1, 5);
  p.reset(0);
  p.finish(1, 50);
  p.finish(0, 50);
  assert.deepEqual(seen, [[10, 100], [15, 100], [5, 100], [50, 100], [100, 100]]);
});

test('dates: RFC 1123, empty and garbage', () => {
  assert.equal(toDate('Tue, 25 Mar 2014 12:00:00 GMT')?.getTime(), Date.UTC(2014, 2, 25, 12));
  assert.equal(toDate(''), null);
  assert.equal(toDate('not a date'), null);
});
