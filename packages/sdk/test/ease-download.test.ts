// Jobs and downloads through the high-level layer against the real server over HTTP:
// verified parallel download (with a corrupted range), resume, inventory, waiting.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, open, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { MIB, hashBuffer } from '../src/protocol/etag.js';
import { Vault } from '../src/ease/vault.js';
import { Job } from '../src/ease/job.js';
import { callOk } from '../src/ease/call.js';
import type { JobJson } from '../src/protocol/wire-types.js';
import { downloadTempPaths } from '../src/ease/download.js';
import { ChecksumMismatchError, JobFailedError, JobStateError } from '../src/ease/errors.js';
import { KEY_ID, KEY_SECRET, startTestServer, type TestServer } from './helpers/ease-server.js';
import { OASAPI } from '../src/client/api.js';
import type { SeenRequest } from './helpers/fault-proxy.js';
import { pattern } from './helpers/pattern.js';

const FAST_RETRY = { baseDelayMs: 1, maxDelayMs: 5 };
const POLL = { pollInterval: 20 };

let t: TestServer;
let vault: Vault;
let data: Buffer;
let archiveId: string;
let job: Job;
let n = 0;

const target = () => join(t.dir, `out-${n++}.bin`);
const isOutput = (r: SeenRequest) => r.url.endsWith('/output');
const rangeOf = (r: SeenRequest) => String(r.headers.range);
const exists = (p: string) => access(p).then(() => true, () => false);

before(async () => {
  t = await startTestServer();
  vault = await Vault.create(t.api, 'ease-download');
  data = pattern(10 * MIB + 7, 5);
  const path = join(t.dir, 'source.bin');
  await writeFile(path, data);
  ({ archiveId } = await vault.uploadArchive(path, { partSize: 2 * MIB, singleUploadThreshold: MIB }));
  job = await (await vault.retrieveArchive(archiveId, { description: 'all of it' })).wait(POLL);
});
after(async () => {
  await t.close();
});

