import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { combineTreeEtags, hashBuffer, isId, parseRfc1123, treeEtag } from '@oas/sdk';
import { ManualClock } from './helpers/clock.js';
import { startServer, type TestServer } from './helpers/server.js';
import { assertError, blobFiles } from './helpers/assert.js';
import { corruptBlobByte } from './helpers/backends.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { REFUSED_ENDPOINT } from './helpers/oss.js';

const MIB = 1048576;
const JOB_FIELDS = ['Action', 'ArchiveId', 'ArchiveSizeInBytes', 'ArchiveTreeEtag', 'Completed', 'CompletionDate', 'CreationDate',
  'InventorySizeInBytes', 'JobDescription', 'JobId', 'RetrievalByteRange', 'StatusCode', 'StatusMessage', 'TreeEtag'];

let t: TestServer;
let vault: string;
const SMALL = pattern(3 * MIB + 5);
let smallId: string;
// A multipart archive of 10 MiB + 7 in 3 MiB parts: segments at 0, 3, 6, 9 MiB.
const BIG = pattern(10 * MIB + 7, 11);
let bigId: string;

before(async () => {
  // One OSS host, whose endpoint does not answer (OSS transfers proper: oss-*.test.ts).
  t = await startServer({ ossHosts: { 'oss-cn-hangzhou.aliyuncs.com': { endpoint: REFUSED_ENDPOINT, accessKeyId: 'id', secretAccessKey: 'secret', maxAttempts: 1 } } });
  vault = await t.client.vaultId('jobs');
  smallId = await t.client.archiveId(vault, SMALL, 'small');
  const up = await t.client.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads`, headers: { 'x-oas-part-size': 3 * MIB } });
  const uploadId = String(up.headers['x-oas-multipart-upload-id']);
  const etags: string[] = [];
  for (let start = 0; start < BIG.length; start += 3 * MIB) {
    const part = BIG.subarray(start, Math.min(BIG.length, start + 3 * MIB));
    const h = hashBuffer(part);
    etags.push(h.treeEtag);
    const res = await t.client.request({ method: 'PUT', path: `/vaults/${vault}/multipart-uploads/${uploadId}`, body: part, headers: { 'Content-Range': `${start}-${start + part.length - 1}`, 'x-oas-content-etag': h.etag, 'x-oas-tree-etag': h.treeEtag } });
    assert.equal(res.status, 204);
  }
  const done = await t.client.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads/${uploadId}`, headers: { 'x-oas-archive-size': BIG.length, 'x-oas-tree-etag': combineTreeEtags(etags) } });
  assert.equal(done.status, 201, done.text);
  bigId = String(done.headers['x-oas-archive-id']);
});
after(async () => { await t.close(); });

function output(jobId: string, range?: string, vaultId = vault) {
  return t.client.get(`/vaults/${vaultId}/jobs/${jobId}/output`, range ? { Range: range } : {});
}

