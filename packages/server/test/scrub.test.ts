// The scrubber (src/scrub/): every stored archive is re-read against its 1 MiB leaf
// checksums in the background. A flipped byte is found without anyone asking for the
// archive, shows in /metrics and in `oas-server scrub` (exit 3), the archive's retrieval
// jobs and job output say it is damaged, and repairing it clears the finding. Runs on the
// backend OAS_TEST_BACKEND selects (scrub-s3rver.test.ts runs it on PostgreSQL + s3rver).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { corruptBlobByte } from './helpers/backends.js';
import { ManualClock } from './helpers/clock.js';
import { runCli } from './helpers/cli.js';
import { startServer, type TestServer } from './helpers/server.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import type { Scrubber } from '../src/scrub/scrubber.js';

const MIB = 1024 * 1024;
const DAY = 24 * 3_600_000;

let t: TestServer;
let clock: ManualClock;
let scrubber: Scrubber;
let vault: string;
let other: string;
const data = [pattern(2 * MIB + 300, 1), pattern(MIB + 7, 2), pattern(1000, 3)];
let ids: string[];
let blobOf: string;

async function metric(name: string): Promise<number> {
  clock.advance(60_000); // past the scrubber's reuse of the store's counts
  const res = await t.client.request({ method: 'GET', path: '/metrics', sign: false });
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(res.text);
  assert.ok(m, `${name} is exposed`);
  return Number(m[1]);
}

before(async () => {
  // The server's clock stands well before the real one, which `oas-server scrub` uses: the
  // command's checks then count as the most recent ones.
  clock = new ManualClock(Date.now() - 30 * DAY);
  // No rate cap here: the pacer waits on the server's clock, which only the test moves.
  t = await startServer({ clock, maxSkewMs: 1000 * DAY, jobOutputTtlMs: 100 * DAY, scrubIntervalMs: DAY, scrubRate: 0, scrubIdleMs: 60_000 });
  scrubber = t.server.scrubber!;
  vault = await t.client.vaultId('scrub-me');
  other = await t.client.vaultId('scrub-other');
  ids = [await t.client.archiveId(vault, data[0]!), await t.client.archiveId(vault, data[1]!), await t.client.archiveId(other, data[2]!)];
  blobOf = (await t.server.meta.getSegments(ids[0]!))[0]!.blobKey;
});

after(() => t.close());

let checkedAt: number;

test('a background pass checks every archive once and records when', async () => {
  assert.ok(scrubber, 'the scrubber runs by default');
  await scrubber.wake();
  assert.equal(await metric('oas_scrub_archives_verified_total'), 3);
  assert.equal(await metric('oas_scrub_bytes_verified_total'), data.reduce((n, d) => n + d.length, 0));
  assert.equal(await metric('oas_scrub_pass_progress'), 1);
  assert.equal(await metric('oas_scrub_archives_damaged'), 0);
  checkedAt = (await t.server.meta.scrub.get(ids[0]!))!.verifiedAt;
  assert.equal(await metric('oas_scrub_oldest_verified_timestamp_seconds'), checkedAt / 1000);
  for (const id of ids) {
    const state = await t.server.meta.scrub.get(id);
    assert.deepEqual([state?.verifiedAt, state?.damage], [checkedAt, null]);
  }
  // Nothing is due again before the interval has passed.
  clock.advance(DAY / 2);
  await scrubber.wake();
  assert.equal(await metric('oas_scrub_archives_verified_total'), 3);
  assert.equal(await metric('oas_scrub_pass_progress'), 1);
});