describe('archive retrieval download', () => {
  test('the job describes the retrieval', () => {
    assert.equal(job.action, 'ArchiveRetrieval');
    assert.equal(job.statusCode, 'Succeeded');
    assert.equal(job.completed, true);
    assert.equal(job.archiveId, archiveId);
    assert.equal(job.archiveSizeInBytes, data.length);
    assert.equal(job.treeEtag, hashBuffer(data).treeEtag);
    assert.equal(job.archiveTreeEtag, hashBuffer(data).treeEtag);
    assert.equal(job.retrievalByteRange, `0-${data.length - 1}`);
    assert.equal(job.inventorySizeInBytes, null);
    assert.equal(job.description, 'all of it');
    assert.ok(job.creationDate instanceof Date && job.completionDate instanceof Date);
  });

  test('parallel pieces, every one verified, file byte-identical', async () => {
    const out = target();
    let last = { done: 0, total: 0 as number | null };
    const result = await job.downloadToFile(out, { pieceSize: MIB, concurrency: 4, onProgress: (p) => { last = p; } });
    assert.deepEqual(await readFile(out), data);
    assert.equal(result.verified, 'full');
    assert.equal(result.piecesFetched, 11);
    assert.equal(result.treeEtag, job.treeEtag);
    assert.deepEqual(last, { done: data.length, total: data.length });
    const { temp, state } = downloadTempPaths(out);
    assert.equal(await exists(temp), false);
    assert.equal(await exists(state), false);
  });

  test('over plain HTTP each piece is read straight from its own connection; through a caller\'s agent, as a stream: same bytes', async () => {
    const { api, proxy } = await t.proxied();
    const direct = target();
    await (await Job.get(api, vault.id, job.id)).downloadToFile(direct, { pieceSize: 2 * MIB });
    assert.deepEqual(await readFile(direct), data);
    const pieces = proxy.requests.filter(isOutput);
    assert.equal(pieces.length, 6);
    assert.ok(pieces.every((r) => r.headers.connection === 'close'), 'each piece on a connection of its own');
    const agent = new http.Agent({ keepAlive: true });
    const viaAgent = new OASAPI('127.0.0.1', KEY_ID, KEY_SECRET, { port: api.port, agent });
    try {
      const streamed = target();
      const result = await (await Job.get(viaAgent, vault.id, job.id)).downloadToFile(streamed, { pieceSize: 2 * MIB });
      assert.deepEqual(await readFile(streamed), data);
      assert.equal(result.verified, 'full');
      assert.equal(proxy.requests.filter(isOutput).length, 12);
      assert.ok(proxy.requests.filter(isOutput).slice(6).every((r) => r.headers.connection === 'keep-alive'), 'the agent\'s connections');
    } finally {
      viaAgent.close();
      agent.destroy();
    }
  });

  test('a corrupted range is caught by its x-oas-tree-etag and fetched again', async () => {
    const bad = `bytes=${2 * MIB}-${4 * MIB - 1}`;
    let corrupted = false;
    const { api, proxy } = await t.proxied((req) => {
      if (req.url.endsWith('/output') && req.headers.range === bad && !corrupted) {
        corrupted = true;
        return { kind: 'corrupt-response', at: 12345 };
      }
      return { kind: 'pass' };
    });
    const viaProxy = await Job.get(api, vault.id, job.id);
    const out = target();
    const retried: unknown[] = [];
    const result = await viaProxy.downloadToFile(out, { pieceSize: 2 * MIB, retry: { ...FAST_RETRY, onRetry: ({ error }) => retried.push(error) } });
    assert.equal(corrupted, true);
    assert.equal(proxy.count('GET', (r) => isOutput(r) && rangeOf(r) === bad), 2);
    assert.equal(retried.length, 1);
    assert.match((retried[0] as Error).message, /piece 2097152-4194303: tree etag .* x-oas-tree-etag says/);
    assert.deepEqual(await readFile(out), data);
    assert.equal(result.verified, 'full');
  });

  test('a piece cut short is fetched again', async () => {
    let cut = false;
    const { api, proxy } = await t.proxied((req) => {
      if (isOutput({ ...req, action: 'pass' }) && !cut) {
        cut = true;
        return { kind: 'truncate-response', after: 100_000 };
      }
      return { kind: 'pass' };
    });
    const out = target();
    await (await Job.get(api, vault.id, job.id)).downloadToFile(out, { pieceSize: 4 * MIB, concurrency: 1, retry: FAST_RETRY });
    assert.deepEqual(await readFile(out), data);
    assert.equal(proxy.count('GET', isOutput), 4);
  });

  test('an interrupted download resumes without fetching verified pieces again', async () => {
    const out = target();
    const controller = new AbortController();
    let gets = 0;
    const first = await t.proxied((req) => {
      if (req.url.endsWith('/output') && ++gets === 5) controller.abort();
      return { kind: 'pass' };
    });
    await assert.rejects((await Job.get(first.api, vault.id, job.id)).downloadToFile(out, { pieceSize: MIB, concurrency: 1, signal: controller.signal }),
      { name: 'AbortError' });
    const { temp, state } = downloadTempPaths(out);
    assert.equal(await exists(out), false);
    assert.equal(await exists(temp), true);
    const saved = JSON.parse(await readFile(state, 'utf8')) as { jobId: string; pieces: Record<string, unknown> };
    assert.equal(saved.jobId, job.id);
    const verified = Object.keys(saved.pieces).map(Number);
    assert.ok(verified.length >= 4, `verified before the abort: ${verified.length}`);

    const second = await t.proxied();
    const result = await (await Job.get(second.api, vault.id, job.id)).downloadToFile(out, { pieceSize: MIB });
    assert.equal(result.piecesReused, verified.length);
    assert.equal(result.piecesFetched, 11 - verified.length);
    const fetched = second.proxy.requests.filter(isOutput).map(rangeOf);
    assert.equal(fetched.length, 11 - verified.length);
    for (const start of verified) assert.ok(!fetched.some((r) => r.startsWith(`bytes=${start}-`)), `piece ${start} fetched again`);
    assert.deepEqual(await readFile(out), data);
    assert.equal(await exists(state), false);
  });

  test('on resume a verified piece damaged on disk is fetched again', async () => {
    const out = target();
    const controller = new AbortController();
    let gets = 0;
    const first = await t.proxied((req) => {
      if (req.url.endsWith('/output') && ++gets === 4) controller.abort();
      return { kind: 'pass' };
    });
    await assert.rejects((await Job.get(first.api, vault.id, job.id)).downloadToFile(out, { pieceSize: MIB, concurrency: 1, signal: controller.signal }),
      { name: 'AbortError' });
    const { temp } = downloadTempPaths(out);
    const fh = await open(temp, 'r+');
    await fh.write(Buffer.from([0]), 0, 1, 10); // inside piece 0
    await fh.close();
    const second = await t.proxied();
    const result = await (await Job.get(second.api, vault.id, job.id)).downloadToFile(out, { pieceSize: MIB });
    assert.ok(second.proxy.requests.filter(isOutput).some((r) => rangeOf(r) === `bytes=0-${MIB - 1}`));
    assert.equal(result.piecesReused + result.piecesFetched, 11);
    assert.deepEqual(await readFile(out), data);
  });

  test('an existing file is kept unless overwrite is given', async () => {
    const out = target();
    await writeFile(out, 'keep me');
    await assert.rejects(job.downloadToFile(out), { code: 'EEXIST' });
    assert.equal(await readFile(out, 'utf8'), 'keep me');
    await job.downloadToFile(out, { overwrite: true });
    assert.deepEqual(await readFile(out), data);
  });

  test('a range retrieval: aligned ranges verify fully, others only as far as the server allows', async () => {
    const aligned = await (await vault.retrieveArchive(archiveId, { range: { start: 2 * MIB, end: 4 * MIB - 1 } })).wait(POLL);
    assert.equal(aligned.retrievalByteRange, `${2 * MIB}-${4 * MIB - 1}`);
    const out = target();
    const r1 = await aligned.downloadToFile(out, { pieceSize: MIB });
    assert.equal(r1.verified, 'full');
    assert.deepEqual(await readFile(out), data.subarray(2 * MIB, 4 * MIB));

    const unaligned = await (await vault.retrieveArchive(archiveId, { range: `${MIB}-${data.length - 1}` })).wait(POLL);
    assert.equal(unaligned.treeEtag, null);
    const out2 = target();
    const r2 = await unaligned.downloadToFile(out2, { pieceSize: 4 * MIB });
    assert.notEqual(r2.verified, 'full');
    assert.deepEqual(await readFile(out2), data.subarray(MIB));
  });

  test('range: only part of the output, in parallel verified pieces, resumable', async () => {
    const out = target();
    const { api, proxy } = await t.proxied();
    const viaProxy = await Job.get(api, vault.id, job.id);
    const result = await viaProxy.downloadToFile(out, { range: { start: 3 * MIB, end: 8 * MIB - 1 }, pieceSize: 2 * MIB, concurrency: 3 });
    assert.deepEqual(await readFile(out), data.subarray(3 * MIB, 8 * MIB));
    assert.equal(result.size, 5 * MIB);
    assert.equal(result.verified, 'pieces');
    assert.equal(result.treeEtag, hashBuffer(data.subarray(3 * MIB, 8 * MIB)).treeEtag);
    assert.deepEqual(proxy.requests.filter(isOutput).map(rangeOf).sort(),
      [`bytes=${3 * MIB}-${5 * MIB - 1}`, `bytes=${5 * MIB}-${7 * MIB - 1}`, `bytes=${7 * MIB}-${8 * MIB - 1}`].sort());

    // To the end of the output (not a MiB multiple), as a string; interrupted, then resumed.
    const tail = target();
    const controller = new AbortController();
    let gets = 0;
    const first = await t.proxied((req) => {
      if (req.url.endsWith('/output') && ++gets === 3) controller.abort();
      return { kind: 'pass' };
    });
    const range = `${6 * MIB}-${data.length - 1}`;
    await assert.rejects((await Job.get(first.api, vault.id, job.id)).downloadToFile(tail, { range, pieceSize: MIB, concurrency: 1, signal: controller.signal }),
      { name: 'AbortError' });
    const second = await t.proxied();
    const resumed = await (await Job.get(second.api, vault.id, job.id)).downloadToFile(tail, { range, pieceSize: MIB });
    assert.ok(resumed.piecesReused >= 2, `reused ${resumed.piecesReused}`);
    assert.equal(resumed.piecesReused + resumed.piecesFetched, 5);
    assert.deepEqual(await readFile(tail), data.subarray(6 * MIB));
    // The same file with another range starts afresh rather than mixing the two.
    const whole = await job.downloadToFile(tail, { overwrite: true, range: `0-${data.length - 1}` });
    assert.equal(whole.verified, 'full');
    assert.deepEqual(await readFile(tail), data);

    for (const bad of [{ start: 1, end: MIB - 1 }, { start: 0, end: MIB }, { start: 0, end: data.length }, '5-1', 'x']) {
      await assert.rejects(job.downloadToFile(target(), { range: bad }), RangeError, JSON.stringify(bad));
    }
  });

  test('the whole file is checked against the job\'s TreeEtag: a mismatch fails and leaves no file', async () => {
    // The job as a client would see it if the description's TreeEtag disagreed with the bytes.
    const described = await (await callOk(t.api.getJobDesc(vault.id, job.id))).json<JobJson>();
    const wrong = new Job(t.api, vault.id, { ...described, TreeEtag: '0'.repeat(32) });
    const out = target();
    const error = await wrong.downloadToFile(out, { pieceSize: 4 * MIB }).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof ChecksumMismatchError, String(error));
    assert.match(error.message, /has tree etag [0-9A-F]{32}, the job says 0{32}/);
    assert.equal(error.actual, job.treeEtag);
    const { temp, state } = downloadTempPaths(out);
    for (const p of [out, temp, state]) assert.equal(await exists(p), false, p);
  });

  test('bad ranges are refused before a request', async () => {
    await assert.rejects(vault.retrieveArchive(archiveId, { range: 'nope' }), RangeError);
  });
});

