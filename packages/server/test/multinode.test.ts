// Two server processes on different ports over one PostgreSQL database and one S3 bucket
// (s3rver): any request can go to any node, jobs are claimed through the database, and a
// node killed in the middle of a job loses it to the other node, which finishes it.
//
// Each node reaches S3 through its own fault proxy. To catch a node inside a job, the
// proxies stall the first object read after `stallNext` is set: whichever node claimed the
// job is then stuck in it, deterministically, and the proxy says which one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { combineTreeEtags, hashBuffer } from '@oas/sdk';
import pg from 'pg';
import { MIGRATIONS } from '../src/store/meta/postgres-schema.js';
import { startPostgres } from './helpers/postgres.js';
import { startS3rver } from './helpers/s3rver.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { Client } from './helpers/client.js';
import { MAIN } from './helpers/cli.js';
import { tempDir } from './helpers/server.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';

const MIB = 1048576;
const KEY_ID = 'CLUSTERROOTKEY';
const KEY_SECRET = 'cluster-root-secret-0123456789';
const BUCKET = 'cluster';

interface Node {
  proc: ChildProcess;
  port: number;
  client: Client;
  dataDir: string;
  exited: Promise<void>;
  output: () => string;
}

async function startNode(env: Record<string, string>, dataDir: string): Promise<Node> {
  const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN,
    '--data-dir', dataDir, '--port', '0', '--log-level', 'info', '--job-lease', '2s'], {
    env: { ...process.env, OAS_DATA_DIR: '', OAS_PORT: '', OAS_ROOT_ACCESS_KEY_ID: KEY_ID, OAS_ROOT_ACCESS_KEY_SECRET: KEY_SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-8000); });
  let stdout = '';
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer) => {
      stdout += d.toString();
      log = (log + d.toString()).slice(-8000);
      const m = /"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(stdout);
      if (m) {
        proc.stdout!.off('data', onData);
        proc.stdout!.on('data', (more: Buffer) => { log = (log + more.toString()).slice(-8000); });
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code, signal) => reject(new Error(`node exited (${code ?? signal}) before listening:\n${log}`)));
  });
  return { proc, port, client: new Client(port, KEY_ID, KEY_SECRET), dataDir, exited, output: () => log };
}

async function kill(node: Node, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (node.proc.exitCode !== null || node.proc.signalCode !== null) return;
  node.proc.kill(signal);
  await node.exited;
}

