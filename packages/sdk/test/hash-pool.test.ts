// The leaf worker pool (hash-worker.ts) and PooledHasher: MD5 and SHA-256 leaves equal
// node:crypto's for any chunking and many callers at once; a worker that dies fails its
// pending work (never a hang); stop and restart work; slots always come back.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { MIB } from '../src/protocol/etag.js';
import { hashLeaves, leafWorkerStats, stopLeafWorker } from '../src/protocol/hash-file.js';
import { leafPool, type LeafAlgorithm } from '../src/protocol/hash-worker.js';
import { PooledHasher } from '../src/protocol/pool-hasher.js';

after(() => stopLeafWorker());

function reference(data: Buffer, alg: LeafAlgorithm): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += MIB) out.push(createHash(alg).update(data.subarray(at, at + MIB)).digest());
  return Buffer.concat(out);
}

function assertIdle(): void {
  const stats = leafWorkerStats();
  assert.equal(stats.inflight, 0, 'nothing left in flight');
  assert.equal(stats.free, stats.slots, 'every slot given back');
}

/**
 * Kills the workers behind the pool's back, as a crash would. A reply to a job that arrives
 * after terminate() began makes the pool (which cannot know of this kill) unref the worker,
 * and the event loop could end before its exit arrives: a timer keeps it alive meanwhile.
 */
async function killWorkers(): Promise<void> {
  const workers = (leafPool as unknown as { workers: ({ worker: { terminate(): Promise<number> } } | undefined)[] }).workers;
  const keepAlive = setInterval(() => {}, 1000);
  try {
    await Promise.all(workers.filter((w) => w !== undefined).map((w) => w.worker.terminate()));
  } finally {
    clearInterval(keepAlive);
  }
}

test('hashLeaves: MD5 and SHA-256 leaves equal node:crypto, full and short leaves', async () => {
  for (const size of [MIB, 3 * MIB + 5, 8 * MIB]) {
    const data = randomBytes(size);
    for (const algorithm of ['md5', 'sha256'] as const) {
      assert.deepEqual(Buffer.concat(await hashLeaves([data], { algorithm })), reference(data, algorithm), `${algorithm}, ${size} bytes`);
    }
  }
  assertIdle();
});

test('PooledHasher: both algorithms of one stream, any chunking, equal node:crypto', async () => {
  const data = randomBytes(41 * MIB + 17);
  for (const step of [MIB, 3 * MIB + 1, 64 * 1024 - 3]) {
    const hasher = new PooledHasher({ algorithms: ['md5', 'sha256'], maxSlots: 2 });
    for (let at = 0; at < data.length; at += step) {
      hasher.update(data.subarray(at, at + step));
      await hasher.ready();
    }
    const got = await hasher.digest();
    assert.equal(hasher.size, data.length);
    assert.deepEqual(got.leaves.get('md5'), reference(data, 'md5'), `md5, step ${step}`);
    assert.deepEqual(got.leaves.get('sha256'), reference(data, 'sha256'), `sha256, step ${step}`);
  }
  assertIdle();
});

test('PooledHasher with contentMd5: the MD5 of all the bytes runs on a worker, any chunking, equal node:crypto', async () => {
  const data = randomBytes(27 * MIB + 5);
  const md5 = createHash('md5').update(data).digest();
  for (const step of [8 * MIB, 64 * 1024 - 3, 5 * MIB + 1]) {
    const hasher = new PooledHasher({ algorithms: ['md5'], maxSlots: 2, contentMd5: true });
    for (let at = 0; at < data.length; at += step) {
      hasher.update(data.subarray(at, at + step));
      await hasher.ready();
    }
    const got = await hasher.digest();
    assert.deepEqual(got.contentMd5, md5, `step ${step}`);
    assert.deepEqual(got.leaves.get('md5'), reference(data, 'md5'));
  }
  // One slot at most: the filling slot is all it holds between batches, and ready() must
  // not wait for it (it used to spin, allocating promises until the heap ran out).
  const single = new PooledHasher({ algorithms: ['md5'], maxSlots: 1, contentMd5: true });
  for (let at = 0; at < data.length; at += MIB) {
    single.update(data.subarray(at, at + MIB));
    await single.ready();
  }
  assert.deepEqual((await single.digest()).contentMd5, md5, 'maxSlots 1');
  const none = await new PooledHasher({ algorithms: ['md5'] }).update(data.subarray(0, MIB)).digest();
  assert.equal(none.contentMd5, undefined, 'not asked for, not computed');
  assertIdle();
});

test('with every slot taken, a hasher with contentMd5 hashes inline and sends its bytes to the chain, never far ahead of it', async () => {
  const taken = [];
  for (let slot = leafPool.acquire(); slot; slot = leafPool.acquire()) taken.push(slot);
  try {
    const data = randomBytes(40 * MIB + 9);
    const hasher = new PooledHasher({ algorithms: ['md5'], contentMd5: true });
    const chain = (hasher as unknown as { chain: { backlog: number } }).chain;
    // 24 MiB at once: the chain is surely behind by more than 16 MiB, so ready() waits for
    // the worker's replies (which must keep the process alive meanwhile).
    hasher.update(data.subarray(0, 24 * MIB));
    const waiting = hasher.ready();
    assert.ok(waiting, 'ready() waits while the chain is behind');
    await waiting;
    let most = 0;
    for (let at = 24 * MIB; at < data.length; at += MIB) {
      hasher.update(data.subarray(at, at + MIB));
      await hasher.ready();
      most = Math.max(most, chain.backlog);
    }
    const got = await hasher.digest();
    assert.deepEqual(got.contentMd5, createHash('md5').update(data).digest());
    assert.deepEqual(got.leaves.get('md5'), reference(data, 'md5'));
    assert.ok(most <= 17 * MIB, `the chain's worker was at most 16 MiB (+ a chunk) behind, got ${most}`);
  } finally {
    for (const slot of taken) leafPool.release(slot);
  }
  assertIdle();
});