describe('large pieces (leaves hashed 8 at a time on the leaf worker)', () => {
  let big: Buffer;
  let bigJob: Job;
  before(async () => {
    big = pattern(40 * MIB + 99, 17);
    const path = join(t.dir, 'big.bin');
    await writeFile(path, big);
    const uploaded = await vault.uploadArchive(path, { partSize: 8 * MIB, singleUploadThreshold: MIB });
    bigJob = await (await vault.retrieveArchive(uploaded.archiveId)).wait(POLL);
  });

  test('a byte corrupted in the second batch of a 16 MiB piece is caught and the piece fetched again', async () => {
    const bad = `bytes=${16 * MIB}-${32 * MIB - 1}`;
    let corrupted = false;
    const { api, proxy } = await t.proxied((req) => {
      if (req.url.endsWith('/output') && req.headers.range === bad && !corrupted) {
        corrupted = true;
        return { kind: 'corrupt-response', at: 9 * MIB + 4321 };
      }
      return { kind: 'pass' };
    });
    const out = target();
    const retried: unknown[] = [];
    const result = await (await Job.get(api, vault.id, bigJob.id)).downloadToFile(out,
      { pieceSize: 16 * MIB, retry: { ...FAST_RETRY, onRetry: ({ error }) => retried.push(error) } });
    assert.equal(corrupted, true);
    assert.equal(proxy.count('GET', (r) => isOutput(r) && rangeOf(r) === bad), 2);
    assert.equal(retried.length, 1);
    assert.ok(retried[0] instanceof ChecksumMismatchError, String(retried[0]));
    assert.match((retried[0] as Error).message, /piece 16777216-33554431: tree etag .* x-oas-tree-etag says/);
    assert.ok((await readFile(out)).equals(big));
    assert.equal(result.verified, 'full');
    assert.equal(result.treeEtag, hashBuffer(big).treeEtag);
  });

  test('fsync: off by default (like curl -o); with fsync: true the same verified file, synced', async () => {
    const plain = target();
    const byDefault = await bigJob.downloadToFile(plain, { pieceSize: 8 * MIB });
    assert.equal(byDefault.synced, false);
    assert.equal(byDefault.verified, 'full');
    assert.ok((await readFile(plain)).equals(big));

    const durable = target();
    const synced = await bigJob.downloadToFile(durable, { pieceSize: 8 * MIB, fsync: true, concurrency: 2 });
    assert.equal(synced.synced, true);
    assert.equal(synced.verified, 'full');
    assert.ok((await readFile(durable)).equals(big));
    const { temp, state } = downloadTempPaths(durable);
    for (const p of [temp, state]) assert.equal(await exists(p), false, p);
  });
});