test('archive retrieval, whole archive: 202, description fields, whole and ranged output with x-oas-tree-etag', async () => {
  const res = await t.client.createJob(vault, { Type: 'archive-retrieval', ArchiveId: smallId, Description: 'restore' });
  assert.equal(res.status, 202, res.text);
  const jobId = String(res.headers['x-oas-job-id']);
  assert.ok(isId(jobId));
  assert.equal(res.headers.location, `/vaults/${vault}/jobs/${jobId}`);
  assert.equal(res.headers['content-type'], undefined);
  assert.equal(res.headers['content-length'], '0');
  const job = await t.client.waitJob(vault, jobId);
  assert.deepEqual(Object.keys(job).sort(), JOB_FIELDS);
  assert.equal(job.JobId, jobId);
  assert.equal(job.Action, 'ArchiveRetrieval');
  assert.equal(job.StatusCode, 'Succeeded');
  assert.equal(job.Completed, true);
  assert.ok(parseRfc1123(job.CreationDate) !== null);
  assert.ok(parseRfc1123(job.CompletionDate) !== null);
  assert.equal(job.ArchiveId, smallId);
  assert.equal(job.ArchiveSizeInBytes, SMALL.length);
  assert.equal(job.ArchiveTreeEtag, '2B016A0FD13C7CBC62DE133A913C2E6B');
  assert.equal(job.TreeEtag, '2B016A0FD13C7CBC62DE133A913C2E6B');
  assert.equal(job.RetrievalByteRange, `0-${SMALL.length - 1}`);
  assert.equal(job.InventorySizeInBytes, -1);
  assert.equal(job.JobDescription, 'restore');

  const whole = await output(jobId);
  assert.equal(whole.status, 200);
  assert.equal(whole.headers['content-type'], 'application/octet-stream');
  assert.equal(whole.headers['content-length'], String(SMALL.length));
  assert.equal(whole.headers['content-range'], undefined);
  assert.equal(whole.headers['x-oas-tree-etag'], '2B016A0FD13C7CBC62DE133A913C2E6B');
  assert.ok(whole.body.equals(SMALL));

  for (const [a, b] of [[0, MIB - 1], [MIB, 2 * MIB - 1], [MIB, 3 * MIB - 1], [2 * MIB, SMALL.length - 1], [3 * MIB, SMALL.length - 1], [0, SMALL.length - 1]]) {
    const r = await output(jobId, `bytes=${a}-${b}`);
    assert.equal(r.status, 206, r.text);
    assert.equal(r.headers['content-range'], `bytes ${a}-${b}/${SMALL.length}`);
    assert.equal(r.headers['content-length'], String(b! - a! + 1));
    assert.ok(r.body.equals(SMALL.subarray(a, b! + 1)));
    assert.equal(r.headers['x-oas-tree-etag'], treeEtag(SMALL.subarray(a, b! + 1)));
  }
  for (const bad of ['bytes=1-1048576', 'bytes=0-100', `bytes=0-${SMALL.length}`, `bytes=${4 * MIB}-${5 * MIB - 1}`, 'bytes=0-', 'bytes=-100', 'items=0-1048575', 'bytes=0-1048575,1048576-2097151', 'garbage']) {
    assertError(await output(jobId, bad), 416, 'InvalidRange');
  }
});

test('retrieval of ranges of a multipart archive (3 MiB parts): stitched across segments, TreeEtag only when tree-hash aligned', async () => {
  const cases = [
    { range: [4 * MIB, 8 * MIB - 1], aligned: true },
    { range: [2 * MIB, 7 * MIB - 1], aligned: false },
    { range: [8 * MIB, BIG.length - 1], aligned: true },
    { range: [0, BIG.length - 1], aligned: true },
  ] as const;
  const jobs = await Promise.all(cases.map(({ range }) => t.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: bigId, RetrievalByteRange: `${range[0]}-${range[1]}` })));
  for (const [i, { range, aligned }] of cases.entries()) {
    const job = await t.client.waitJob(vault, jobs[i]!);
    const data = BIG.subarray(range[0], range[1] + 1);
    assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
    assert.equal(job.RetrievalByteRange, `${range[0]}-${range[1]}`);
    assert.equal(job.ArchiveTreeEtag, treeEtag(BIG));
    assert.equal(job.TreeEtag, aligned ? treeEtag(data) : '');
    const whole = await output(jobs[i]!);
    assert.equal(whole.status, 200);
    assert.ok(whole.body.equals(data));
    assert.equal(whole.headers['x-oas-tree-etag'], aligned ? treeEtag(data) : undefined);
    // A piece relative to the retrieval range, crossing a segment boundary.
    const end = Math.min(3 * MIB, data.length);
    const r = await output(jobs[i]!, `bytes=${MIB}-${end - 1}`);
    assert.equal(r.status, 206, r.text);
    assert.ok(r.body.equals(data.subarray(MIB, end)));
    assert.equal(r.headers['x-oas-tree-etag'], aligned ? treeEtag(data.subarray(MIB, end)) : undefined);
  }
});

