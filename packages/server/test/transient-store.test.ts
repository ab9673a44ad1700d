// A store the server cannot reach for the moment (an S3 service answering 503, behind a
// real proxy on loopback in front of s3rver): requests are answered 503 ServiceUnavailable,
// which clients retry, and jobs run again later instead of failing, within the engine's
// budget of attempts. What a retry cannot cure still fails at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { isTransientStoreError } from '../src/store/transient.js';
import { StorageFullError } from '../src/store/storage-full.js';
import { assertError } from './helpers/assert.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { startS3rver } from './helpers/s3rver.js';
import { startServer, tempDir, type TestServer } from './helpers/server.js';

const MIB = 1024 * 1024;
const DATA = randomBytes(3 * MIB + 17);
/** What S3 answers when it is overloaded. */
const SLOW_DOWN = { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' };

/** A server whose blobs are on s3rver behind `proxy`. */
async function withS3BehindProxy(run: (ctx: { t: TestServer; proxy: FaultProxy }) => Promise<void>): Promise<void> {
  const s3 = await startS3rver();
  const proxy = await startFaultProxy(s3.endpoint);
  const dir = await tempDir('oas-job-retry-');
  let t: TestServer | undefined;
  try {
    await s3.createBucket('retry');
    t = await startServer({
      dataDir: dir, metadataUri: `sqlite:${join(dir, 'meta.sqlite')}`,
      blobsUri: `s3://retry/node?endpoint=${encodeURIComponent(proxy.endpoint)}&path-style=true`,
      s3AccessKeyId: s3.accessKeyId, s3SecretAccessKey: s3.secretAccessKey, s3Region: s3.region,
      jobRetryDelayMs: 100,
    });
    proxy.errorReply = SLOW_DOWN;
    await run({ t, proxy });
  } finally {
    await t?.close();
    await proxy.stop();
    await s3.stop();
  }
}

/** One archive of DATA stored, then every read of the store failing, and a retrieval job of it created. */
function withUnreachableReads(run: (ctx: { t: TestServer; proxy: FaultProxy; vault: string; job: string }) => Promise<void>): Promise<void> {
  return withS3BehindProxy(async ({ t, proxy }) => {
    const vault = await t.client.vaultId('retry');
    const archive = await t.client.archiveId(vault, DATA);
    proxy.rule = ({ method }) => (method === 'GET' || method === 'HEAD' ? 's3-error' : 'pass');
    const job = await t.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: archive });
    await run({ t, proxy, vault, job });
  });
}

test('an upload while the store answers 503 is answered 503 ServiceUnavailable and leaves no archive; the same upload goes in once the store answers', async () => {
  await withS3BehindProxy(async ({ t, proxy }) => {
    const vault = await t.client.vaultId('unavailable');
    proxy.rule = ({ method }) => (method === 'PUT' || method === 'POST' ? 's3-error' : 'pass');
    const refused = await t.client.uploadArchive(vault, DATA);
    assertError(refused, 503, 'ServiceUnavailable');
    assert.match(refused.json.message, /storage cannot be reached for the moment; retry shortly/);
    assert.ok(proxy.seen.some((r) => r.fault === 's3-error'), 'the store was asked and failed');
    const listed = await t.client.get(`/vaults/${vault}`);
    assert.equal(listed.json.NumberOfArchives, 0);
    proxy.rule = () => 'pass';
    assert.equal((await t.client.uploadArchive(vault, DATA)).status, 201);
  });
});

/** The job's record as the engine keeps it (attempts are not part of the protocol). */
async function jobRecord(t: TestServer, vault: string, job: string) {
  const record = await t.server.meta.getJob(vault, job, Date.now());
  assert.ok(record, `job ${job} exists`);
  return record;
}

test('a retrieval job whose store is unreachable runs again later, and succeeds once the store answers', async () => {
  await withUnreachableReads(async ({ t, proxy, vault, job }) => {
    // Bounded wait: two attempts met the failure, and the job is still waiting, not failed.
    for (let i = 0; i < 200 && (await jobRecord(t, vault, job)).attempts < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const waiting = await jobRecord(t, vault, job);
    assert.ok(waiting.attempts >= 2, `attempts ${waiting.attempts}`);
    assert.equal(waiting.status, 'InProgress');
    assert.ok(proxy.seen.some((r) => r.fault === 's3-error'), 'the store was asked and failed');
    const described = await t.client.get(`/vaults/${vault}/jobs/${job}`);
    assert.equal(described.json.Completed, false);

    proxy.rule = () => 'pass';
    const done = await t.client.waitJob(vault, job);
    assert.equal(done.StatusCode, 'Succeeded', done.StatusMessage);
    const output = await t.client.get(`/vaults/${vault}/jobs/${job}/output`);
    assert.equal(output.status, 200);
    assert.ok(output.body.equals(DATA));
  });
});

test('a retrieval job whose store stays unreachable fails after its attempts, naming the failure', async () => {
  await withUnreachableReads(async ({ t, vault, job }) => {
    const done = await t.client.waitJob(vault, job);
    assert.equal(done.StatusCode, 'Failed');
    assert.match(done.StatusMessage, /^The storage could not be reached in 5 attempts; the last one failed with: Please reduce your request rate\.$/);
    assert.equal((await jobRecord(t, vault, job)).attempts, 5);
  });
});

test('which store failures are worth another attempt', () => {
  const errno = (code: string) => Object.assign(new Error(code), { code });
  const s3 = (name: string, httpStatusCode: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode } });
  for (const err of [errno('ECONNRESET'), errno('ECONNREFUSED'), errno('EMFILE'), errno('08006'), errno('57P01'), errno('40001'),
    s3('SlowDown', 503), s3('InternalError', 500), s3('Whatever', 502), s3('TimeoutError', 0),
    new Error('reading blob x failed', { cause: errno('ETIMEDOUT') }), new AggregateError([new Error('no'), errno('EPIPE')])]) {
    assert.equal(isTransientStoreError(err), true, `${err.message} ${(err as { code?: string }).code ?? ''}`);
  }
  for (const err of [errno('ENOENT'), errno('EIO'), errno('ENOSPC'), errno('53100'), errno('23505'), s3('NoSuchKey', 404),
    s3('AccessDenied', 403), s3('NotImplemented', 501), new StorageFullError('full'), new Error('damaged'), 'ECONNRESET', null]) {
    assert.equal(isTransientStoreError(err), false, String((err as Error | null)?.message ?? err));
  }
});