describe('inventory', () => {
  test('inventory output is parsed into typed archives, and downloads as a file', async () => {
    const inv = await (await vault.retrieveInventory({ description: 'inv' })).wait(POLL);
    assert.equal(inv.action, 'InventoryRetrieval');
    assert.ok(inv.inventorySizeInBytes && inv.inventorySizeInBytes > 0);
    const parsed = await inv.readInventory();
    assert.equal(parsed.vaultId, vault.id);
    assert.ok(parsed.inventoryDate instanceof Date);
    const entry = parsed.archives.find((a) => a.archiveId === archiveId);
    assert.ok(entry);
    assert.equal(entry.size, data.length);
    assert.equal(entry.treeEtag, hashBuffer(data).treeEtag);
    assert.ok(entry.creationDate instanceof Date);

    const out = target();
    const result = await inv.downloadToFile(out);
    assert.equal(result.size, inv.inventorySizeInBytes);
    const fromFile = JSON.parse(await readFile(out, 'utf8')) as { ArchiveList: unknown[] };
    assert.equal(fromFile.ArchiveList.length, parsed.archives.length);
    await assert.rejects(job.readInventory(), JobStateError);
  });
});

describe('listing', () => {
  test('listJobs and getJob', async () => {
    const jobs = await vault.listJobs();
    assert.ok(jobs.some((j) => j.id === job.id && j.action === 'ArchiveRetrieval'));
    const again = await vault.getJob(job.id);
    assert.equal(again.treeEtag, job.treeEtag);
    await assert.rejects(vault.getJob('0'.repeat(32)), { code: 'JobNotExist', status: 404 });
  });
});

