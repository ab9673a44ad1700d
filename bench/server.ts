// npm run bench:server — the server (a child process, as it is deployed) against plain
// references measured in the same run, on the same data:
//   1. one archive upload (etags precomputed, body streamed from a file) vs `dd conv=fsync`
//   2. download of that archive through a completed retrieval job vs `cat F >/dev/null`
//   3. signed describe-vault requests/s over 64 keep-alive connections vs a bare node:http
//      server answering a fixed JSON body; the load generator is its own process
//   4. the server's peak RSS during a multipart upload with 4 parts in flight
// Alternating repetitions, medians; read the ratios (other load moves both sides).
// Env: BENCH_SIZE_MIB (1024), BENCH_REPS (3), BENCH_LOAD_SECS (4), BENCH_MULTIPART_MIB
// (4096), BENCH_PART_MIB (64), BENCH_ONLY (comma list of upload,download,rps,rss),
// BENCH_LOG_LEVEL (server log level, default warn: no line per request).
//
// The same file is also the bare reference server (`--bare <port>`) and the load
// generator (`--load <json>`), so every process runs the same Node with the same flags.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { loadavg } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import {
  OASAPI, authorizationHeader, combineTreeEtags, type Checksums, computeSignature, formatRfc1123, hashFile, stopLeafWorker, stringToSign,
} from '../packages/sdk/src/index.js';

const MIB = 1024 * 1024;
const KEY_ID = 'BENCHROOTKEY';
const KEY_SECRET = 'bench-root-secret-0123456789';
const SERVER_MAIN = fileURLToPath(new URL('../packages/server/src/main.ts', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const CONNECTIONS = 64;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)}s`;
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(0)} MB`;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---- child roles ----------------------------------------------------------------------

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

interface LoadSpec {
  port: number;
  path: string;
  warmupMs: number;
  ms: number;
}

/** The load loop: CONNECTIONS concurrent request loops, each request signed when it is sent. */
async function loadGenerator(spec: LoadSpec): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  let ok = 0;
  let failed = 0;
  const once = () => new Promise<void>((resolve) => {
    const date = formatRfc1123();
    const headers = { Date: date, 'x-oas-version': '0.2.5' };
    const signature = computeSignature(KEY_SECRET, stringToSign('GET', Object.entries(headers), spec.path, []));
    const req = http.request({
      host: '127.0.0.1', port: spec.port, path: spec.path, method: 'GET', agent,
      headers: { ...headers, Authorization: authorizationHeader(KEY_ID, signature) },
    }, (res) => {
      if (res.statusCode === 200) ok++;
      else failed++;
      res.resume();
      res.once('end', resolve);
      res.once('error', () => resolve());
    });
    req.once('error', () => { failed++; resolve(); });
    req.end();
  });
  const run = async (ms: number) => {
    ok = failed = 0;
    const until = performance.now() + ms;
    const start = performance.now();
    await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < until) await once();
    }));
    return { ok, failed, ms: performance.now() - start };
  };
  await run(spec.warmupMs);
  const result = await run(spec.ms);
  agent.destroy();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---- the bench ------------------------------------------------------------------------

const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 1024) * MIB;
const REPS = Number(process.env.BENCH_REPS ?? 3);
const LOAD_MS = Number(process.env.BENCH_LOAD_SECS ?? 4) * 1000;
const MULTIPART = Number(process.env.BENCH_MULTIPART_MIB ?? 4096) * MIB;
const PART = Number(process.env.BENCH_PART_MIB ?? 64) * MIB;
const ONLY = new Set((process.env.BENCH_ONLY ?? 'upload,download,rps,rss').split(','));
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';
const work = fileURLToPath(new URL(`./.work/server-${process.pid}/`, import.meta.url));
const source = `${work}source.bin`;
const ddCopy = `${work}dd-copy.bin`;
const dataDir = `${work}data`;

const children = new Set<ChildProcess>();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL if it has not exited within 5 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

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

interface Server {
  child: ChildProcess;
  port: number;
  api: OASAPI;
}

async function waitHealthy(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      http.get({ host: '127.0.0.1', port, path: '/health', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      }).once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`the server did not answer /health within 60 s: ${stderr()}`);
    await sleep(100);
  }
}

