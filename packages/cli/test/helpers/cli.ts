// Test harness: an in-process OAS server on port 0 with a temp data dir, and oascmd run as
// a child process (the real bin, from source) with its own HOME and credentials file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type OasServer, type CreateServerOptions } from '@oas/server';
import { OASAPI } from '@oas/sdk';

export const BIN = fileURLToPath(new URL('../../bin/oascmd.js', import.meta.url));
export const ACCESS_ID = 'testid';
export const ACCESS_KEY = 'testsecret';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  /** Written to the child's stdin, which is then closed. */
  input?: Buffer | string;
  cwd?: string;
}

export interface Harness {
  server: OasServer;
  /** Temp directory for files of the test (removed at the end). */
  dir: string;
  home: string;
  /** The credentials file in HOME (official format). */
  configFile: string;
  api: OASAPI;
  /** Runs oascmd to completion. */
  run(args: string[], options?: RunOptions): Promise<RunResult>;
  /** Starts oascmd and leaves it running (stdin is a pipe). */
  start(args: string[], options?: RunOptions): ChildProcess;
  /** The environment children get. */
  env(extra?: Record<string, string | undefined>): Record<string, string>;
  close(): Promise<void>;
}

/** The environment of a child: nothing OAS_* leaks in from the test runner's. */
export function childEnv(home: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('OAS_') && !k.startsWith('OASCMD_')) env[k] = v;
  Object.assign(env, { HOME: home, OASCMD_FROM_SOURCE: '1', NO_COLOR: '1' });
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

const children = new Set<ChildProcess>();

export function startCli(args: string[], env: Record<string, string>, cwd: string): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Waits for the child to exit with what it printed. `input` is written to stdin, then closed (null: left open). */
export function collect(child: ChildProcess, input?: Buffer | string | null): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.stdin!.on('error', () => {});
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    if (input === null) return;
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

export function officialIni(host: string, port: number, id = ACCESS_ID, key = ACCESS_KEY): string {
  return `[OASCredentials]\nhost = ${host}\nport = ${port}\naccessid = ${id}\naccesskey = ${key}\n\n`;
}

export async function startHarness(serverOptions: CreateServerOptions = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'oascmd-test-'));
  const home = join(dir, 'home');
  await mkdir(home);
  const server = await createServer({
    dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0, logLevel: 'silent',
    rootAccessKeyId: ACCESS_ID, rootAccessKeySecret: ACCESS_KEY, ...serverOptions,
  });
  const configFile = join(home, '.oascredentials');
  await writeFile(configFile, officialIni('127.0.0.1', server.port), { mode: 0o600 });
  const api = new OASAPI('127.0.0.1', ACCESS_ID, ACCESS_KEY, { port: server.port });
  const h: Harness = {
    server, dir, home, configFile, api,
    env: (extra) => childEnv(home, extra),
    start: (args, options = {}) => startCli(args, childEnv(home, options.env), options.cwd ?? dir),
    run: (args, options = {}) => collect(startCli(args, childEnv(home, options.env), options.cwd ?? dir), options.input),
    async close() {
      for (const child of children) child.kill('SIGKILL');
      api.close();
      await server.close(0);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Asserts-friendly view of a failure: exactly one line on stderr, no stack trace. */
export function oneLine(stderr: string): boolean {
  return /^oascmd: [^\n]+\n$/.test(stderr) && !/\n\s+at /.test(stderr);
}

/** The first match of `re` in what the child prints on stdout, as soon as it appears. */
export function waitForOutput(child: ChildProcess, re: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${re} in: ${text}`)), timeoutMs);
    const onData = (c: Buffer): void => {
      text += c.toString('utf8');
      const m = re.exec(text);
      if (m) done(null, m);
    };
    const onExit = (): void => done(new Error(`the process exited before printing ${re}: ${text}`));
    function done(error: Error | null, m?: RegExpMatchArray): void {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(m!);
    }
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Polls `check` until it returns true. */
export async function until(check: () => Promise<boolean>, timeoutMs = 60_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Parses a --json stdout. */
export function json<T = Record<string, unknown>>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${r.code}):\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}
