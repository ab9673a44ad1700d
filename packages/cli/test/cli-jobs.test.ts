// Job commands: createjob (range rules, inventory), getjobdesc, listjob, wait, cp, and
// fetch of a job that is still in progress.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { json, oneLine, startHarness, type Harness } from './helpers/cli.js';

const MIB = 1024 * 1024;
const SIZE = 8 * MIB + 3;
let h: Harness;
let idle: Harness;
let archiveId: string;

before(async () => {
  h = await startHarness();
  // A server whose jobs wait an hour before they run: they stay InProgress.
  idle = await startHarness({ jobDelayMs: 3_600_000 });
  const file = join(h.dir, 'archive.bin');
  await writeFile(file, pattern(SIZE));
  await h.run(['cv', 'oas://jobs']);
  archiveId = json<{ ArchiveId: string }>(await h.run(['upload', 'oas://jobs', file, '--json'])).ArchiveId;
});
after(async () => {
  await h?.close();
  await idle?.close();
});

type JobJson = Record<string, string | number | boolean>;

async function describe(jobId: string): Promise<JobJson> {
  return json<JobJson>(await h.run(['getjobdesc', 'oas://jobs', jobId, '--json']));
}

test('createjob: whole archive, --start only (to the end), --size only (from 0), both', async () => {
  const whole = await h.run(['createjob', 'oas://jobs', archiveId, '--desc', 'whole']);
  assert.equal(whole.code, 0, whole.stderr);
  const jobId = /^archive-retrieval job created, job ID: ([0-9A-F]{32})\n/.exec(whole.stdout)?.[1];
  assert.ok(jobId, whole.stdout);
  assert.match(whole.stdout, new RegExp(`oascmd fetch oas://jobs ${jobId} <localfile>`));
  assert.match(whole.stdout, /NOTICE: Jobs usually take about 4 HOURS to complete\.\n$/);
  assert.equal((await describe(jobId)).RetrievalByteRange, `0-${SIZE - 1}`);
  assert.equal((await describe(jobId)).JobDescription, 'whole');

  const startOnly = await h.run(['createjob', 'oas://jobs', archiveId, '--start', '2M']);
  assert.equal(startOnly.code, 0, startOnly.stderr);
  assert.match(startOnly.stdout, new RegExp(`^Archive retrieval range: ${2 * MIB}-${SIZE - 1}\n`));
  const cases: Array<[string[], string]> = [
    [['--start', '2M'], `${2 * MIB}-${SIZE - 1}`],
    [['--size', '4M'], `0-${4 * MIB - 1}`],
    [['--start', '1M', '--size', '2M'], `${MIB}-${3 * MIB - 1}`],
  ];
  for (const [args, range] of cases) {
    const job = json<JobJson>(await h.run(['createjob', 'oas://jobs', archiveId, ...args, '--json']));
    assert.equal(job.RetrievalByteRange, range, args.join(' '));
    assert.equal(job.Action, 'ArchiveRetrieval');
  }
  const bad = await h.run(['createjob', 'oas://jobs', archiveId, '--start', '5']);
  assert.equal(bad.code, 1);
  assert.ok(oneLine(bad.stderr), bad.stderr);
  assert.match(bad.stderr, /InvalidArgument/);
});

test('createjob without an archive id starts an inventory retrieval (a range is ignored)', async () => {
  const r = await h.run(['createjob', 'oas://jobs', '--start', '1M']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Tip: Inventory-retrieval does NOT support range, ignored\ninventory-retrieval job created, job ID: [0-9A-F]{32}\n/);
});

test('getjobdesc prints the 14 fields; listjob lists every job', async () => {
  const job = json<JobJson>(await h.run(['createjob', 'oas://jobs', archiveId, '--json']));
  const w = await h.run(['wait', 'oas://jobs', String(job.JobId), '--interval', '0.05']);
  assert.equal(w.code, 0, w.stderr);
  const r = await h.run(['getjobdesc', 'oas://jobs', String(job.JobId)]);
  assert.equal(r.code, 0, r.stderr);
  const keys = r.stdout.trimEnd().split('\n').map((l) => l.split(':')[0]!.trim());
  assert.deepEqual(keys, ['JobId', 'Action', 'StatusCode', 'StatusMessage', 'ArchiveId', 'ArchiveSizeInBytes', 'TreeEtag',
    'ArchiveTreeEtag', 'RetrievalByteRange', 'Completed', 'CompletionDate', 'CreationDate', 'InventorySizeInBytes', 'JobDescription']);
  assert.match(r.stdout, /\n +Completed: True\n/);
  assert.match(r.stdout, /\n +StatusCode: Succeeded\n/);

  const listed = await h.run(['listjob', 'oas://jobs']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /^Marker: \nJob count: \d+\n\n================ JobId: [0-9A-F]{32} ================\n/);
  assert.match(listed.stdout, new RegExp(`JobId: ${job.JobId}`));
  const page = json<{ Marker: string; JobList: unknown[] }>(await h.run(['listjob', 'oas://jobs', '--limit', '2', '--json']));
  assert.equal(page.JobList.length, 2);
  assert.notEqual(page.Marker, '');
});