test('job creation errors', async () => {
  const post = (body: unknown) => t.client.createJob(vault, body);
  assertError(await post({ Type: 'archive-retrieval' }), 400, 'InvalidArgument');
  assertError(await post({ Type: 'archive-retrieval', ArchiveId: '0'.repeat(32) }), 404, 'ArchiveNotExist');
  assertError(await post({ Type: 'archive-retrieval', ArchiveId: '../etc' }), 404, 'ArchiveNotExist');
  for (const range of ['1-1048576', '0-5', `0-${BIG.length}`, `${MIB}-${MIB - 1}`, 'abc', '0-1048575-2', '-5']) {
    assertError(await post({ Type: 'archive-retrieval', ArchiveId: bigId, RetrievalByteRange: range }), 400, 'InvalidArgument');
  }
  assertError(await post({ Type: 'archive-retrieval', ArchiveId: bigId, RetrievalByteRange: 5 }), 400, 'InvalidArgument');
  assertError(await post({ Type: 'no-such-type' }), 400, 'InvalidArgument');
  assertError(await post({ Description: 'no type' }), 400, 'InvalidArgument');
  assertError(await post({ Type: 'inventory-retrieval', Description: 'x'.repeat(1025) }), 400, 'InvalidArgument');
  assertError(await post('{not json'), 400, 'InvalidArgument');
  assertError(await post('[1,2]'), 400, 'InvalidArgument');
  assertError(await post(''), 400, 'InvalidArgument');
  assertError(await post(`{"Type": "inventory-retrieval", "Description": "${'x'.repeat(70_000)}"}`), 400, 'InvalidArgument');
  assertError(await post({ Type: 'pull-from-oss', Bucket: 'b', Object: 'o' }), 400, 'InvalidArgument');
  assertError(await post({ Type: 'push-to-oss', OSSHost: 'h', Bucket: 'b', Object: 'o' }), 400, 'InvalidArgument');
  assertError(await post({ Type: 'push-to-oss', OSSHost: 'h', Bucket: 'b', Object: 'o', ArchiveId: 'F'.repeat(32) }), 404, 'ArchiveNotExist');
  assertError(await t.client.createJob('F'.repeat(32), { Type: 'inventory-retrieval' }), 404, 'VaultNotExist');
});

test('job JSON is parsed whatever the Content-Type, with Python json.dumps formatting', async () => {
  for (const ct of [undefined, 'application/x-www-form-urlencoded', 'text/plain', 'application/json; charset=utf-8']) {
    const res = await t.client.request({
      method: 'POST', path: `/vaults/${vault}/jobs`, body: '{"Type": "inventory-retrieval", "Description": "inv"}',
      headers: { 'x-oas-version': '0.2.5', ...(ct ? { 'Content-Type': ct } : {}) },
    });
    assert.equal(res.status, 202, `${ct}: ${res.text}`);
  }
});

test('inventory retrieval: streamed JSON of protocol.md §4.16, deleted archives left out', async () => {
  const v = await t.client.vaultId('inventory');
  const a = await t.client.archiveId(v, Buffer.from('first'), 'quote " backslash \\ 中文');
  const b = await t.client.archiveId(v, pattern(MIB + 1), '');
  const gone = await t.client.archiveId(v, Buffer.from('deleted'), 'gone');
  assert.equal((await t.client.del(`/vaults/${v}/archives/${gone}`)).status, 204);
  const jobId = await t.client.jobId(v, { Type: 'inventory-retrieval', Description: 'inv' });
  const job = await t.client.waitJob(v, jobId);
  assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
  assert.equal(job.Action, 'InventoryRetrieval');
  assert.equal(job.ArchiveId, '');
  assert.equal(job.ArchiveSizeInBytes, -1);
  assert.equal(job.TreeEtag, '');
  assert.equal(job.ArchiveTreeEtag, '');
  assert.equal(job.RetrievalByteRange, '');
  assert.ok(job.InventorySizeInBytes > 0);
  const res = await output(jobId, undefined, v);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(res.headers['x-oas-tree-etag'], undefined);
  assert.equal(res.body.length, job.InventorySizeInBytes);
  const inv = res.json;
  assert.deepEqual(Object.keys(inv), ['VaultId', 'InventoryDate', 'ArchiveList']);
  assert.equal(inv.VaultId, v);
  assert.ok(parseRfc1123(inv.InventoryDate) !== null);
  const list = [...inv.ArchiveList].sort((x: { ArchiveId: string }, y: { ArchiveId: string }) => (x.ArchiveId < y.ArchiveId ? -1 : 1));
  assert.deepEqual(inv.ArchiveList, list);
  const byId = new Map(inv.ArchiveList.map((e: { ArchiveId: string }) => [e.ArchiveId, e]));
  assert.equal(byId.size, 2);
  assert.deepEqual(Object.keys(byId.get(a) as object), ['ArchiveId', 'ArchiveDescription', 'CreationDate', 'Size', 'TreeEtag']);
  assert.deepEqual(byId.get(a), { ArchiveId: a, ArchiveDescription: 'quote " backslash \\ 中文', CreationDate: (byId.get(a) as { CreationDate: string }).CreationDate, Size: 5, TreeEtag: treeEtag('first') });
  assert.equal((byId.get(b) as { Size: number }).Size, MIB + 1);
  // The downloader of the ease layer fetches inventories as one range of the whole size.
  const ranged = await output(jobId, `bytes=0-${job.InventorySizeInBytes - 1}`, v);
  assert.equal(ranged.status, 206);
  assert.ok(ranged.body.equals(res.body));
});