test('many concurrent callers: more work than slots and workers, all correct, pool uses several workers', async () => {
  const streams = Array.from({ length: 6 }, (_, i) => randomBytes(20 * MIB + i));
  const batches = Array.from({ length: 20 }, () => randomBytes(8 * MIB));
  const [streamed, batched] = await Promise.all([
    Promise.all(streams.map(async (data) => {
      // No ready(): past its slots a hasher hashes inline (and passes bytes to its MD5
      // chain by message), results stay the same.
      const hasher = new PooledHasher({ algorithms: ['sha256', 'md5'], contentMd5: true });
      for (let at = 0; at < data.length; at += 2 * MIB) hasher.update(data.subarray(at, at + 2 * MIB));
      return hasher.digest();
    })),
    Promise.all(batches.map((b, i) => hashLeaves([b], { algorithm: i % 2 ? 'sha256' : 'md5' }))),
  ]);
  streams.forEach((data, i) => {
    assert.deepEqual(streamed[i]!.leaves.get('md5'), reference(data, 'md5'));
    assert.deepEqual(streamed[i]!.leaves.get('sha256'), reference(data, 'sha256'));
    assert.deepEqual(streamed[i]!.contentMd5, createHash('md5').update(data).digest());
  });
  batches.forEach((b, i) => assert.deepEqual(Buffer.concat(batched[i]!), reference(b, i % 2 ? 'sha256' : 'md5')));
  const stats = leafWorkerStats();
  assert.ok(stats.slots <= 16, `at most 16 slots, got ${stats.slots}`);
  assert.equal(stats.workers, stats.maxWorkers, 'the load spread over every worker the pool may start');
  assertIdle();
});

test('a worker that dies fails its pending work with an error, and the pool recovers', async () => {
  const slot = leafPool.acquire()!;
  slot.data.fill(7, 0, 8 * MIB);
  const settled = new Promise<void>((resolve) => leafPool.submit(slot, 8 * MIB, resolve, { algorithms: ['md5', 'sha256'] }));
  await killWorkers();
  await settled;
  assert.ok(leafPool.settled(slot));
  // Either it finished before the kill (digests right) or it failed with an error naming the worker.
  if (slot.error) assert.match(slot.error.message, /leaf hash worker exited/);
  else assert.deepEqual(leafPool.digest(slot, 0), createHash('md5').update(Buffer.alloc(MIB, 7)).digest());
  leafPool.release(slot);
  assertIdle();
  const data = randomBytes(8 * MIB);
  assert.deepEqual(Buffer.concat(await hashLeaves([data], { algorithm: 'sha256' })), reference(data, 'sha256'));
});

test('a PooledHasher whose workers are stopped rejects digest() instead of hanging; stop then restart', async () => {
  const hasher = new PooledHasher({ algorithms: ['md5', 'sha256'], contentMd5: true });
  hasher.update(randomBytes(24 * MIB));
  const stopping = stopLeafWorker();
  const outcome = await hasher.digest().then(() => 'done', (err: Error) => err.message);
  await stopping;
  assert.ok(outcome === 'done' || /stopped/.test(outcome), outcome);
  assert.equal(leafWorkerStats().workers, 0);
  assertIdle();
  const data = randomBytes(9 * MIB);
  const again = new PooledHasher({ algorithms: ['md5'], contentMd5: true });
  again.update(data);
  const digest = await again.digest();
  assert.deepEqual(digest.leaves.get('md5'), reference(data, 'md5'));
  assert.deepEqual(digest.contentMd5, createHash('md5').update(data).digest());
  assertIdle();
});

test('a worker that dies with an MD5 chain open fails that chain: digest() rejects, other hashers go on', async () => {
  const hasher = new PooledHasher({ algorithms: ['md5'], contentMd5: true });
  hasher.update(randomBytes(9 * MIB));
  await killWorkers();
  await assert.rejects(hasher.digest(), /leaf hash worker exited/);
  const data = randomBytes(10 * MIB);
  const next = new PooledHasher({ algorithms: ['md5'], contentMd5: true });
  next.update(data);
  assert.deepEqual((await next.digest()).contentMd5, createHash('md5').update(data).digest());
  assertIdle();
});

test('destroy gives the slots back once the workers let go of them', async () => {
  const hasher = new PooledHasher({ algorithms: ['md5', 'sha256'], contentMd5: true });
  hasher.update(randomBytes(20 * MIB));
  hasher.destroy();
  await assert.rejects(hasher.digest(), /after destroy/);
  while (leafWorkerStats().inflight > 0) await new Promise((r) => setTimeout(r, 10));
  assertIdle();
});
