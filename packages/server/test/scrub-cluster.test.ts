// The scrubber's bookkeeping: the pacer's arithmetic (no timing: a clock that moves only
// when slept on), progress kept in the metadata store across a restart, and two nodes over
// one PostgreSQL database checking each archive once, a dead node's lease passing on.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../src/clock.js';
import { ConfigError, DEFAULT_OPTIONS, resolveOptions } from '../src/config.js';
import { Pacer } from '../src/scrub/pacer.js';
import { Scrubber, type ScrubberOptions } from '../src/scrub/scrubber.js';
import { openFileBlobStore } from '../src/store/blob/file.js';
import { PostgresMetadataStore } from '../src/store/meta/postgres.js';
import { ManualClock } from './helpers/clock.js';
import { startPostgres, type PostgresCluster } from './helpers/postgres.js';
import { startServer, type TestServer } from './helpers/server.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';

const MIB = 1024 * 1024;
const DAY = 24 * 3_600_000;

/** A clock whose time moves only by what is slept (and records each sleep). */
class SleptClock implements Clock {
  time = 1_000_000;
  slept: number[] = [];
  now(): number {
    return this.time;
  }
  sleep(ms: number): Promise<void> {
    this.slept.push(ms);
    this.time += ms;
    return Promise.resolve();
  }
}

function scrubberOn(t: TestServer, clock: Clock, extra: Partial<ScrubberOptions> = {}): Scrubber {
  return new Scrubber({
    meta: t.server.meta, blobs: t.server.blobs, nodeId: 'node-a', clock,
    intervalMs: DAY, bytesPerSecond: 0, leaseMs: 30_000, ...extra,
  });
}

test('the pacer books bytes at the rate and banks no idle time', () => {
  const clock = new ManualClock(0);
  const pacer = new Pacer(10_000_000, clock); // 10 MB/s
  assert.equal(pacer.book(5_000_000), 500, '5 MB at 10 MB/s: wait 500 ms');
  assert.equal(pacer.book(5_000_000), 1000, 'booked behind the first');
  clock.advance(400);
  assert.equal(pacer.book(1_000_000), 700);
  clock.advance(10_000); // idle: no credit for the time nobody read
  assert.equal(pacer.book(2_000_000), 200);
  assert.equal(new Pacer(0, clock).book(1e12), 0, 'rate 0: no limit');
});

test('scrub options: defaults, flags over environment, clear errors', () => {
  assert.deepEqual([DEFAULT_OPTIONS.scrub, DEFAULT_OPTIONS.scrubIntervalMs, DEFAULT_OPTIONS.scrubRate], [true, 30 * DAY, 50]);
  const o = resolveOptions({ 'scrub-rate': '0.5', 'scrub-interval': '7d' }, { OAS_SCRUB: 'off', OAS_SCRUB_RATE: '9' });
  assert.deepEqual([o.scrub, o.scrubIntervalMs, o.scrubRate], [false, 7 * DAY, 0.5]);
  assert.equal(resolveOptions({}, { OAS_SCRUB_RATE: '0' }).scrubRate, 0);
  assert.throws(() => resolveOptions({ 'scrub-rate': 'fast' }, {}), (e: Error) => e instanceof ConfigError && /--scrub-rate: "fast" \(expected MB\/s/.test(e.message));
  assert.throws(() => resolveOptions({ 'scrub-interval': '500ms' }, {}), /scrub interval 500ms \(must be at least 1s\)/);
  assert.throws(() => resolveOptions({ scrub: 'maybe' }, {}), /expected on or off/);
  assert.throws(() => resolveOptions({ 'tls-cert': 'c.pem' }, {}), /--tls-cert and --tls-key must be given together/);
});

let t: TestServer;
let cluster: PostgresCluster;
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  cluster = await startPostgres();
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await cluster.stop();
});