test('fetch of a job still in progress: a message and exit 0, as the official tool does', async () => {
  await idle.run(['cv', 'oas://slow']);
  const file = join(idle.dir, 'a.bin');
  await writeFile(file, pattern(MIB));
  const id = json<{ ArchiveId: string }>(await idle.run(['upload', 'oas://slow', file, '--json'])).ArchiveId;
  const job = json<JobJson>(await idle.run(['createjob', 'oas://slow', id, '--json']));
  assert.equal(job.Completed, false);
  const r = await idle.run(['fetch', 'oas://slow', String(job.JobId), join(idle.dir, 'out')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'archive-retrieval job still in progress. Repeat this command later (or add --wait)\n');
  const j = json<JobJson>(await idle.run(['fetch', 'oas://slow', String(job.JobId), join(idle.dir, 'out'), '--json']));
  assert.deepEqual(j, { JobId: job.JobId, StatusCode: 'InProgress', Completed: false, Downloaded: false });
});

test('cp starts pull-from-oss and push-to-oss jobs; the OSS host comes from --osshost, the file, or ~/.osscredentials', async () => {
  const pull = await h.run(['cp', 'oss://bucket/dir/object.bin', 'oas://jobs', '--osshost', 'oss-cn-hangzhou.aliyuncs.com']);
  assert.equal(pull.code, 0, pull.stderr);
  const pullId = /^oss transfer job created, job ID: ([0-9A-F]{32})\n/.exec(pull.stdout)?.[1];
  assert.ok(pullId, pull.stdout);
  assert.match(pull.stdout, /and retrieve corresponding Archive ID from job status/);
  const pulled = await describe(pullId);
  assert.equal(pulled.Action, 'PullFromOSS');
  assert.equal(pulled.JobDescription, 'copy from bucket/dir/object.bin');

  // The osshost of the credentials file.
  const withHost = join(h.dir, 'with-osshost.ini');
  await writeFile(withHost, `[OASCredentials]\nhost = 127.0.0.1\nport = ${h.server.port}\naccessid = testid\naccesskey = testsecret\nosshost = oss-cn-beijing.aliyuncs.com\n`);
  const push = await h.run(['cp', `oas://jobs/${archiveId}`, 'oss://bucket/restored.bin', '--config-file', withHost, '--json']);
  assert.equal(push.code, 0, push.stderr);
  const pushed = json<JobJson>(push);
  assert.equal(pushed.Action, 'PushToOSS');
  assert.equal(pushed.ArchiveId, archiveId);
  assert.equal(pushed.JobDescription, 'copy to bucket/restored.bin');

  // ~/.osscredentials as the last resort.
  await writeFile(join(h.home, '.osscredentials'), '[OSSCredentials]\nhost = oss-cn-qingdao.aliyuncs.com\n');
  const fallback = await h.run(['cp', `oas://jobs/${archiveId}`, 'oss://bucket/x', '--desc', 'mine']);
  assert.equal(fallback.code, 0, fallback.stderr);

  const home = join(h.dir, 'bare-home');
  await mkdir(home, { recursive: true });
  const none = await h.run(['cp', 'oss://bucket/o', 'oas://jobs', '--config-file', h.configFile], { env: { HOME: home } });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no OSS host: pass --osshost/);
  const noArchive = await h.run(['cp', 'oas://jobs', 'oss://bucket/o', '--osshost', 'x']);
  assert.equal(noArchive.code, 2);
  assert.match(noArchive.stderr, /expected oas:\/\/vault-name\/archive-id/);
});

test('wait: exit 0 once a job succeeds, exit 1 (after printing it) when it fails', async () => {
  // This server runs no OSS transfers, so a pull job fails at once.
  const job = json<JobJson>(await h.run(['cp', 'oss://bucket/o', 'oas://jobs', '--osshost', 'oss-x', '--json']));
  const r = await h.run(['wait', 'oas://jobs', String(job.JobId), '--interval', '0.05']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, / +StatusCode: Failed\n/);
  assert.match(r.stderr, new RegExp(`oascmd: job ${job.JobId} failed: .+\\n$`));
  const j = await h.run(['wait', 'oas://jobs', String(job.JobId), '--json']);
  assert.equal(j.code, 1);
  assert.equal(json<JobJson>(j).StatusCode, 'Failed');

  const inv = json<JobJson>(await h.run(['createjob', 'oas://jobs', '--json']));
  const ok = await h.run(['wait', 'oas://jobs', String(inv.JobId), '--interval', '0.05', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(json<JobJson>(ok).StatusCode, 'Succeeded');
  const fetched = await h.run(['fetch', 'oas://jobs', String(job.JobId), join(h.dir, 'failed.out')]);
  assert.equal(fetched.code, 1);
  assert.match(fetched.stderr, /job [0-9A-F]{32} failed/);
});
