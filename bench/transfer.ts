// npm run bench:transfer — oascmd against plain HTTP clients of the same server, same run:
//   upload: `oascmd upload` of the file against one plain signed POST of it (`curl -T`, the
//           checksum headers computed beforehand): the server's ingest time (target <= 1.3×);
//   fetch:  `oascmd fetch` of a finished retrieval job's output, fully verified, against a
//           plain signed `curl -o` of the same output into a file (target <= 1.3×).
// The server is a child process (bench/lib.ts startServer, job delay 0); oascmd is spawned as
// users run it, and its peak resident set (VmHWM, target < 150 MB) is read from /proc while
// it runs. Alternating repetitions, medians, ratios ours / reference, load average.
// Env: BENCH_SIZE_MIB (default 1024), BENCH_REPS (default 3), BENCH_CONCURRENCY (oascmd
// --concurrency, default its own), BENCH_CPU_PROF (a directory: oascmd runs write V8 CPU
// profiles there, --cpu-prof), BENCH_OASCMD_NODE_ARGS (node flags for oascmd, space-separated),
// BENCH_OASCMD_NODE (the node binary oascmd runs on, e.g. a Node 24 one; default this one).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { OAS_API_VERSION } from '../packages/sdk/src/client/api.js';
import { hashFile } from '../packages/sdk/src/protocol/hash-file.js';
import { authorizationHeader, computeSignature, formatRfc1123, stringToSign } from '../packages/sdk/src/protocol/index.js';
import { MIB, ROOT, buildDist, createVault, median, secs, startServer, stopServer, waitForJob, writeSource, type Server } from './lib.js';

const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 1024) * MIB;
const REPS = Number(process.env.BENCH_REPS ?? 3);
const CONCURRENCY = process.env.BENCH_CONCURRENCY;
const CPU_PROF = process.env.BENCH_CPU_PROF;
const NODE_ARGS = (process.env.BENCH_OASCMD_NODE_ARGS ?? '').split(' ').filter(Boolean);
const OASCMD_NODE = process.env.BENCH_OASCMD_NODE || process.execPath;
const KEY_ID = 'bench';
const KEY_SECRET = 'bench-secret';
const BIN = `${ROOT}packages/cli/bin/oascmd.js`;
const dir = fileURLToPath(new URL(`./.work/transfer-${process.pid}/`, import.meta.url));
const source = `${dir}source.bin`;
const plain = `${dir}plain.bin`;
const fetched = `${dir}fetched.bin`;

const rate = (ms: number): string => `${((SIZE / MIB) / (ms / 1000)).toFixed(0)} MiB/s`;

interface Done {
  ms: number;
  stdout: string;
  /** Peak resident set of the process in bytes (VmHWM), when `peak` was asked for. */
  peak: number;
  /** CPU seconds of the process, all threads (user + system, polled: the last 20 ms may be missing). */
  cpu: number;
  /** CPU seconds the server spent meanwhile. */
  serverCpu: number;
}

/** User + system CPU seconds of a live process, all its threads (0 once it is gone). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The server child whose CPU each run also reports. */
let serverPid: number | undefined;

/** VmHWM of a live process in bytes (0 once it is gone). */
function vmHwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs a command to completion; its time from spawn to exit, and with `peak` its VmHWM (polled, it only grows). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, peak = false): Promise<Done> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const serverStart = cpuSeconds(serverPid);
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hwm = 0;
    let cpu = 0;
    const poll = setInterval(() => {
      if (peak) hwm = Math.max(hwm, vmHwm(child.pid!));
      cpu = Math.max(cpu, cpuSeconds(child.pid));
    }, 20);
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.once('error', reject);
    // 'exit' (not 'close'): the timed span ends with the process, not with its pipes.
    child.once('exit', (code) => {
      const ms = performance.now() - start;
      const serverCpu = cpuSeconds(serverPid) - serverStart;
      clearInterval(poll);
      child.once('close', () => {
        if (code === 0) resolve({ ms, stdout, peak: hwm, cpu, serverCpu });
        else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
      });
    });
  });
}