test('a flipped byte is found by the next pass, named in /metrics, the command and the jobs; repairing it clears it', async () => {
  // A retrieval that succeeded before the rot: its output is read again from the archive.
  const before = await t.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: ids[0] });
  assert.equal((await t.client.waitJob(vault, before)).StatusCode, 'Succeeded');

  await corruptBlobByte(t.dataDir, blobOf, 10); // first leaf
  try {
    clock.advance(DAY);
    await scrubber.wake();
    assert.equal(await metric('oas_scrub_archives_verified_total'), 6);
    assert.equal(await metric('oas_scrub_archives_damaged'), 1);
    assert.equal(await metric('oas_scrub_damage_found_total'), 1);
    const state = await t.server.meta.scrub.get(ids[0]!);
    assert.ok(state!.verifiedAt > checkedAt);
    assert.match(state?.damage ?? '', new RegExp(`bytes 0-${MIB - 1} of archive ${ids[0]} do not match their stored checksum`));
    assert.equal((await t.server.meta.scrub.get(ids[1]!))?.damage, null);

    // A new retrieval job fails, saying the archive is damaged.
    const job = await t.client.waitJob(vault, await t.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: ids[0] }));
    assert.equal(job.StatusCode, 'Failed');
    assert.match(job.StatusMessage, /^Data corruption detected: bytes 0-1048575 of archive [0-9A-F]+ do not match their stored checksum\. The archive is damaged/);
    // The earlier job's output is refused with an error that says why, not a bare fault.
    const out = await t.client.get(`/vaults/${vault}/jobs/${before}/output`);
    assert.equal(out.status, 500);
    assert.equal(out.json.code, 'InternalError');
    assert.match(out.json.message, /do not match their stored checksum; the stored data is damaged and is not served/);

    // The command: checks now, lists the damaged archive, exits 3; other vaults are clean.
    const all = await runCli(['scrub', '--data-dir', t.dataDir, '--now', '--scrub-rate', '0']);
    assert.equal(all.code, 3, all.stderr + all.stdout);
    assert.match(all.stdout, /checked 3 archives/);
    assert.match(all.stdout, new RegExp(`1 damaged archives:\\n  ${ids[0]}\\tvault ${vault}\\t${data[0]!.length} bytes\\tchecked \\S+\\tbytes 0-`));
    const clean = await runCli(['scrub', '--data-dir', t.dataDir, '--vault', 'scrub-other', '--now']);
    assert.equal(clean.code, 0, clean.stderr + clean.stdout);
    assert.match(clean.stdout, /checked 1 archives \(1000 bytes\)[\s\S]*no damaged archives/);
    const missing = await runCli(['scrub', '--data-dir', t.dataDir, '--vault', 'no-such-vault']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^oas-server: no vault named "no-such-vault"\n$/m);
  } finally {
    await corruptBlobByte(t.dataDir, blobOf, 10); // flips it back
  }
  // Without --now only archives not checked within the interval are read: none.
  const due = await runCli(['scrub', '--data-dir', t.dataDir]);
  assert.equal(due.code, 3, 'the finding stands until the archive is checked again');
  assert.match(due.stdout, /checked 0 archives/);
  const repaired = await runCli(['scrub', '--data-dir', t.dataDir, '--now']);
  assert.equal(repaired.code, 0, repaired.stdout);
  assert.match(repaired.stdout, /checked 3 archives[\s\S]*no damaged archives/);
  assert.equal(await metric('oas_scrub_archives_damaged'), 0, 'a clean check clears the finding');
  assert.equal((await t.server.meta.scrub.get(ids[0]!))?.damage, null);
});

test('a missing blob is damage too', async () => {
  const id = await t.client.archiveId(vault, pattern(5000, 9));
  const key = (await t.server.meta.getSegments(id))[0]!.blobKey;
  await t.server.blobs.delete(key);
  await scrubber.wake();
  const state = await t.server.meta.scrub.get(id);
  assert.match(state?.damage ?? '', /could not be read|missing/);
  assert.equal(await metric('oas_scrub_archives_damaged'), 1);
  // Deleting the archive takes it out of the findings.
  assert.equal((await t.client.del(`/vaults/${vault}/archives/${id}`)).status, 204);
  assert.equal(await metric('oas_scrub_archives_damaged'), 0);
});
