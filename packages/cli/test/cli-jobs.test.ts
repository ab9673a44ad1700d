// Job commands: createjob (range rules, inventory), getjobdesc, listjob, wait, cp, and
// fetch of a job that is still in progress.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { json, oneLine, startHarness, type Harness } from './helpers/cli.js';
import { startS3, type S3Store } from './helpers/s3.js';

const MIB = 1024 * 1024;
const SIZE = 8 * MIB + 3;
let h: Harness;
let idle: Harness;
let s3: S3Store;
let archiveId: string;
/** The OSS hosts the tests name; the server maps them all to one local S3 store (s3rver). */
const OSS_HOSTS = ['oss-cn-hangzhou.aliyuncs.com', 'oss-cn-beijing.aliyuncs.com', 'oss-cn-qingdao.aliyuncs.com', 'oss-x'];

before(async () => {
  s3 = await startS3(['bucket']);
  h = await startHarness({ ossHosts: s3.ossHosts(OSS_HOSTS) });
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
  await s3?.stop();
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
  assert.match(whole.stdout, /Job status: (InProgress|Succeeded)\./);
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
  // There is no object oss://bucket/o: the pull job fails.
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
});

test('fetch of a failed job: exit 1 with one line carrying the job\'s StatusMessage, with or without --wait', async () => {
  // There is no object oss://bucket/o: the pull job fails.
  const job = json<JobJson>(await h.run(['cp', 'oss://bucket/o', 'oas://jobs', '--osshost', 'oss-x', '--json']));
  const id = String(job.JobId);
  const waited = await h.run(['fetch', 'oas://jobs', id, join(h.dir, 'failed.out'), '--wait', '--interval', '0.05']);
  const described = await describe(id);
  assert.equal(described.StatusCode, 'Failed');
  const message = String(described.StatusMessage);
  assert.ok(message.length > 0);
  assert.equal(waited.code, 1);
  assert.match(waited.stderr, new RegExp(`(^|\n)oascmd: job ${id} failed: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n$`));
  const fetched = await h.run(['fetch', 'oas://jobs', id, join(h.dir, 'failed.out')]);
  assert.equal(fetched.code, 1);
  assert.equal(fetched.stderr, `oascmd: job ${id} failed: ${message}\n`);
  assert.equal(fetched.stdout, '');
  await assert.rejects(access(join(h.dir, 'failed.out')));
  const asJson = await h.run(['fetchjoboutput', 'oas://jobs', id, join(h.dir, 'failed.out'), '--json']);
  assert.equal(asJson.code, 1);
  assert.deepEqual(json(asJson), { error: { code: 'CliError', message: `job ${id} failed: ${message}`, exitCode: 1 } });
});

test('cp --wait: a push and a pull through a real S3 store, then fetch gives the archive back; a failed copy is exit 1', async () => {
  const failedPull = await h.run(['cp', 'oss://bucket/no-such-object', 'oas://jobs', '--osshost', 'oss-x', '--wait', '--interval', '0.05']);
  assert.equal(failedPull.code, 1);
  const failedId = /^oss transfer job created, job ID: ([0-9A-F]{32})\n$/.exec(failedPull.stdout)?.[1];
  assert.ok(failedId, failedPull.stdout);
  const failure = await describe(failedId);
  assert.equal(failure.StatusCode, 'Failed');
  assert.ok(failedPull.stderr.endsWith(`oascmd: job ${failedId} failed: ${failure.StatusMessage}\n`), failedPull.stderr);

  const push = await h.run(['cp', `oas://jobs/${archiveId}`, 'oss://bucket/copies/a.bin', '--osshost', 'oss-x', '--wait', '--interval', '0.05']);
  assert.equal(push.code, 0, push.stderr);
  assert.match(push.stdout, /^oss transfer job created, job ID: [0-9A-F]{32}\nCopied to oss:\/\/bucket\/copies\/a\.bin\n$/);

  const pull = await h.run(['cp', 'oss://bucket/copies/a.bin', 'oas://jobs', '--osshost', 'oss-x', '--wait', '--interval', '0.05', '--json']);
  assert.equal(pull.code, 0, pull.stderr);
  const pulled = json<JobJson>(pull);
  assert.deepEqual([pulled.Action, pulled.StatusCode, pulled.Completed], ['PullFromOSS', 'Succeeded', true]);
  assert.match(String(pulled.ArchiveId), /^[0-9A-F]{32}$/);
  assert.notEqual(pulled.ArchiveId, archiveId);
  assert.match(pull.stderr, new RegExp(`oss transfer job created, job ID: ${pulled.JobId}\n`));

  const job = json<JobJson>(await h.run(['createjob', 'oas://jobs', String(pulled.ArchiveId), '--json']));
  const out = join(h.dir, 'pulled.bin');
  const fetched = await h.run(['fetch', 'oas://jobs', String(job.JobId), out, '--wait', '--interval', '0.05']);
  assert.equal(fetched.code, 0, fetched.stderr);
  assert.ok((await readFile(out)).equals(pattern(SIZE)));
});