/** curl arguments for a signed request: Date, x-oas-version, extra x-oas headers, Authorization. */
function signedCurl(server: Server, method: string, path: string, extra: Array<[string, string]> = []): string[] {
  const headers: Array<[string, string]> = [['Date', formatRfc1123(new Date())], ['x-oas-version', OAS_API_VERSION], ...extra];
  const auth = authorizationHeader(KEY_ID, computeSignature(KEY_SECRET, stringToSign(method, headers, path)));
  return [
    '-sS', '--fail', '-X', method, '-H', 'Expect:', ...[...headers, ['Authorization', auth]].flatMap(([n, v]) => ['-H', `${n}: ${v}`]),
    `http://127.0.0.1:${server.port}${path}`,
  ];
}

/** Runs both sides of a pair, ours first when `oursFirst`; their results as [ours, reference]. */
async function inTurn<A, B>(oursFirst: boolean, ours: () => Promise<A>, reference: () => Promise<B>): Promise<[A, B]> {
  if (oursFirst) {
    const a = await ours();
    return [a, await reference()];
  }
  const b = await reference();
  return [await ours(), b];
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(0)} MB`;

async function main(): Promise<void> {
  buildDist();
  const oascmdNode = execFileSync(OASCMD_NODE, ['--version'], { encoding: 'utf8' }).trim();
  console.log(`transfer bench: ${SIZE / MIB} MiB file, ${REPS} alternating repetitions, oascmd built (dist) on node ${oascmdNode}, `
    + `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  await mkdir(`${dir}home`, { recursive: true });
  let server: Server | undefined;
  const stop = (): void => {
    void cleanup(server).finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  try {
    server = await startServer({ dataDir: `${dir}data`, logLevel: 'warn', keyId: KEY_ID, keySecret: KEY_SECRET, label: 'server' });
    const srv = server;
    serverPid = srv.child.pid;
    await writeFile(`${dir}home/.oascredentials`,
      `[OASCredentials]\nhost = 127.0.0.1\nport = ${srv.port}\naccessid = ${KEY_ID}\naccesskey = ${KEY_SECRET}\n\n`, { mode: 0o600 });
    const env = { ...process.env, HOME: `${dir}home` };
    const oascmd = (...args: string[]): Promise<Done> => run(OASCMD_NODE,
      [...NODE_ARGS, ...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : []), BIN, ...args], env, true);
    const extra = CONCURRENCY ? ['--concurrency', CONCURRENCY] : [];

    const vaultId = await createVault(srv.api, 'bench');
    await writeSource(source, SIZE, true);
    // The reference POST needs the checksums up front; computing them also warms the page cache.
    const sums = await hashFile(source);

    const post: number[] = [], up: number[] = [], curl: number[] = [], down: number[] = [];
    // CPU seconds per run, [client, server], for the arithmetic line.
    const cpu: Record<'post' | 'up' | 'curl' | 'down', Array<[number, number]>> = { post: [], up: [], curl: [], down: [] };
    const note = (what: keyof typeof cpu, d: Done): void => void cpu[what].push([d.cpu, d.serverCpu]);
    let peakUp = 0, peakDown = 0;
    for (let rep = 0; rep < REPS; rep++) {
      // Each pair runs in the opposite order every other rep, and files are deleted only
      // after both: on this VM, writing page cache right after a large deletion can cost
      // several times more system time (freed memory goes back to the host), and the side
      // that always ran second would always pay it.
      const swap = rep % 2 === 1;
      const archivePath = `/vaults/${vaultId}/archives`;
      const plainPost = async (): Promise<string> => {
        const posted = await run('curl', [...signedCurl(srv, 'POST', archivePath,
          [['x-oas-content-etag', sums.etag], ['x-oas-tree-etag', sums.treeEtag]]), '-T', source, '-D', '-', '-o', '/dev/null']);
        post.push(posted.ms);
        note('post', posted);
        const postedId = /x-oas-archive-id:\s*(\S+)/i.exec(posted.stdout)?.[1];
        if (!postedId) throw new Error(`the plain POST returned no archive id: ${posted.stdout}`);
        return postedId;
      };
      const ourUpload = async (): Promise<{ archiveId: string; peak: number }> => {
        const upload = await oascmd('upload', 'oas://bench', source, '--json', '-q', ...extra);
        up.push(upload.ms);
        note('up', upload);
        peakUp = Math.max(peakUp, upload.peak);
        return { archiveId: (JSON.parse(upload.stdout) as { ArchiveId: string }).ArchiveId, peak: upload.peak };
      };
      const [uploaded, postedId] = await inTurn(swap, ourUpload, plainPost);
      (await srv.api.deleteArchive(vaultId, postedId)).dispose();
      const { archiveId } = uploaded;
      const created = await srv.api.createJob(vaultId, 'archive-retrieval', archiveId);
      created.dispose();
      const jobId = created.getHeader('x-oas-job-id') ?? '';
      await waitForJob(srv.api, vaultId, jobId, 100);

      const jobOutput = `/vaults/${vaultId}/jobs/${jobId}/output`;
      const plainGet = async (): Promise<void> => {
        const got = await run('curl', [...signedCurl(srv, 'GET', jobOutput), '-o', plain]);
        curl.push(got.ms);
        note('curl', got);
        if (statSync(plain).size !== SIZE) throw new Error(`curl -o wrote ${statSync(plain).size} bytes`);
      };
      const ourFetch = async (): Promise<number> => {
        const fetch = await oascmd('fetch', 'oas://bench', jobId, fetched, '-f', '--json', '-q', ...extra);
        down.push(fetch.ms);
        note('down', fetch);
        peakDown = Math.max(peakDown, fetch.peak);
        const result = JSON.parse(fetch.stdout) as { Size: number; Verified: string };
        if (result.Size !== SIZE || result.Verified !== 'full') throw new Error(`fetch returned ${fetch.stdout}`);
        return fetch.peak;
      };
      const [fetchPeak] = await inTurn(swap, ourFetch, plainGet);
      await run('cmp', [source, fetched]);
      await rm(plain, { force: true });
      await rm(fetched, { force: true });
      (await srv.api.deleteArchive(vaultId, archiveId)).dispose();
      console.log(`  rep ${rep + 1}${swap ? ' (ours first)' : ''}: POST ${secs(post[rep]!)}, upload ${secs(up[rep]!)} (${mb(uploaded.peak)}), `
        + `curl -o ${secs(curl[rep]!)}, fetch ${secs(down[rep]!)} (${mb(fetchPeak)})`);
    }

    const [mPost, mUp, mCurl, mDown] = [median(post), median(up), median(curl), median(down)];
    console.log(`upload: oascmd upload ${secs(mUp)} (${rate(mUp)}), plain POST ${secs(mPost)} (${rate(mPost)}), ratio ${(mUp / mPost).toFixed(2)} (goal <= 1.3)`);
    console.log(`fetch:  oascmd fetch ${secs(mDown)} (${rate(mDown)}), curl -o ${secs(mCurl)} (${rate(mCurl)}), ratio ${(mDown / mCurl).toFixed(2)} (goal <= 1.3)`);
    console.log(`memory: oascmd peak RSS (VmHWM) upload ${mb(peakUp)}, fetch ${mb(peakDown)} (goal < 150 MB)`);
    // The arithmetic on a machine of few cores: CPU seconds (client + server) per operation.
    const cpuText = (what: keyof typeof cpu): string => {
      const client = median(cpu[what].map(([c]) => c));
      const srvCpu = median(cpu[what].map(([, s]) => s));
      return `${client.toFixed(2)} + ${srvCpu.toFixed(2)} server = ${(client + srvCpu).toFixed(2)} CPU-s`;
    };
    console.log(`cpu (median, client + server): upload ${cpuText('up')}, POST ${cpuText('post')}; fetch ${cpuText('down')}, curl -o ${cpuText('curl')}`);
    console.log(`load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log('(whole command runs for both sides: process start, request signing, transfer; oascmd adds hashing and verification)');
  } finally {
    process.off('SIGINT', stop);
    await cleanup(server);
  }
}

async function cleanup(server: Server | undefined): Promise<void> {
  if (server) await stopServer(server).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}

await main();