test('OSS transfer jobs are validated (only configured hosts), then fail with a clear message; they have no output', async () => {
  const unknown = await t.client.createJob(vault, { OSSHost: 'oss-cn-beijing.aliyuncs.com', Bucket: 'mybucket', Object: 'o', Type: 'pull-from-oss' });
  assertError(unknown, 400, 'InvalidArgument');
  assert.match(unknown.json.message, /OSSHost "oss-cn-beijing\.aliyuncs\.com" is not an OSS host this server is configured/);
  const pull = await t.client.jobId(vault, { OSSHost: 'oss-cn-hangzhou.aliyuncs.com', Bucket: 'mybucket', Object: 'dir/obj.bin', Type: 'pull-from-oss', Description: 'pull' });
  const push = await t.client.jobId(vault, { OSSHost: 'oss-cn-hangzhou.aliyuncs.com', Description: 'push', Object: 'dir/obj.bin', Bucket: 'mybucket', ArchiveId: smallId, Type: 'push-to-oss' });
  const p1 = await t.client.waitJob(vault, pull);
  const p2 = await t.client.waitJob(vault, push);
  assert.equal(p1.Action, 'PullFromOSS');
  assert.equal(p2.Action, 'PushToOSS');
  for (const job of [p1, p2]) {
    assert.equal(job.StatusCode, 'Failed');
    assert.equal(job.Completed, true);
    assert.match(job.StatusMessage, /cannot reach the OSS endpoint http:\/\/127\.0\.0\.1:\d+ of oss-cn-hangzhou\.aliyuncs\.com \(ECONNREFUSED\)/);
  }
  assert.equal(p2.ArchiveId, smallId);
  assert.equal(p1.ArchiveId, '');
  assertError(await output(pull), 409, 'JobNotReady');
  assertError(await output(push), 409, 'JobNotReady');
});

test('corrupted stored data fails the retrieval job with a message naming the bytes', async () => {
  const data = pattern(3 * MIB, 3);
  const archiveId = await t.client.archiveId(vault, data);
  const [segment] = await t.server.meta.getSegments(archiveId);
  await corruptBlobByte(t.dataDir, segment!.blobKey, MIB + 1000);
  const jobId = await t.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: archiveId });
  const job = await t.client.waitJob(vault, jobId);
  assert.equal(job.StatusCode, 'Failed');
  assert.equal(job.Completed, true);
  assert.match(job.StatusMessage, new RegExp(`bytes ${MIB}-${2 * MIB - 1} of archive ${archiveId}`));
  assert.match(job.StatusMessage, /corrupt/i);
  assert.equal(job.TreeEtag, '');
  assertError(await output(jobId), 409, 'JobNotReady');
  // A range that avoids the damage still succeeds.
  const ok = await t.client.waitJob(vault, await t.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: archiveId, RetrievalByteRange: `${2 * MIB}-${3 * MIB - 1}` }));
  assert.equal(ok.StatusCode, 'Succeeded', ok.StatusMessage);
});

test('a deleted archive stays downloadable through an existing job', async () => {
  const data = pattern(MIB + 17, 5);
  const archiveId = await t.client.archiveId(vault, data);
  const jobId = await t.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: archiveId });
  await t.client.waitJob(vault, jobId);
  assert.equal((await t.client.del(`/vaults/${vault}/archives/${archiveId}`)).status, 204);
  await t.server.runMaintenance();
  const res = await output(jobId);
  assert.equal(res.status, 200);
  assert.ok(res.body.equals(data));
  // New jobs cannot ask for it.
  assertError(await t.client.createJob(vault, { Type: 'archive-retrieval', ArchiveId: archiveId }), 404, 'ArchiveNotExist');
});

