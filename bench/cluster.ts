// npm run bench:cluster — the scale-out setup (server process on PostgreSQL + S3) against
// plain references measured in the same run on the same services:
//   1. one archive upload (etags precomputed, body streamed from a file) vs a plain S3
//      PutObject of the same bytes (streamed from the same file) to the same S3 server
//   2. download through a completed retrieval job vs a plain GetObject of that object
//   3. signed describe-vault requests/s on a postgres+s3 server vs a sqlite+file server
//      (64 keep-alive connections; the load generator is its own process)
// Alternating repetitions, medians; read the ratios (other load on the machine moves both).
// Env: BENCH_S3 (rgw: a single-node Ceph radosgw, realistic, ~40 s to start; s3rver: fast),
// BENCH_SIZE_MIB (256), BENCH_REPS (3), BENCH_LOAD_SECS (4), BENCH_ONLY (upload,download,rps).
// Server options in the environment reach both servers, e.g. OAS_KEY_CACHE=2s.
//
// The load generator is bench/load.ts, its own process on the same Node with the same flags.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { hashFile, stopLeafWorker } from '../packages/sdk/src/index.js';
import { startPostgres } from '../packages/server/test/helpers/postgres.js';
import { startS3rver } from '../packages/server/test/helpers/s3rver.js';
import { startCephRgw } from '../packages/server/test/helpers/ceph-rgw.js';
import { testS3Client } from '../packages/server/test/helpers/s3-client.js';
import {
  MIB, type Server, children, createVault, expectStatus, median, runLoad, secs, startServer as startServerProcess, stopServer,
  waitForJob, writeSource as writeRandomFile,
} from './lib.js';

const KEY_ID = 'BENCHCLUSTERKEY';
const KEY_SECRET = 'bench-cluster-secret-0123456789';
const CONNECTIONS = 64;
const BUCKET = 'bench';

// ---- the bench ---------------------------------------------------------------------------

const S3_KIND = process.env.BENCH_S3 ?? 'rgw';
const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 256) * MIB;
const REPS = Number(process.env.BENCH_REPS ?? 3);
const LOAD_MS = Number(process.env.BENCH_LOAD_SECS ?? 4) * 1000;
const ONLY = new Set((process.env.BENCH_ONLY ?? 'upload,download,rps').split(','));
const work = fileURLToPath(new URL(`./.work/cluster-${process.pid}/`, import.meta.url));
const source = `${work}source.bin`;

const cleanups: Array<() => Promise<void>> = [];

/** A server child process on the given stores, log level warn (no line per request). */
function startServer(name: string, env: Record<string, string>): Promise<Server> {
  return startServerProcess({ dataDir: `${work}${name}`, logLevel: 'warn', keyId: KEY_ID, keySecret: KEY_SECRET, env, label: `server ${name}` });
}

function load(port: number, path: string): Promise<number> {
  return runLoad({ port, path, warmupMs: 1000, ms: LOAD_MS, connections: CONNECTIONS, keyId: KEY_ID, keySecret: KEY_SECRET });
}

function writeSource(): Promise<void> {
  return writeRandomFile(source, SIZE);
}

async function drain(body: Readable): Promise<number> {
  let bytes = 0;
  body.on('data', (c: Buffer) => (bytes += c.length));
  await pipeline(body, createWriteStream('/dev/null'));
  return bytes;
}

interface Row {
  what: string;
  ours: string;
  reference: string;
  ratio: string;
}

async function benchTransfer(server: Server, s3: S3Client, vaultId: string, rows: Row[]): Promise<void> {
  const sums = await hashFile(source);
  const ups: number[] = [];
  const puts: number[] = [];
  let kept = '';
  for (let rep = 0; rep < REPS; rep++) {
    let start = performance.now();
    const res = await server.api.postArchiveFromReader(vaultId, createReadStream(source, { highWaterMark: MIB }), SIZE, sums.etag, sums.treeEtag);
    await res.read();
    ups.push(performance.now() - start);
    expectStatus('upload', res.status, 201);
    const id = res.getHeader('x-oas-archive-id')!;
    if (kept) (await server.api.deleteArchive(vaultId, id)).dispose();
    else kept = id;
    start = performance.now();
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'plain/object', Body: createReadStream(source, { highWaterMark: MIB }), ContentLength: SIZE }));
    puts.push(performance.now() - start);
  }
  console.log(`  upload   ours [${ups.map(secs).join(' ')}]  PutObject [${puts.map(secs).join(' ')}]`);
  if (ONLY.has('upload')) {
    rows.push({
      what: `1. upload ${SIZE / MIB} MiB archive`, ours: secs(median(ups)), reference: `PutObject ${secs(median(puts))}`,
      ratio: (median(ups) / median(puts)).toFixed(2),
    });
  }
  if (!ONLY.has('download')) return;

  const created = await server.api.createJob(vaultId, 'archive-retrieval', kept);
  created.dispose();
  expectStatus('create job', created.status, 202);
  const jobId = created.getHeader('x-oas-job-id')!;
  const jobStart = performance.now();
  await waitForJob(server.api, vaultId, jobId, 50);
  const jobMs = performance.now() - jobStart;
  const gets: number[] = [];
  const plain: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    let start = performance.now();
    const res = await server.api.fetchJobOutput(vaultId, jobId);
    expectStatus('job output', res.status, 200);
    if (res.getHeader('x-oas-tree-etag') !== sums.treeEtag) throw new Error('job output has the wrong tree etag');
    const got = await drain(res.body);
    gets.push(performance.now() - start);
    if (got !== SIZE) throw new Error(`job output: ${got} bytes, expected ${SIZE}`);
    start = performance.now();
    const obj = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'plain/object' }));
    const n = await drain(obj.Body as Readable);
    plain.push(performance.now() - start);
    if (n !== SIZE) throw new Error(`GetObject: ${n} bytes, expected ${SIZE}`);
  }
  console.log(`  download ours [${gets.map(secs).join(' ')}]  GetObject [${plain.map(secs).join(' ')}]  (retrieval job verified the archive in ${secs(jobMs)})`);
  rows.push({
    what: '2. download via retrieval job', ours: secs(median(gets)), reference: `GetObject ${secs(median(plain))}`,
    ratio: (median(gets) / median(plain)).toFixed(2),
  });
  await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'plain/object' }));
}

