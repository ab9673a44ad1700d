// Helpers shared by the benches: child processes, a server child, the load generator
// (run as its own process, bench/load.ts), scratch data and small formatting helpers.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { OASAPI } from '../packages/sdk/src/index.js';

export const MIB = 1024 * 1024;
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVER_MAIN = `${ROOT}packages/server/dist/main.js`;
const LOAD_MAIN = fileURLToPath(new URL('./load.ts', import.meta.url));

/** The middle value (the upper one of the two for an even count). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
/** Milliseconds as seconds with two decimals, e.g. `1.52s`. */
export const secs = (ms: number): string => `${(ms / 1000).toFixed(2)}s`;
/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The child processes started through `track` that have not exited yet. */
export const children = new Set<ChildProcess>();

/** Adds a child to `children` until it exits. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL if it has not exited within 5 s. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** A server child process and a client for it. */
export interface Server {
  child: ChildProcess;
  port: number;
  api: OASAPI;
}

/** Polls /health until it answers 200; fails if the child exits or 60 s pass. `label` names it in errors. */
async function waitHealthy(port: number, child: ChildProcess, stderr: () => string, label: string): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${label} exited with ${child.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      http.get({ host: '127.0.0.1', port, path: '/health', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      }).once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`${label} did not answer /health within 60 s: ${stderr()}`);
    await sleep(100);
  }
}

export interface ServerOptions {
  dataDir: string;
  logLevel: string;
  keyId: string;
  keySecret: string;
  /** Extra environment for the server (stores and so on). */
  env?: Record<string, string>;
  /** How errors name the server. */
  label: string;
}

/** The node flags `npm start` gives the server (docs/operations.md, "Memory and garbage collection"). */
const SERVER_NODE_FLAGS = ['--initial-old-space-size=64'];

let built = false;

/**
 * Builds dist/ of the SDK, the server and the CLI (an incremental `tsc -b`: seconds when
 * current), once per run: the server and oascmd then run as deployed, not through tsx,
 * whose loader in the same process costs about 15% of a 1 GiB ingest.
 */
export function buildDist(): void {
  if (built) return;
  execFileSync('npx', ['tsc', '-b', 'packages/sdk', 'packages/server', 'packages/cli'], { cwd: ROOT, stdio: 'inherit' });
  built = true;
}

/** The built server (dist/main.js) as a child process (job delay 0), once it is healthy. */
export async function startServer(opts: ServerOptions): Promise<Server> {
  buildDist();
  const port = await freePort();
  const child = track(spawn(process.execPath, [
    ...SERVER_NODE_FLAGS, SERVER_MAIN, '--data-dir', opts.dataDir, '--port', String(port), '--log-level', opts.logLevel, '--job-delay', '0',
  ], {
    env: { ...process.env, OAS_ROOT_ACCESS_KEY_ID: opts.keyId, OAS_ROOT_ACCESS_KEY_SECRET: opts.keySecret, ...opts.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  }));
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c).slice(-4000)));
  await waitHealthy(port, child, () => stderr, opts.label);
  return { child, port, api: new OASAPI('127.0.0.1', opts.keyId, opts.keySecret, { port }) };
}

/** Closes the client and stops the server child. */
export async function stopServer(server: Server): Promise<void> {
  server.api.close();
  await stop(server.child);
}

/** What bench/load.ts is told to do: signed GETs of `path`, `connections` at once. */
export interface LoadSpec {
  port: number;
  path: string;
  warmupMs: number;
  ms: number;
  connections: number;
  keyId: string;
  keySecret: string;
  /** SigV4-signed (Glacier) requests instead of OAS-signed ones. */
  sigv4?: boolean;
}

/** Runs bench/load.ts as its own process (same Node and flags); the requests/s it measured. */
export async function runLoad(spec: LoadSpec): Promise<number> {
  const child = track(spawn(process.execPath, [...process.execArgv, LOAD_MAIN, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  const result = JSON.parse(out) as { ok: number; failed: number; ms: number };
  if (result.failed > 0) throw new Error(`${result.failed} requests to port ${spec.port} failed`);
  return result.ok / (result.ms / 1000);
}

/** Random data, written fast: one random 64 MiB block, each copy with its own first bytes; `sync` fsyncs it. */
export async function writeSource(path: string, size: number, sync = false): Promise<void> {
  const block = randomBytes(64 * MIB);
  const fh = await open(path, 'w');
  try {
    for (let at = 0; at < size; at += block.length) {
      randomBytes(16).copy(block, 0);
      await fh.write(block, 0, Math.min(block.length, size - at));
    }
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Throws unless the HTTP status is the expected one. */
export function expectStatus(what: string, status: number, expected: number): void {
  if (status !== expected) throw new Error(`${what}: HTTP ${status}, expected ${expected}`);
}

/** Creates a vault (expects 201); its id. */
export async function createVault(api: OASAPI, name: string): Promise<string> {
  const res = await api.createVault(name);
  res.dispose();
  expectStatus('create vault', res.status, 201);
  return res.getHeader('x-oas-vault-id')!;
}

/** Polls a job every `pollMs` until it completes; throws unless it succeeded. */
export async function waitForJob(api: OASAPI, vaultId: string, jobId: string, pollMs: number): Promise<void> {
  for (;;) {
    const job = await (await api.getJobDesc(vaultId, jobId)).json<{ Completed: boolean; StatusCode: string; StatusMessage: string }>();
    if (job.Completed) {
      if (job.StatusCode !== 'Succeeded') throw new Error(`retrieval job failed: ${job.StatusMessage}`);
      return;
    }
    await sleep(pollMs);
  }
}

/**
 * Runs a bench's main; on failure or Ctrl-C the children are stopped and the scratch
 * directory removed (main's own finally may not get to run), then the process exits.
 */
export async function runBench(name: string, main: () => Promise<void>, scratch: string): Promise<never> {
  const interrupted = new Promise<never>((_, reject) => {
    process.once('SIGINT', () => reject(new Error('interrupted')));
    process.once('SIGTERM', () => reject(new Error('terminated')));
  });
  try {
    await Promise.race([main(), interrupted]);
  } catch (err) {
    await Promise.allSettled([...children].map(stop));
    await rm(scratch, { recursive: true, force: true });
    console.error(`${name} failed: ${(err as Error).message}`);
    process.exitCode = 1;
  }
  process.exit();
}