test('a scrubber reads at the scrub rate', async () => {
  t = await startServer({ scrub: false });
  cleanups.push(() => t.close());
  const vault = await t.client.vaultId('paced');
  const sizes = [3 * MIB + 5, 700_000];
  for (const [i, size] of sizes.entries()) await t.client.archiveId(vault, pattern(size, i));
  const clock = new SleptClock();
  const report = await scrubberOn(t, clock, { bytesPerSecond: 2_000_000 }).runPass(clock.now());
  assert.equal(report.checked, 2);
  const total = sizes[0]! + sizes[1]!;
  const slept = clock.slept.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(slept - (total * 1000) / 2_000_000) < 1e-6, `slept ${slept} ms for ${total} bytes at 2 MB/s`);
  assert.ok(clock.slept.length >= 2, 'paced chunk by chunk, not once at the end');
});

test('progress is kept across a restart: a pass resumes where it stopped', async () => {
  const clock = new ManualClock(Date.now());
  const first = await startServer({ scrub: false });
  const vault = await first.client.vaultId('resume');
  for (let i = 0; i < 4; i++) await first.client.archiveId(vault, pattern(1000 + i, i));
  const a = scrubberOn(first, clock);
  await first.server.meta.scrub.enroll();
  const done = [await a.checkNext(clock.now() - DAY), await a.checkNext(clock.now() - DAY)];
  assert.ok(done.every((o) => o !== null && o !== 'error' && o.damage === null));
  await first.stop();

  const again = await startServer({ dataDir: first.dataDir, scrub: false });
  cleanups.push(() => again.close());
  clock.advance(3_600_000);
  const b = scrubberOn(again, clock, { nodeId: 'node-b' });
  const rest = await b.runPass(clock.now() - DAY);
  assert.equal(rest.checked, 2, 'only the two archives the first run had not checked');
  const progress = await again.server.meta.scrub.progress(clock.now() - DAY);
  assert.deepEqual([progress.archives, progress.verified, progress.damaged], [4, 4, 0]);
  clock.advance(DAY + 1);
  assert.equal((await b.runPass(clock.now() - DAY)).checked, 4, 'a day later every archive is due again');
});

test('two nodes over one PostgreSQL database check each archive once; a dead node\'s archive passes on after its lease', async () => {
  const url = await cluster.createDatabase('scrub_nodes');
  const dir = await mkdtemp(join(tmpdir(), 'oas-scrub-blobs-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const node = await startServer({ metadataUri: url, blobsUri: `file:${dir}`, scrub: false });
  cleanups.push(() => node.close());
  const vault = await node.client.vaultId('cluster');
  const ids = new Set<string>();
  for (let i = 0; i < 8; i++) ids.add(await node.client.archiveId(vault, pattern(MIB + 100 * i, 40 + i)));

  const clock = new ManualClock(Date.now());
  // A node that dies holding a lease on one archive.
  await node.server.meta.scrub.enroll();
  const held = await node.server.meta.scrub.claim('node-dead', clock.now(), clock.now() + 30_000, clock.now());
  assert.ok(held);

  const otherMeta = await PostgresMetadataStore.open(url, { poolSize: 2 });
  const otherBlobs = await openFileBlobStore(dir);
  cleanups.push(() => otherMeta.close(), () => otherBlobs.close());
  const seen: string[] = [];
  const onChecked = ({ archive }: { archive: { id: string } }) => { seen.push(archive.id); };
  const a = scrubberOn(node, clock, { nodeId: 'node-a', onChecked });
  const b = new Scrubber({
    meta: otherMeta, blobs: otherBlobs, nodeId: 'node-b', clock, intervalMs: DAY, bytesPerSecond: 0, leaseMs: 30_000, onChecked,
  });
  const due = clock.now();
  const [ra, rb] = await Promise.all([a.runPass(due), b.runPass(due)]);
  assert.equal(ra.checked + rb.checked, 7, `${ra.checked} + ${rb.checked}: every archive but the leased one`);
  assert.equal(new Set(seen).size, seen.length, 'no archive checked twice');
  assert.ok(!seen.includes(held.id));

  clock.advance(30_001); // the dead node's lease runs out
  const late = await b.runPass(due);
  assert.equal(late.checked, 1);
  assert.deepEqual(new Set([...seen]), ids);
  const progress = await otherMeta.scrub.progress(due);
  assert.deepEqual([progress.archives, progress.verified], [8, 8]);
});
