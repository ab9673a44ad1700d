// npm run bench:server — the server (a child process, as it is deployed) against plain
// references measured in the same run, on the same data:
//   1. one archive upload (etags precomputed, body streamed from a file) vs `dd conv=fsync`
//   2. download of that archive through a completed retrieval job vs `cat F >/dev/null`
//   3. signed describe-vault requests/s over 64 keep-alive connections vs a bare node:http
//      server answering a fixed JSON body; the load generator is its own process
//   4. the server's peak RSS during a multipart upload with 4 parts in flight
// Alternating repetitions, medians; read the ratios (other load moves both sides).
// Env: BENCH_SIZE_MIB (1024), BENCH_REPS (3), BENCH_LOAD_SECS (4), BENCH_MULTIPART_MIB
// (4096), BENCH_PART_MIB (64), BENCH_ONLY (comma list of upload,download,rps,rss; download
// without upload uploads its archive once, untimed),
// BENCH_LOG_LEVEL (server log level, default warn: no line per request).
//
// The same file is also the bare reference server (`--bare <port>`), and the load generator
// is bench/load.ts, so every process runs the same Node with the same flags.
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import { loadavg } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { combineTreeEtags, type Checksums, formatRfc1123, hashFile, stopLeafWorker } from '../packages/sdk/src/index.js';
import {
  MIB, type Server, children, createVault, expectStatus, freePort, median, runLoad, secs, startServer as startServerProcess,
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

async function startBare(): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = track(spawn(process.execPath, [...process.execArgv, SELF, '--bare', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] }));
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

async function benchUpload(server: Server, vaultId: string, etag: string, treeEtag: string, rows: Row[]): Promise<string> {
  const ours: number[] = [];
  const dd: number[] = [];
  let kept = '';
  // Only the download measured (BENCH_ONLY=download): one untimed upload gives its archive.
  const timed = ONLY.has('upload');
  for (let rep = 0; rep < (timed ? REPS : 1); rep++) {
    const start = performance.now();
    const res = await server.api.postArchiveFromReader(vaultId, createReadStream(source, { highWaterMark: MIB }), SIZE, etag, treeEtag);
    await res.read();
    ours.push(performance.now() - start);
    expectStatus('upload', res.status, 201);
    const id = res.getHeader('x-oas-archive-id')!;
    if (kept) (await server.api.deleteArchive(vaultId, id)).dispose(); // keep one archive on disk
    else kept = id;
    if (!timed) return kept;
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
  await waitForJob(server.api, vaultId, jobId, 100);
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
      ours.push(await load(server.port, path));
      theirs.push(await load(bare.port, path));
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