test('describe and list jobs; unknown ids; pagination', async () => {
  const v = await t.client.vaultId('job-list');
  const a = await t.client.archiveId(v, Buffer.from('x'));
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push(await t.client.jobId(v, { Type: 'archive-retrieval', ArchiveId: a, Description: `job ${i}` }));
  ids.sort();
  for (const id of ids) await t.client.waitJob(v, id);
  const all = await t.client.get(`/vaults/${v}/jobs?marker=`);
  assert.equal(all.status, 200);
  assert.equal(all.json.Marker, '');
  assert.deepEqual(all.json.JobList.map((j: { JobId: string }) => j.JobId), ids);
  for (const j of all.json.JobList) assert.deepEqual(Object.keys(j).sort(), JOB_FIELDS);
  const p1 = await t.client.get(`/vaults/${v}/jobs?limit=3`);
  assert.equal(p1.json.JobList.length, 3);
  assert.equal(p1.json.Marker, ids[3]);
  const p2 = await t.client.get(`/vaults/${v}/jobs?limit=3&marker=${p1.json.Marker}`);
  assert.deepEqual(p2.json.JobList.map((j: { JobId: string }) => j.JobId), [ids[3]]);
  assert.equal(p2.json.Marker, '');
  assertError(await t.client.get(`/vaults/${v}/jobs?marker=${'0'.repeat(32)}`), 400, 'InvalidArgument');
  assertError(await t.client.get(`/vaults/${v}/jobs?limit=x`), 400, 'InvalidArgument');
  for (const id of ['0'.repeat(32), 'bad-id']) {
    assertError(await t.client.get(`/vaults/${v}/jobs/${id}`), 404, 'JobNotExist');
    assertError(await output(id, undefined, v), 404, 'JobNotExist');
  }
  // A job of another vault is unknown here.
  assertError(await t.client.get(`/vaults/${vault}/jobs/${ids[0]}`), 404, 'JobNotExist');
});

test('jobs wait for --job-delay: InProgress fields and 409 JobNotReady', async () => {
  const s = await startServer({ jobDelayMs: 3_600_000 });
  try {
    const v = await s.client.vaultId('delayed');
    const a = await s.client.archiveId(v, Buffer.from('abc'));
    const jobId = await s.client.jobId(v, { Type: 'archive-retrieval', ArchiveId: a });
    const job = (await s.client.get(`/vaults/${v}/jobs/${jobId}`)).json;
    assert.equal(job.StatusCode, 'InProgress');
    assert.equal(job.Completed, false);
    assert.equal(job.CompletionDate, '');
    assert.equal(job.StatusMessage, '');
    assert.equal(job.ArchiveSizeInBytes, -1);
    assert.equal(job.TreeEtag, '');
    assert.equal(job.ArchiveTreeEtag, '');
    assert.equal(job.RetrievalByteRange, '0-2');
    assert.equal(job.InventorySizeInBytes, -1);
    assert.equal(job.JobDescription, '');
    const res = await s.client.get(`/vaults/${v}/jobs/${jobId}/output`);
    assert.equal(res.status, 409);
    assert.equal(res.json.code, 'JobNotReady');
  } finally {
    await s.close();
  }
});

test('completed jobs expire after --job-output-ttl: 404 JobNotExist, gone from listings, blobs purged', async () => {
  const clock = new ManualClock();
  const s = await startServer({ jobOutputTtlMs: 300, clock });
  try {
    const v = await s.client.vaultId('expiry');
    const a = await s.client.archiveId(v, pattern(MIB + 3));
    const inv = await s.client.jobId(v, { Type: 'inventory-retrieval' });
    const ret = await s.client.jobId(v, { Type: 'archive-retrieval', ArchiveId: a });
    await s.client.waitJob(v, inv);
    await s.client.waitJob(v, ret);
    assert.equal((await s.client.del(`/vaults/${v}/archives/${a}`)).status, 204);
    const withOutput = (await blobFiles(s.dataDir)).length;
    assert.ok(withOutput >= 4);
    clock.advance(299);
    assert.equal((await s.client.get(`/vaults/${v}/jobs/${inv}`)).status, 200, 'not expired before the TTL');
    clock.advance(1);
    for (const id of [inv, ret]) {
      assertError(await s.client.get(`/vaults/${v}/jobs/${id}`), 404, 'JobNotExist');
      assertError(await s.client.get(`/vaults/${v}/jobs/${id}/output`), 404, 'JobNotExist');
    }
    assert.deepEqual((await s.client.get(`/vaults/${v}/jobs`)).json.JobList, []);
    await s.server.runMaintenance();
    assert.deepEqual(await blobFiles(s.dataDir), []);
    // With the archive and the jobs gone, the vault is empty again.
    assert.equal((await s.client.del(`/vaults/${v}`)).status, 204);
  } finally {
    await s.close();
  }
});