async function startServer(): Promise<Server> {
  const port = await freePort();
  const child = track(spawn(process.execPath, [
    ...process.execArgv, SERVER_MAIN, '--data-dir', dataDir, '--port', String(port), '--log-level', LOG_LEVEL, '--job-delay', '0',
  ], {
    env: { ...process.env, OAS_ROOT_ACCESS_KEY_ID: KEY_ID, OAS_ROOT_ACCESS_KEY_SECRET: KEY_SECRET },
    stdio: ['ignore', 'ignore', 'pipe'],
  }));
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c).slice(-4000)));
  await waitHealthy(port, child, () => stderr);
  return { child, port, api: new OASAPI('127.0.0.1', KEY_ID, KEY_SECRET, { port }) };
}

async function stopServer(server: Server): Promise<void> {
  server.api.close();
  await stop(server.child);
}

async function startBare(): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = track(spawn(process.execPath, [...process.execArgv, SELF, '--bare', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return { child, port };
}

async function runLoad(port: number, path: string): Promise<number> {
  const spec: LoadSpec = { port, path, warmupMs: 1000, ms: LOAD_MS };
  const child = track(spawn(process.execPath, [...process.execArgv, SELF, '--load', JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  const result = JSON.parse(out) as { ok: number; failed: number; ms: number };
  if (result.failed > 0) throw new Error(`${result.failed} requests to port ${port} failed`);
  return result.ok / (result.ms / 1000);
}

/** Random data, written fast: one random 64 MiB block, each copy with its own first bytes. */
async function writeSource(): Promise<void> {
  const block = randomBytes(64 * MIB);
  const fh = await open(source, 'w');
  try {
    for (let at = 0; at < SIZE; at += block.length) {
      randomBytes(16).copy(block, 0);
      await fh.write(block, 0, Math.min(block.length, SIZE - at));
    }
  } finally {
    await fh.close();
  }
}

function expectStatus(what: string, status: number, expected: number): void {
  if (status !== expected) throw new Error(`${what}: HTTP ${status}, expected ${expected}`);
}

async function createVault(api: OASAPI, name: string): Promise<string> {
  const res = await api.createVault(name);
  res.dispose();
  expectStatus('create vault', res.status, 201);
  return res.getHeader('x-oas-vault-id')!;
}

interface Row {
  what: string;
  ours: string;
  reference: string;
  ratio: string;
  target: string;
}

async function benchUpload(server: Server, vaultId: string, etag: string, treeEtag: string, rows: Row[]): Promise<string> {
  const ours: number[] = [];
  const dd: number[] = [];
  let kept = '';
  for (let rep = 0; rep < REPS; rep++) {
    const start = performance.now();
    const res = await server.api.postArchiveFromReader(vaultId, createReadStream(source, { highWaterMark: MIB }), SIZE, etag, treeEtag);
    await res.read();
    ours.push(performance.now() - start);
    expectStatus('upload', res.status, 201);
    const id = res.getHeader('x-oas-archive-id')!;
    if (kept) (await server.api.deleteArchive(vaultId, id)).dispose(); // keep one archive on disk
    else kept = id;
    dd.push(await timeCommand('dd', [`if=${source}`, `of=${ddCopy}`, 'bs=1M', 'conv=fsync']));
    await rm(ddCopy, { force: true });
  }
  console.log(`  upload   ours [${ours.map(secs).join(' ')}]  dd [${dd.map(secs).join(' ')}]`);
  const ratio = median(ours) / median(dd);
  rows.push({
    what: `1. upload ${SIZE / MIB} MiB archive`, ours: secs(median(ours)), reference: `dd conv=fsync ${secs(median(dd))}`,
    ratio: ratio.toFixed(2), target: `<= 1.25 ${ratio <= 1.25 ? 'met' : 'MISSED'}`,
  });
  return kept;
}

async function benchDownload(server: Server, vaultId: string, archiveId: string, treeEtag: string, rows: Row[]): Promise<void> {
  const created = await server.api.createJob(vaultId, 'archive-retrieval', archiveId);
  created.dispose();
  expectStatus('create job', created.status, 202);
  const jobId = created.getHeader('x-oas-job-id')!;
  for (;;) {
    const job = await (await server.api.getJobDesc(vaultId, jobId)).json<{ Completed: boolean; StatusCode: string; StatusMessage: string }>();
    if (job.Completed) {
      if (job.StatusCode !== 'Succeeded') throw new Error(`retrieval job failed: ${job.StatusMessage}`);
      break;
    }
    await sleep(100);
  }
  const ours: number[] = [];
  const cat: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const start = performance.now();
    const res = await server.api.fetchJobOutput(vaultId, jobId);
    expectStatus('job output', res.status, 200);
    if (res.getHeader('x-oas-tree-etag') !== treeEtag) throw new Error('job output has the wrong tree etag');
    let bytes = 0;
    res.body.on('data', (c: Buffer) => (bytes += c.length));
    await pipeline(res.body, createWriteStream('/dev/null'));
    ours.push(performance.now() - start);
    if (bytes !== SIZE) throw new Error(`job output: ${bytes} bytes, expected ${SIZE}`);
    cat.push(await timeCommand('sh', ['-c', `cat '${source}' >/dev/null`]));
  }
  console.log(`  download ours [${ours.map(secs).join(' ')}]  cat [${cat.map(secs).join(' ')}]`);
  rows.push({
    what: '2. download via retrieval job', ours: secs(median(ours)), reference: `cat >/dev/null ${secs(median(cat))}`,
    ratio: (median(ours) / median(cat)).toFixed(2), target: '(none)',
  });

}

async function benchRps(server: Server, vaultId: string, rows: Row[]): Promise<void> {
  const bare = await startBare();
  try {
    const ours: number[] = [];
    const theirs: number[] = [];
    const path = `/vaults/${vaultId}`;
    for (let rep = 0; rep < REPS; rep++) {
      ours.push(await runLoad(server.port, path));
      theirs.push(await runLoad(bare.port, path));
    }
    const fmt = (r: number) => `${r.toFixed(0)}/s`;
    console.log(`  rps      ours [${ours.map(fmt).join(' ')}]  bare [${theirs.map(fmt).join(' ')}]`);
    const ratio = median(ours) / median(theirs);
    rows.push({
      what: `3. signed GET /vaults/{id}, ${CONNECTIONS} conns`, ours: fmt(median(ours)), reference: `bare node:http ${fmt(median(theirs))}`,
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
      what: `4. peak RSS, ${MULTIPART / MIB} MiB multipart, 4 x ${PART / MIB} MiB in flight`, ours: mb(hwm),
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
  console.log(`server bench: ${SIZE / MIB} MiB archive, ${REPS} alternating repetitions, server as a child process ` +
    `(log level ${LOG_LEVEL}), load average ${load!.toFixed(2)}`);
  await mkdir(work, { recursive: true });
  const rows: Row[] = [];
  let server: Server | undefined;
  try {
    await writeSource();
    // Warms the page cache for every reader below, and gives the upload's checksums.
    const { etag, treeEtag } = await hashFile(source);
    await stopLeafWorker(); // this process's worker thread is not needed while we measure
    server = await startServer();
    const vaultId = await createVault(server.api, 'bench');
    if (ONLY.has('upload') || ONLY.has('download')) {
      const archiveId = await benchUpload(server, vaultId, etag, treeEtag, rows);
      if (ONLY.has('download')) await benchDownload(server, vaultId, archiveId, treeEtag, rows);
    }
    if (ONLY.has('rps')) await benchRps(server, vaultId, rows);
    await stopServer(server);
    server = undefined;
    if (ONLY.has('rss')) await benchRss(vaultId, rows);
    console.log('');
    printTable(rows);
  } finally {
    if (server) await stopServer(server).catch(() => {});
    await Promise.allSettled([...children].map(stop));
    await stopLeafWorker();
    await rm(work, { recursive: true, force: true });
  }
}

const [mode, arg] = process.argv.slice(2);
if (mode === '--bare') bareServer(Number(arg));
else if (mode === '--load') await loadGenerator(JSON.parse(arg!) as LoadSpec);
else {
  // Ctrl-C still removes the children and the scratch files (main's finally runs on exit).
  const interrupted = new Promise<never>((_, reject) => {
    process.once('SIGINT', () => reject(new Error('interrupted')));
    process.once('SIGTERM', () => reject(new Error('terminated')));
  });
  try {
    await Promise.race([main(), interrupted]);
  } catch (err) {
    await Promise.allSettled([...children].map(stop));
    await rm(work, { recursive: true, force: true });
    console.error(`bench:server failed: ${(err as Error).message}`);
    process.exitCode = 1;
  }
  process.exit();
}
