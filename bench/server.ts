// npm run bench:server — the server (a child process, as it is deployed) against plain
// references measured in the same run, on the same data (numbered as the speed goals: 0 serve, 2 ingest, 4 job, 6 many at once):
//   0. serve: `curl -o` of a retrieval job's output vs `cp` of the same bytes; also curl of a
//      file:// URL and of a node:http server sending the bytes from memory (the floors)
//   2. ingest: one signed archive POST (etags precomputed, body streamed from a file) vs
//      max(`dd conv=fsync`, `md5sum`) of the same bytes; also into a second server with the
//      Glacier front end off (`--glacier off`: no SHA-256 leaves), the OAS-only deployment
//   4. a retrieval job, from creation to Succeeded (job delay 0), vs `md5sum`
//   6. four concurrent POSTs of the archive's quarters vs the one POST of goal 2
//   rps: signed describe-vault requests/s over 64 keep-alive connections vs a bare node:http
//      server answering a fixed JSON body; the load generator is its own process
//   rss: the server's peak RSS during a multipart upload with 4 parts in flight
// Alternating repetitions, medians; read the ratios (other load moves both sides).
// Env: BENCH_SIZE_MIB (1024), BENCH_REPS (3), BENCH_LOAD_SECS (4), BENCH_MULTIPART_MIB
// (4096), BENCH_PART_MIB (64), BENCH_ONLY (comma list of ingest,job,serve,rps,rss; job and
// serve without ingest upload their archive once, untimed),
// BENCH_LOG_LEVEL (server log level, default warn: no line per request).
//
// The same file is also the bare reference server (`--bare <port>`), and the load generator
// is bench/load.ts, so every process runs the same Node with the same flags.
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  authorizationHeader, combineTreeEtags, computeSignature, type Checksums, formatRfc1123, hashFile, stopLeafWorker, stringToSign,
} from '../packages/sdk/src/index.js';
import {
  MIB, type Server, children, createVault, expectStatus, freePort, median, runBench, runLoad, secs, startServer as startServerProcess,
  stop, stopServer, track, waitForJob, writeSource as writeRandomFile,
} from './lib.js';