async function benchRps(pgServer: Server, sqliteServer: Server, rows: Row[]): Promise<void> {
  const pgVault = await createVault(pgServer.api, 'rps');
  const sqVault = await createVault(sqliteServer.api, 'rps');
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    ours.push(await load(pgServer.port, `/vaults/${pgVault}`));
    theirs.push(await load(sqliteServer.port, `/vaults/${sqVault}`));
  }
  const fmt = (r: number) => `${r.toFixed(0)}/s`;
  console.log(`  rps      postgres [${ours.map(fmt).join(' ')}]  sqlite [${theirs.map(fmt).join(' ')}]`);
  rows.push({
    what: `3. signed GET /vaults/{id}, ${CONNECTIONS} conns`, ours: `${fmt(median(ours))} pg`, reference: `sqlite ${fmt(median(theirs))}`,
    ratio: (median(ours) / median(theirs)).toFixed(2),
  });
}

async function main(): Promise<void> {
  await mkdir(work, { recursive: true });
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  const started = performance.now();
  const [pg, s3server] = await Promise.all([
    startPostgres(),
    S3_KIND === 's3rver' ? startS3rver() : startCephRgw({ bluestoreBytes: 16 * 1024 * MIB }),
  ]);
  cleanups.push(() => pg.stop(), () => s3server.stop());
  await s3server.createBucket(BUCKET);
  const s3 = testS3Client(s3server);
  cleanups.push(async () => s3.destroy());
  const url = await pg.createDatabase('bench');
  console.log(`cluster bench: ${SIZE / MIB} MiB archive, ${REPS} alternating repetitions, S3 = ${S3_KIND}, `
    + `services up in ${secs(performance.now() - started)}, load average ${loadavg()[0]!.toFixed(2)}`);
  await writeSource();

  const rows: Row[] = [];
  const cluster = await startServer('pg', {
    OAS_METADATA: url, OAS_BLOBS: `s3://${BUCKET}/oas`, OAS_S3_ENDPOINT: s3server.endpoint, OAS_S3_REGION: s3server.region,
    OAS_S3_ACCESS_KEY_ID: s3server.accessKeyId, OAS_S3_SECRET_ACCESS_KEY: s3server.secretAccessKey, OAS_S3_FORCE_PATH_STYLE: 'true',
  });
  cleanups.push(() => stopServer(cluster));
  if (ONLY.has('upload') || ONLY.has('download')) {
    await benchTransfer(cluster, s3, await createVault(cluster.api, 'transfer'), rows);
  }
  if (ONLY.has('rps')) {
    const embedded = await startServer('sqlite', { OAS_METADATA: '', OAS_BLOBS: '' });
    cleanups.push(() => stopServer(embedded));
    await benchRps(cluster, embedded, rows);
  }

  const widths = [52, 12, 22, 6];
  console.log('');
  console.log(`  ${'measure'.padEnd(widths[0]!)}${'ours'.padStart(widths[1]!)}  ${'reference'.padEnd(widths[2]!)}${'ratio'.padStart(widths[3]!)}`);
  console.log(`  ${'-'.repeat(widths.reduce((a, b) => a + b, 2))}`);
  for (const r of rows) {
    console.log(`  ${r.what.padEnd(widths[0]!)}${r.ours.padStart(widths[1]!)}  ${r.reference.padEnd(widths[2]!)}${r.ratio.padStart(widths[3]!)}`);
  }
  console.log('\n  ratios: upload/download are time ours / time plain S3 (lower is better, 1.00 = as fast as S3 itself);');
  console.log('  requests/s is postgres / sqlite (higher is better).');
}

async function cleanup(): Promise<void> {
  for (const child of children) child.kill('SIGKILL');
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  await stopLeafWorker().catch(() => undefined);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void cleanup().finally(() => process.exit(130)); });
}
main().then(cleanup, async (err: unknown) => {
  console.error(err);
  await cleanup();
  process.exitCode = 1;
});