describe('waiting', () => {
  test('wait polls a delayed job until it completes; an abort stops the wait', async () => {
    const slow = await startTestServer({ jobDelayMs: 400 });
    try {
      const v = await Vault.create(slow.api, 'slow');
      await writeFile(join(slow.dir, 'a.bin'), 'hello');
      const { archiveId: id } = await v.uploadArchive(join(slow.dir, 'a.bin'));
      const pending = await v.retrieveArchive(id);
      assert.equal(pending.completed, false);
      assert.equal(pending.statusCode, 'InProgress');
      await assert.rejects(pending.downloadToFile(join(slow.dir, 'early.bin')), JobStateError);
      await assert.rejects(pending.wait({ pollInterval: 10_000, signal: AbortSignal.abort() }), { name: 'AbortError' });
      let polls = 0;
      const done = await pending.wait({ pollInterval: 25, onPoll: () => polls++ });
      assert.equal(done.statusCode, 'Succeeded');
      assert.ok(polls >= 2, `polls: ${polls}`);
      const out = join(slow.dir, 'a.out');
      await done.downloadToFile(out);
      assert.equal(await readFile(out, 'utf8'), 'hello');
    } finally {
      await slow.close();
    }
  });

  test('a failed job makes wait throw with its StatusMessage; pull/push jobs have nothing to download', async () => {
    const failing = await startTestServer({
      runners: {
        'pull-from-oss': async () => ({ status: 'Failed', statusMessage: 'the OSS bucket mybucket does not exist' }),
        'archive-retrieval': async () => ({ status: 'Failed', statusMessage: 'the archive could not be read' }),
      },
      // Jobs may only name configured OSS hosts; the runner above never contacts this one.
      ossHosts: { 'oss-cn-hangzhou.aliyuncs.com': { endpoint: 'http://127.0.0.1:9', accessKeyId: 'id', secretAccessKey: 'secret' } },
    });
    try {
      const v = await Vault.create(failing.api, 'failing');
      const pull = await v.pullFromOss('oss-cn-hangzhou.aliyuncs.com', 'mybucket', 'dir/obj.bin', { description: 'pull' });
      assert.equal(pull.action, 'PullFromOSS');
      const error = await pull.wait(POLL).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof JobFailedError, String(error));
      assert.equal(error.statusMessage, 'the OSS bucket mybucket does not exist');
      assert.match(error.message, /failed: the OSS bucket mybucket does not exist/);
      assert.equal(pull.statusCode, 'Failed');
      await assert.rejects(pull.downloadToFile(join(failing.dir, 'x')), JobStateError);
      // push-to-oss: a job carrying the archive id.
      await writeFile(join(failing.dir, 'p.bin'), 'push me');
      const { archiveId: pushed } = await v.uploadArchive(join(failing.dir, 'p.bin'));

      // A failed archive retrieval: downloading it says why (no wait needed).
      const retrieval = await v.retrieveArchive(pushed);
      await assert.rejects(retrieval.wait(POLL), JobFailedError);
      await assert.rejects((await v.getJob(retrieval.id)).downloadToFile(join(failing.dir, 'y')), (e: unknown) =>
        e instanceof JobFailedError && e.message === `job ${retrieval.id} failed: the archive could not be read`);

      const push = await v.pushToOss(pushed, 'oss-cn-hangzhou.aliyuncs.com', 'mybucket', 'restore/p.bin', { description: 'push' });
      assert.equal(push.action, 'PushToOSS');
      assert.equal(push.archiveId, pushed);
      assert.equal(push.description, 'push');
      assert.ok((await v.listJobs()).some((j) => j.id === push.id && j.action === 'PushToOSS'));
    } finally {
      await failing.close();
    }
  });
});