const KEY_ID = 'BENCHROOTKEY';
const KEY_SECRET = 'bench-root-secret-0123456789';
const SELF = fileURLToPath(import.meta.url);
const CONNECTIONS = 64;

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(0)} MB`;

// ---- child role -----------------------------------------------------------------------

/** The reference: node:http answering every request with the same small JSON body. */
function bareServer(port: number): void {
  const body = Buffer.from(JSON.stringify({
    CreationDate: formatRfc1123(), LastInventoryDate: '', NumberOfArchives: 0, SizeInBytes: 0,
    VaultId: '0'.repeat(32), VaultName: 'bench',
  }));
  http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  }).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
}

/** Serve's floor: SIZE bytes from one buffer in memory, nothing read or hashed, written as the server writes. */
function memoryServer(port: number): void {
  const block = Buffer.alloc(8 * MIB, 0x5a);
  http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': SIZE });
    void (async () => {
      for (let at = 0; at < SIZE && !res.destroyed; at += block.length) {
        if (!res.write(block.subarray(0, Math.min(block.length, SIZE - at)))) await new Promise((resolve) => res.once('drain', resolve));
      }
      res.end();
    })();
  }).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
}

// ---- the bench ------------------------------------------------------------------------

const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 1024) * MIB;
const REPS = Number(process.env.BENCH_REPS ?? 3);
const LOAD_MS = Number(process.env.BENCH_LOAD_SECS ?? 4) * 1000;
const MULTIPART = Number(process.env.BENCH_MULTIPART_MIB ?? 4096) * MIB;
const PART = Number(process.env.BENCH_PART_MIB ?? 64) * MIB;
const ONLY = new Set((process.env.BENCH_ONLY ?? 'ingest,job,serve,rps,rss').split(','));
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';
const work = fileURLToPath(new URL(`./.work/server-${process.pid}/`, import.meta.url));
const source = `${work}source.bin`;
const ddCopy = `${work}dd-copy.bin`;
const dataDir = `${work}data`;
const oasOnlyDataDir = `${work}data-oas-only`;

/** Runs a command to completion; its time from spawn to exit. */
function timeCommand(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = track(spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c));
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = performance.now() - start;
      if (code === 0) resolve(ms);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
    });
  });
}

function startServer(): Promise<Server> {
  return startServerProcess({ dataDir, logLevel: LOG_LEVEL, keyId: KEY_ID, keySecret: KEY_SECRET, label: 'the server' });
}

/** The same server with the Glacier front end off. */
function startOasOnlyServer(): Promise<Server> {
  return startServerProcess({
    dataDir: oasOnlyDataDir, logLevel: LOG_LEVEL, keyId: KEY_ID, keySecret: KEY_SECRET, env: { OAS_GLACIER: 'off' }, label: 'the OAS-only server',
  });
}

async function startBare(role = '--bare'): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = track(spawn(process.execPath, [...process.execArgv, SELF, role, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return { child, port };
}

function load(port: number, path: string): Promise<number> {
  return runLoad({ port, path, warmupMs: 1000, ms: LOAD_MS, connections: CONNECTIONS, keyId: KEY_ID, keySecret: KEY_SECRET });
}

function writeSource(): Promise<void> {
  return writeRandomFile(source, SIZE);
}

interface Row {
  what: string;
  ours: string;
  reference: string;
  ratio: string;
  target: string;
}

/** Signed headers for a GET of `path`, for curl. */
function signedHeaders(path: string): string[] {
  const headers = { Date: formatRfc1123(), 'x-oas-version': '0.2.5' };
  const signature = computeSignature(KEY_SECRET, stringToSign('GET', Object.entries(headers), path, []));
  return [...Object.entries(headers), ['Authorization', authorizationHeader(KEY_ID, signature)]].flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
}

/** One signed POST of bytes `from..from+length` of the source; its archive id. */
async function upload(server: Server, vaultId: string, from: number, sums: Checksums): Promise<string> {
  const reader = createReadStream(source, { start: from, end: from + sums.size - 1, highWaterMark: MIB });
  const res = await server.api.postArchiveFromReader(vaultId, reader, sums.size, sums.etag, sums.treeEtag);
  await res.read();
  expectStatus('upload', res.status, 201);
  return res.getHeader('x-oas-archive-id')!;
}

async function deleteArchive(server: Server, vaultId: string, id: string): Promise<void> {
  (await server.api.deleteArchive(vaultId, id)).dispose();
}

const ratioRow = (what: string, ours: number[], refName: string, ref: number[], limit: number): Row => {
  const ratio = median(ours) / median(ref);
  return {
    what, ours: secs(median(ours)), reference: `${refName} ${secs(median(ref))}`,
    ratio: ratio.toFixed(2), target: `<= ${limit} ${ratio <= limit ? 'met' : 'MISSED'}`,
  };
};

/**
 * Goals 2 and 6: one signed POST of the whole source vs max(dd conv=fsync, md5sum) of it,
 * and four concurrent POSTs of its quarters vs that one POST. Returns a kept archive id.
 */
async function benchIngest(server: Server, vaultId: string, whole: Checksums, rows: Row[]): Promise<string> {
  const ingest: number[] = [];
  const oasOnly: number[] = [];
  const reference: number[] = [];
  const dd: number[] = [];
  const md5sum: number[] = [];
  const four: number[] = [];
  const quarter = SIZE / 4;
  const quarters: Checksums[] = [];
  for (let i = 0; i < 4; i++) quarters.push(await hashFile(source, { offset: i * quarter, length: quarter }));
  let kept = '';
  const timed = ONLY.has('ingest');
  const other = timed ? await startOasOnlyServer() : null;
  const otherVault = other ? await createVault(other.api, 'bench') : '';
  try {
    for (let rep = 0; rep < (timed ? REPS : 1); rep++) {
      let start = performance.now();
      const id = await upload(server, vaultId, 0, whole);
      ingest.push(performance.now() - start);
      if (kept) await deleteArchive(server, vaultId, id); // keep one archive on disk
      else kept = id;
      if (!other) return kept;
      start = performance.now();
      const otherId = await upload(other, otherVault, 0, whole);
      oasOnly.push(performance.now() - start);
      await deleteArchive(other, otherVault, otherId);
      dd.push(await timeCommand('dd', [`if=${source}`, `of=${ddCopy}`, 'bs=1M', 'conv=fsync']));
      await rm(ddCopy, { force: true });
      md5sum.push(await timeCommand('md5sum', [source]));
      reference.push(Math.max(dd.at(-1)!, md5sum.at(-1)!));
      start = performance.now();
      const ids = await Promise.all(quarters.map((sums, i) => upload(server, vaultId, i * quarter, sums)));
      four.push(performance.now() - start);
      for (const each of ids) await deleteArchive(server, vaultId, each);
    }
  } finally {
    if (other) await stopServer(other);
  }
  console.log(`  ingest   ours [${ingest.map(secs).join(' ')}]  --glacier off [${oasOnly.map(secs).join(' ')}]  dd [${dd.map(secs).join(' ')}]  md5sum [${md5sum.map(secs).join(' ')}]`);
  console.log(`  4 at once     [${four.map(secs).join(' ')}]`);
  rows.push(ratioRow(`2. ingest: signed POST of ${SIZE / MIB} MiB`, ingest, 'max(dd fsync, md5sum)', reference, 1.3));
  rows.push(ratioRow('   the same, server with --glacier off', oasOnly, 'max(dd fsync, md5sum)', reference, 1.3));
  rows.push(ratioRow(`6. 4 concurrent POSTs of ${SIZE / 4 / MIB} MiB`, four, 'one POST of all', ingest, 1.2));
  return kept;
}

/** Goal 4: a retrieval job from creation to Succeeded vs md5sum of the same bytes. */
async function benchJob(server: Server, vaultId: string, archiveId: string, rows: Row[]): Promise<string> {
  const job: number[] = [];
  const md5sum: number[] = [];
  let jobId = '';
  const timed = ONLY.has('job');
  for (let rep = 0; rep < (timed ? REPS : 1); rep++) {
    const start = performance.now();
    const created = await server.api.createJob(vaultId, 'archive-retrieval', archiveId);
    created.dispose();
    expectStatus('create job', created.status, 202);
    jobId = created.getHeader('x-oas-job-id')!;
    await waitForJob(server.api, vaultId, jobId, 10);
    job.push(performance.now() - start);
    if (!timed) return jobId;
    md5sum.push(await timeCommand('md5sum', [source]));
  }
  console.log(`  job      ours [${job.map(secs).join(' ')}]  md5sum [${md5sum.map(secs).join(' ')}]`);
  rows.push(ratioRow(`4. retrieval job of ${SIZE / MIB} MiB to Succeeded`, job, 'md5sum', md5sum, 1.2));
  return jobId;
}

/**
 * Goal 0: a plain `curl -o` of the job output vs `cp` of the same bytes on the same disk.
 * Also `curl -o` of the source as a file:// URL: curl's own floor (no server, no socket).
 */
async function benchServe(server: Server, vaultId: string, jobId: string, rows: Row[]): Promise<void> {
  const curl: number[] = [];
  const cp: number[] = [];
  const curlFile: number[] = [];
  const curlMemory: number[] = [];
  const memory = await startBare('--memory');
  const path = `/vaults/${vaultId}/jobs/${jobId}/output`;
  for (let rep = 0; rep < REPS; rep++) {
    curl.push(await timeCommand('curl', ['-sSf', '-o', ddCopy, ...signedHeaders(path), `http://127.0.0.1:${server.port}${path}`]));
    const { size } = await stat(ddCopy);
    if (size !== SIZE) throw new Error(`curl wrote ${size} bytes, expected ${SIZE}`);
    await rm(ddCopy, { force: true });
    cp.push(await timeCommand('cp', [source, ddCopy]));
    await rm(ddCopy, { force: true });
    curlFile.push(await timeCommand('curl', ['-sSf', '-o', ddCopy, `file://${source}`]));
    await rm(ddCopy, { force: true });
    curlMemory.push(await timeCommand('curl', ['-sSf', '-o', ddCopy, `http://127.0.0.1:${memory.port}/`]));
    await rm(ddCopy, { force: true });
  }
  await stop(memory.child);
  console.log(`  serve    curl [${curl.map(secs).join(' ')}]  cp [${cp.map(secs).join(' ')}]  curl file:// [${curlFile.map(secs).join(' ')}]  ` +
    `curl of a server sending from memory [${curlMemory.map(secs).join(' ')}]`);
  rows.push(ratioRow(`0. serve: curl -o of the ${SIZE / MIB} MiB job output`, curl, 'cp', cp, 2));
  rows.push({ ...ratioRow('   the same against curl\'s own floor', curl, 'curl -o file://', curlFile, 2), target: '(no target)' });
  rows.push({ ...ratioRow('   the floor of any server: bytes from memory', curlMemory, 'cp', cp, 2), target: '(the floor of goal 0)' });
}

