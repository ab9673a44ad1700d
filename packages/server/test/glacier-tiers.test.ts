// Retrieval tiers: `--glacier-tier-delay` parsing (flag, environment, help), and a server
// whose Expedited jobs wait 5 minutes and Bulk jobs 12 hours of its (hand-moved) clock while
// Standard ones run at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateVaultCommand, DescribeJobCommand, InitiateJobCommand, UploadArchiveCommand } from '@aws-sdk/client-glacier';
import { ConfigError, helpText, parseServeArgs } from '../src/config.js';
import { formatTierDelays, parseTierDelays } from '../src/http/glacier/tiers.js';
import { ManualClock } from './helpers/clock.js';
import { glacierJsClient } from './helpers/glacier-clients.js';
import { ROOT_ID, ROOT_SECRET, startServer } from './helpers/server.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

test('tier delays: Tier=duration lists, unnamed tiers 0, one-line errors', () => {
  assert.deepEqual(parseTierDelays('Expedited=1m,Standard=5h,Bulk=12h'), { Expedited: MIN, Standard: 5 * HOUR, Bulk: 12 * HOUR });
  assert.deepEqual(parseTierDelays('Bulk=30s'), { Expedited: 0, Standard: 0, Bulk: 30_000 });
  assert.deepEqual(parseTierDelays(' Standard=2m  Bulk=1d '), { Expedited: 0, Standard: 2 * MIN, Bulk: 24 * HOUR });
  assert.deepEqual(parseTierDelays(''), { Expedited: 0, Standard: 0, Bulk: 0 });
  assert.throws(() => parseTierDelays('Fast=1m'), /unknown tier 'Fast'/);
  assert.throws(() => parseTierDelays('Bulk'), /Bulk needs a duration/);
  assert.throws(() => parseTierDelays('Bulk=soon'), /Bulk needs a duration/);
  assert.throws(() => parseTierDelays('Bulk=1m,Bulk=2m'), /given twice/);
  assert.equal(formatTierDelays(parseTierDelays('Expedited=90s,Bulk=12h')), 'Expedited=90s,Standard=0,Bulk=12h');
});

test('--glacier-tier-delay and OAS_GLACIER_TIER_DELAY: flag wins, default 0, shown in --help', () => {
  assert.deepEqual(parseServeArgs([], {}).options.glacierTierDelays, { Expedited: 0, Standard: 0, Bulk: 0 });
  const env = { OAS_GLACIER_TIER_DELAY: 'Bulk=12h' };
  assert.deepEqual(parseServeArgs([], env).options.glacierTierDelays, { Expedited: 0, Standard: 0, Bulk: 12 * HOUR });
  assert.deepEqual(parseServeArgs(['--glacier-tier-delay', 'Expedited=1m'], env).options.glacierTierDelays, { Expedited: MIN, Standard: 0, Bulk: 0 });
  assert.throws(() => parseServeArgs(['--glacier-tier-delay', 'Slow=1h'], {}), (err: unknown) =>
    err instanceof ConfigError && /invalid --glacier-tier-delay: "Slow=1h" \(unknown tier 'Slow'/.test(err.message));
  assert.throws(() => parseServeArgs([], { OAS_GLACIER_TIER_DELAY: 'Bulk=x' }), /invalid OAS_GLACIER_TIER_DELAY/);
  assert.match(helpText(), /--glacier-tier-delay <value>\s+extra delay of Glacier retrieval jobs per Tier.*default Expedited=0,Standard=0,Bulk=0, env OAS_GLACIER_TIER_DELAY/);
});

test('a job waits its tier\'s delay: Standard runs at once, Expedited after 5 minutes, Bulk not before 12 hours', async () => {
  const clock = new ManualClock();
  const ts = await startServer({ clock, glacierTierDelays: { Expedited: 5 * MIN, Standard: 0, Bulk: 12 * HOUR } });
  const glacier = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET });
  try {
    const vaultName = 'tiers';
    await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
    const { archiveId } = await glacier.send(new UploadArchiveCommand({ accountId: '-', vaultName, body: Buffer.from('tiered bytes') }));
    const start = async (Tier: string) => (await glacier.send(new InitiateJobCommand({
      accountId: '-', vaultName, jobParameters: { Type: 'archive-retrieval', ArchiveId: archiveId, Tier },
    }))).jobId!;
    const describe = (jobId: string) => glacier.send(new DescribeJobCommand({ accountId: '-', vaultName, jobId }));
    const until = async (jobId: string) => {
      for (let i = 0; i < 400; i++) {
        const job = await describe(jobId);
        if (job.Completed) return job;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`job ${jobId} did not complete`);
    };
    const expedited = await start('Expedited');
    const bulk = await start('Bulk');
    const standard = await start('Standard');
    const vault = (await ts.server.meta.getVaultByName((await ts.server.meta.getAccountByKeyId(ROOT_ID))!.id, vaultName))!;
    const runAfter = async (id: string) => {
      const job = (await ts.server.meta.getJob(vault.id, id, clock.now()))!;
      return job.runAfter - job.createdAt;
    };
    assert.deepEqual([await runAfter(expedited), await runAfter(bulk), await runAfter(standard)], [5 * MIN, 12 * HOUR, 0]);
    // The engine runs due jobs in due order: the Standard job, started last, finishes while the others wait.
    assert.equal((await until(standard)).StatusCode, 'Succeeded');
    assert.equal((await describe(expedited)).StatusCode, 'InProgress');
    clock.advance(5 * MIN); // within the signature clock skew, so the client keeps working
    const done = await until(expedited);
    assert.deepEqual([done.StatusCode, done.Tier], ['Succeeded', 'Expedited']);
    const waiting = await describe(bulk);
    assert.deepEqual([waiting.StatusCode, waiting.Tier], ['InProgress', 'Bulk']);
  } finally {
    glacier.destroy();
    await ts.close();
  }
});
