// The npm way, as a new user meets it: `npm start` stops with the signal sent to npm, and
// the packed packages installed from their tarballs into an empty directory give working
// `oas-server` and `oascmd` commands (no tsx, no sources) and @oas/sdk types.
// Both run npm in the checkout, so they live in one file and run one after the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { eventually } from './helpers/assert.js';
import { tempDir } from './helpers/server.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The environment without npm's per-run variables (npm_config_*, npm_lifecycle_* ...) of an enclosing `npm test`. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('npm_')));
  return { ...env, OAS_ROOT_ACCESS_KEY_ID: '', OAS_ROOT_ACCESS_KEY_SECRET: '', ...extra };
}

interface Result { code: number | null; stdout: string; stderr: string }

function collect(child: ChildProcess): Promise<Result> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function sh(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Result> {
  const r = await collect(spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  assert.equal(r.code, 0, `${command} ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Resolves with the first stdout line matching `pattern` (rejects if the process ends first). */
function lineMatching(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    let seen = '';
    lines.on('line', (line) => {
      seen += `${line}\n`;
      const m = pattern.exec(line);
      if (m) resolve(m);
    });
    child.once('close', (code) => reject(new Error(`exited (${code}) before printing ${pattern}:\n${seen}`)));
  });
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** Whether `pid` is a live process (a zombie or a missing one is not). */
async function alive(pid: number): Promise<boolean> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return status !== '' && !/^State:\s+Z/m.test(status);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  // The timeouts only end a hang (an npm waiting on a server that ignored the signal).
  test(`npm start: ${signal} sent to npm stops the server and frees its port`, { timeout: 120_000 }, async (t) => {
    const dataDir = await tempDir();
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: cleanEnv({ OAS_DATA_DIR: dataDir, OAS_PORT: '0', OAS_HOST: '127.0.0.1' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    for (const stream of [npm.stdout, npm.stderr]) stream.on('data', (d: Buffer) => { output += d.toString(); });
    // 'exit', not 'close': a server left behind would keep npm's stdout open forever.
    const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
    let serverPid = 0;
    t.after(() => { if (serverPid) try { process.kill(serverPid, 'SIGKILL'); } catch { /* gone */ } });
    const listening = await lineMatching(npm, /"pid":(\d+).*"url":"http:\/\/127\.0\.0\.1:(\d+)".*"msg":"oas-server listening"/);
    serverPid = Number(listening[1]);
    const port = Number(listening[2]);
    assert.notEqual(serverPid, npm.pid, 'the server is npm\'s child');
    assert.ok(await portAccepts(port));

    npm.kill(signal);
    assert.equal(await exited, 0, `npm start after ${signal}:\n${output}`);
    await eventually(async () => !(await alive(serverPid)) && !(await portAccepts(port)));
    assert.match(output, new RegExp(`"signal":"${signal}".*shutting down`));
  });
}

/** Every path under `dir`, relative to it. */
async function walk(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = join(prefix, entry.name);
    out.push(path);
    if (entry.isDirectory()) out.push(...await walk(dir, path));
  }
  return out;
}

test('npm pack: the three tarballs install into an empty directory as working oas-server, oascmd and typed @oas/sdk', { timeout: 900_000 }, async (t) => {
  const work = await tempDir('oas-npm-pack-');
  t.after(() => rm(work, { recursive: true, force: true }));
  const packs = join(work, 'packs');
  const app = join(work, 'app');
  const home = join(work, 'home');
  for (const dir of [packs, app, home]) await mkdir(dir);
  const env = cleanEnv({ HOME: home });

  // prepack builds dist/ (a no-op when `npm test` has built it already).
  await sh('npm', ['pack', '-w', 'packages/sdk', '-w', 'packages/server', '-w', 'packages/cli', '--pack-destination', packs], ROOT, env);
  const tarballs = (await readdir(packs)).sort();
  const versionOf = async (dir: string) => (JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  const version = await versionOf(join(ROOT, 'packages/server'));
  assert.deepEqual(tarballs, ['cli', 'sdk', 'server'].map((name) => `oas-${name}-${version}.tgz`));

  // A real install from the registry (through the npm cache). Install scripts are skipped
  // and better-sqlite3's addon is taken from the checkout when it is the same version (built
  // for this Node), which saves a compile of SQLite per run; else it is rebuilt here.
  await writeFile(join(app, 'package.json'), '{ "name": "app", "private": true, "type": "module" }\n');
  await sh('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs.map((f) => join(packs, f))], app, env);
  const sqlite = join(app, 'node_modules/better-sqlite3');
  const ours = join(ROOT, 'node_modules/better-sqlite3');
  if (await versionOf(sqlite) === await versionOf(ours)) {
    await mkdir(join(sqlite, 'build/Release'), { recursive: true });
    await copyFile(join(ours, 'build/Release/better_sqlite3.node'), join(sqlite, 'build/Release/better_sqlite3.node'));
  } else {
    await sh('npm', ['rebuild', 'better-sqlite3'], app, env);
  }

  // Only built code: no sources, no source maps, no tsx.
  const installed = await walk(join(app, 'node_modules/@oas'));
  assert.deepEqual(installed.filter((p) => /(^|\/)src(\/|$)|\.map$|\.tsbuildinfo$|\.ts$(?<!\.d\.ts)/.test(p)), []);
  assert.ok(installed.includes('sdk/dist/index.d.ts'));
  await assert.rejects(stat(join(app, 'node_modules/tsx')));
  await assert.rejects(stat(join(app, 'node_modules/@aws-sdk/lib-storage')), 'lib-storage is for tests only');

  const bin = (name: string) => join(app, 'node_modules/.bin', name);
  for (const name of ['oas-server', 'oascmd']) {
    assert.equal((await sh(bin(name), ['--version'], app, env)).stdout, `${version}\n`, name);
  }

  // The server on a fresh data dir; its first-start hint, run as printed, configures oascmd.
  const dataDir = join(work, 'data');
  const server = spawn(bin('oas-server'), ['--port', '0', '--data-dir', dataDir], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stopped = collect(server);
  t.after(() => server.kill('SIGKILL'));
  const [listening, hint] = await Promise.all([
    lineMatching(server, /"console":"(http[^"]+)"/),
    lineMatching(server, /^Use it with: npx (oascmd config .*)$/),
  ]);
  await sh('npx', ['--offline', ...hint[1]!.split(' ')], app, env);
  await sh('npx', ['--offline', 'oascmd', 'cv', 'oas://first-vault'], app, env);
  const listed = await sh('npx', ['--offline', 'oascmd', 'ls'], app, env);
  assert.match(listed.stdout, /first-vault/);
  // The packed server carries the built console.
  const page = await fetch(listening[1]!);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<!doctype html>/i);
  server.kill('SIGTERM');
  assert.equal((await stopped).code, 0);

  // @oas/sdk's types resolve from its exports under both modern resolutions, without skipLibCheck.
  await writeFile(join(app, 'index.ts'), [
    'import { OASAPI, Vault, OASError, type OASResponse } from \'@oas/sdk\';',
    'const api: OASAPI = new OASAPI(\'127.0.0.1\', \'id\', \'secret\', { port: 8080 });',
    'const pending: Promise<OASResponse> = api.listVault();',
    'export const used = [pending, Vault, OASError];',
    '',
  ].join('\n'));
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const types = join(ROOT, 'node_modules/@types');
  for (const [module, resolution] of [['node16', 'node16'], ['esnext', 'bundler']]) {
    await sh(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', 'false', '--target', 'es2022', '--module', module,
      '--moduleResolution', resolution, '--typeRoots', types, '--types', 'node', 'index.ts'], app, env);
  }
});