async function benchRps(server: Server, vaultId: string, rows: Row[]): Promise<void> {
  const bare = await startBare();
  try {
    const ours: number[] = [];
    const theirs: number[] = [];
    const path = `/vaults/${vaultId}`;
    for (let rep = 0; rep < REPS; rep++) {
      ours.push(await load(server.port, path));
      theirs.push(await load(bare.port, path));
    }
    const fmt = (r: number) => `${r.toFixed(0)}/s`;
    console.log(`  rps      ours [${ours.map(fmt).join(' ')}]  bare [${theirs.map(fmt).join(' ')}]`);
    const ratio = median(ours) / median(theirs);
    rows.push({
      what: `rps: signed GET /vaults/{id}, ${CONNECTIONS} conns`, ours: fmt(median(ours)), reference: `bare node:http ${fmt(median(theirs))}`,
      ratio: ratio.toFixed(2), target: `>= 0.5 ${ratio >= 0.5 ? 'met' : 'MISSED'}`,
    });
  } finally {
    await stop(bare.child);
  }
}

function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function benchRss(vaultId: string, rows: Row[]): Promise<void> {
  // A fresh process, so VmHWM is this upload's peak and nothing earlier.
  const server = await startServer();
  try {
    const pid = server.child.pid!;
    const idle = memoryOf(pid).rss;
    // The archive is the source file repeated: part i holds source bytes (i % distinct).
    const distinct = Math.max(1, Math.floor(SIZE / PART));
    const sums: Checksums[] = [];
    for (let i = 0; i < distinct; i++) sums.push(await hashFile(source, { offset: i * PART, length: PART }));
    const count = Math.ceil(MULTIPART / PART);
    if (MULTIPART % PART !== 0) throw new Error('BENCH_MULTIPART_MIB must be a multiple of BENCH_PART_MIB');
    const created = await server.api.createMultipartUpload(vaultId, PART);
    created.dispose();
    expectStatus('initiate multipart', created.status, 201);
    const uploadId = created.getHeader('x-oas-multipart-upload-id')!;

    let peakRss = idle;
    const sampler = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, memoryOf(pid).rss);
      } catch {
        // the process is gone; the upload will fail on its own
      }
    }, 20);
    const start = performance.now();
    let next = 0;
    try {
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (next < count) {
          const i = next++;
          const from = (i % distinct) * PART;
          const sum = sums[i % distinct]!;
          const reader = createReadStream(source, { start: from, end: from + PART - 1, highWaterMark: MIB });
          const res = await server.api.postMultipartFromReader(vaultId, uploadId, reader, PART,
            `${i * PART}-${(i + 1) * PART - 1}`, sum.etag, sum.treeEtag);
          await res.read();
          expectStatus(`part ${i}`, res.status, 204);
        }
      }));
      const treeEtag = combineTreeEtags(Array.from({ length: count }, (_, i) => sums[i % distinct]!.treeEtag));
      const done = await server.api.completeMultipartUpload(vaultId, uploadId, MULTIPART, treeEtag);
      done.dispose();
      expectStatus('complete multipart', done.status, 201);
    } finally {
      clearInterval(sampler);
    }
    const ms = performance.now() - start;
    const { hwm } = memoryOf(pid);
    console.log(`  rss      idle ${mb(idle)}, peak sampled ${mb(peakRss)}, VmHWM ${mb(hwm)}; ${MULTIPART / MIB} MiB in ${secs(ms)} ` +
      `(${(MULTIPART / MIB / (ms / 1000)).toFixed(0)} MiB/s)`);
    rows.push({
      what: `rss: peak, ${MULTIPART / MIB} MiB multipart, 4 x ${PART / MIB} MiB in flight`, ours: mb(hwm),
      reference: `idle ${mb(idle)}`, ratio: '-', target: `< 200 MB ${hwm < 200e6 ? 'met' : 'MISSED'}`,
    });
  } finally {
    await stopServer(server);
  }
}