test('two nodes over one PostgreSQL and one bucket: any request on any node, jobs once, takeover after a crash', { timeout: 240_000 }, async (t) => {
  const cluster = await startPostgres();
  t.after(() => cluster.stop());
  const s3 = await startS3rver();
  t.after(() => s3.stop());
  await s3.createBucket(BUCKET);
  const url = await cluster.createDatabase('oas_cluster');

  let stallNext = false;
  let stalledOnce = false;
  const proxies: FaultProxy[] = [];
  for (let i = 0; i < 2; i++) {
    const proxy = await startFaultProxy(s3.endpoint);
    t.after(() => proxy.stop());
    proxy.rule = ({ method, url: target }) => {
      if (stallNext && !stalledOnce && method === 'GET' && /\/(blobs|leaves)\/[0-9A-F]{32}/.test(target)) {
        stalledOnce = true;
        return 'stall';
      }
      return 'pass';
    };
    proxies.push(proxy);
  }

  // Both nodes start at the same moment on the fresh database: one applies the migrations
  // while the other waits on the advisory lock, and both insert the root key.
  const nodes: Node[] = [];
  const dirs = [await tempDir('oas-node-a-'), await tempDir('oas-node-b-')];
  t.after(async () => {
    for (const n of nodes) await kill(n);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const envOf = (proxy: FaultProxy) => ({
    OAS_METADATA: url, OAS_PG_POOL_SIZE: '4', OAS_BLOBS: `s3://${BUCKET}/oas`, OAS_S3_ENDPOINT: proxy.endpoint,
    OAS_S3_REGION: s3.region, OAS_S3_ACCESS_KEY_ID: s3.accessKeyId, OAS_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    OAS_S3_FORCE_PATH_STYLE: 'true',
  });
  const started = await Promise.allSettled(proxies.map((p, i) => startNode(envOf(p), dirs[i]!)));
  for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
  for (const s of started) if (s.status === 'rejected') throw s.reason;
  const [a, b] = nodes as [Node, Node];
  assert.notEqual(a.port, b.port);

  const db = new pg.Client({ connectionString: url });
  db.on('error', () => undefined); // the cluster may stop first at teardown
  await db.connect();
  t.after(() => db.end());
  // Both nodes started at once: every migration applied exactly once.
  assert.deepEqual((await db.query('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version),
    MIGRATIONS.map((m) => m.version));
  assert.equal((await db.query('SELECT COUNT(*)::int AS n FROM account_keys')).rows[0].n, 1);

  // A vault made on one node is the other's too.
  const vault = await a.client.vaultId('shared');
  assert.equal((await b.client.get(`/vaults/${vault}`)).status, 200);

  // One multipart upload: parts alternately on A and B, complete on the node that did not
  // take the last part.
  const DATA = pattern(5 * MIB + 123, 17);
  const init = await b.client.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads`, headers: { 'x-oas-part-size': MIB } });
  assert.equal(init.status, 201, init.text);
  const uploadId = String(init.headers['x-oas-multipart-upload-id']);
  const partTrees: string[] = [];
  let last = 0;
  for (let i = 0, start = 0; start < DATA.length; i++, start += MIB) {
    const part = DATA.subarray(start, Math.min(DATA.length, start + MIB));
    const h = hashBuffer(part);
    partTrees.push(h.treeEtag);
    last = i % 2;
    const res = await nodes[last]!.client.request({
      method: 'PUT', path: `/vaults/${vault}/multipart-uploads/${uploadId}`, body: part,
      headers: { 'Content-Range': `${start}-${start + part.length - 1}`, 'x-oas-content-etag': h.etag, 'x-oas-tree-etag': h.treeEtag },
    });
    assert.equal(res.status, 204, res.text);
  }
  for (const n of nodes) {
    const listed = await n.client.get(`/vaults/${vault}/multipart-uploads/${uploadId}`);
    assert.equal(listed.json.Parts.length, 6);
  }
  const other = nodes[1 - last]!;
  const done = await other.client.request({
    method: 'POST', path: `/vaults/${vault}/multipart-uploads/${uploadId}`,
    headers: { 'x-oas-archive-size': DATA.length, 'x-oas-tree-etag': combineTreeEtags(partTrees) },
  });
  assert.equal(done.status, 201, done.text);
  const archiveId = String(done.headers['x-oas-archive-id']);
  for (const n of nodes) {
    const meta = await n.client.get(`/vaults/${vault}/archives/${archiveId}/meta`);
    assert.equal(meta.status, 200, meta.text);
    assert.equal(meta.json.ArchiveTreeEtag, hashBuffer(DATA).treeEtag);
  }

  // Retrieval jobs created on one node, watched and downloaded on the other; ranges stitch
  // across the parts' blobs. Each runs exactly once: claimed once (attempts 1).
  const ranges: Array<[number, number]> = [[0, DATA.length - 1], [MIB, 3 * MIB - 1], [2 * MIB, 5 * MIB + 122], [0, MIB - 1], [4 * MIB, 5 * MIB - 1], [3 * MIB, 4 * MIB - 1]];
  const jobs: string[] = [];
  for (const [i, [from, to]] of ranges.entries()) {
    jobs.push(await nodes[i % 2]!.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: archiveId, RetrievalByteRange: `${from}-${to}` }));
  }
  for (const [i, jobId] of jobs.entries()) {
    const reader = nodes[(i + 1) % 2]!;
    const job = await reader.client.waitJob(vault, jobId, 60_000);
    assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
    const [from, to] = ranges[i]!;
    const whole = await reader.client.get(`/vaults/${vault}/jobs/${jobId}/output`);
    assert.equal(whole.status, 200, whole.text);
    assert.ok(whole.body.equals(DATA.subarray(from, to + 1)), `job ${i}: output differs`);
    // A (MiB-aligned) range of the output across a part boundary, from the node that did not run it.
    if (to - from + 1 > 2 * MIB) {
      const part = await reader.client.get(`/vaults/${vault}/jobs/${jobId}/output`, { Range: `bytes=${MIB}-${3 * MIB - 1}` });
      assert.equal(part.status, 206, part.text);
      assert.ok(part.body.equals(DATA.subarray(from + MIB, from + 3 * MIB)));
    }
  }
  const claims = await db.query<{ id: string; attempts: number; lease_owner: string | null }>(
    'SELECT id, attempts, lease_owner FROM jobs WHERE id = ANY ($1::text[])', [jobs]);
  assert.equal(claims.rows.length, jobs.length);
  for (const row of claims.rows) {
    assert.equal(row.attempts, 1, `job ${row.id} was claimed ${row.attempts} times`);
    assert.equal(row.lease_owner, null);
  }

  // A node dies inside a job: its lease runs out (2 s) and the other node runs the job.
  stallNext = true;
  const stalls = proxies.map((p, i) => p.nextStall().then(() => i));
  const victimJob = await a.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: archiveId });
  const victimIndex = await Promise.race(stalls);
  const victim = nodes[victimIndex]!;
  const survivor = nodes[1 - victimIndex]!;
  const leased = (await db.query<{ lease_owner: string; status: string }>('SELECT lease_owner, status FROM jobs WHERE id = $1', [victimJob])).rows[0]!;
  assert.equal(leased.status, 'InProgress');
  assert.equal(leased.lease_owner.split(':').at(-2), String(victim.proc.pid), 'the stalled node holds the lease');
  await kill(victim);
  const finished = await survivor.client.waitJob(vault, victimJob, 90_000);
  assert.equal(finished.StatusCode, 'Succeeded', finished.StatusMessage);
  const out = await survivor.client.get(`/vaults/${vault}/jobs/${victimJob}/output`);
  assert.equal(out.status, 200);
  assert.ok(out.body.equals(DATA));
  const after = (await db.query<{ attempts: number; lease_owner: string | null }>('SELECT attempts, lease_owner FROM jobs WHERE id = $1', [victimJob])).rows[0]!;
  assert.equal(after.attempts, 2, 'claimed by the dead node, then once by the survivor');
  assert.equal(after.lease_owner, null);

  // The survivor still serves everything, and no node kept anything in its data directory.
  assert.equal((await survivor.client.get(`/vaults/${vault}/archives/${archiveId}/meta`)).status, 200);
  await kill(survivor, 'SIGTERM');
  for (const d of dirs) assert.deepEqual(await readdir(d), [], `data directory ${d} is not empty`);
});