function printTable(rows: Row[]): void {
  const head: Row = { what: 'measure', ours: 'server', reference: 'reference', ratio: 'ratio', target: 'target' };
  const all = [head, ...rows];
  const width = (k: keyof Row) => Math.max(...all.map((r) => r[k].length));
  const line = (r: Row) => `  ${r.what.padEnd(width('what'))}  ${r.ours.padStart(width('ours'))}  ${r.reference.padEnd(width('reference'))}  ${r.ratio.padStart(width('ratio'))}  ${r.target}`;
  console.log(line(head));
  console.log(`  ${'-'.repeat(line(head).length - 2)}`);
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  const [load] = loadavg();
  console.log(`server bench (${new Date().toISOString()}): ${SIZE / MIB} MiB archive, ${REPS} alternating repetitions, server as a child process ` +
    `(log level ${LOG_LEVEL}), load average ${load!.toFixed(2)}`);
  await mkdir(work, { recursive: true });
  const rows: Row[] = [];
  let server: Server | undefined;
  try {
    await writeSource();
    // Warms the page cache for every reader below, and gives the upload's checksums.
    const whole = await hashFile(source);
    await stopLeafWorker(); // this process's worker thread is not needed while we measure
    server = await startServer();
    const vaultId = await createVault(server.api, 'bench');
    if (ONLY.has('ingest') || ONLY.has('job') || ONLY.has('serve')) {
      const archiveId = await benchIngest(server, vaultId, whole, rows);
      const jobId = await benchJob(server, vaultId, archiveId, rows);
      if (ONLY.has('serve')) await benchServe(server, vaultId, jobId, rows);
    }
    if (ONLY.has('rps')) await benchRps(server, vaultId, rows);
    await stopServer(server);
    server = undefined;
    if (ONLY.has('rss')) await benchRss(vaultId, rows);
    console.log('');
    printTable(rows);
    console.log(`  load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    if (server) await stopServer(server).catch(() => {});
    await Promise.allSettled([...children].map(stop));
    await stopLeafWorker();
    await rm(work, { recursive: true, force: true });
  }
}

const [mode, arg] = process.argv.slice(2);
if (mode === '--bare') bareServer(Number(arg));
else if (mode === '--memory') memoryServer(Number(arg));
else await runBench('bench:server', main, work);
