// A private, throwaway PostgreSQL cluster for tests: initdb into a temp dir, start it with
// pg_ctl on a free 127.0.0.1 port (plus a unix socket inside the temp dir), hand out fresh
// databases, and remove everything on stop() or when the test process ends in any way.
//
//   const pg = await startPostgres();
//   const url = await pg.createDatabase('contract_1');   // postgres://postgres@127.0.0.1:PORT/contract_1
//   ...
//   await pg.stop();
//
// Binaries: initdb and pg_ctl from PATH, else the newest /usr/lib/postgresql/<v>/bin (where
// Debian's `postgresql` package puts them). initdb and postgres refuse to run as root, so
// as root every PostgreSQL process runs as the `postgres` system user (the Debian package
// creates it; set OAS_TEST_PG_USER to use another one), through spawn's uid/gid options.
//
// Cleanup does not depend on the test process exiting cleanly: a small watchdog shell,
// started detached as the cluster's user, blocks reading a pipe from this process. stop()
// closes the pipe; so does the kernel when this process exits, crashes or is killed with
// SIGKILL. Either way the watchdog then runs `pg_ctl stop -m immediate` and removes the
// temp dir.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { appendFile, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import pg from 'pg';

export interface PostgresCluster {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The temp dir holding data/, sock/ and postgres.log (gone after stop). */
  readonly dir: string;
  /** The unix socket directory (connect with host=<socketDir>). */
  readonly socketDir: string;
  /** Connection URL of a database (default `postgres`), as the superuser `postgres`, no password. */
  url(db?: string): string;
  /** Creates an empty database and returns its URL. Names: letters, digits, underscore. */
  createDatabase(name: string): Promise<string>;
  /** Drops a database, disconnecting anyone still on it; a missing one is fine. */
  dropDatabase(name: string): Promise<void>;
  /** Stops the cluster (immediate mode) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Extra postgresql.conf settings (e.g. { max_connections: 300 }). */
  settings?: Record<string, string | number | boolean>;
  /** Bound on initdb and on the start-up wait, each (default 60 s). */
  timeoutMs?: number;
}

/** A found PostgreSQL installation. */
interface Binaries {
  initdb: string;
  pgCtl: string;
}

/** The user every PostgreSQL process runs as: null means "this process's own user". */
interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** initdb and pg_ctl from one directory: PATH first, then /usr/lib/postgresql/<newest>/bin. */
export function findPostgresBinaries(): Binaries {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    dirs.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch { /* no Debian-style install */ }
  for (const dir of dirs) {
    const initdb = join(dir, 'initdb');
    const pgCtl = join(dir, 'pg_ctl');
    if (isExecutable(initdb) && isExecutable(pgCtl)) return { initdb, pgCtl };
  }
  throw new Error('PostgreSQL not found: need initdb and pg_ctl on PATH or in /usr/lib/postgresql/<version>/bin '
    + '(Debian: apt-get install postgresql)');
}

function runAsUser(): RunAs | null {
  if (process.getuid?.() !== 0) return null;
  const name = process.env.OAS_TEST_PG_USER || 'postgres';
  const id = (flag: string) => {
    const r = spawnSync('id', [flag, name], { encoding: 'utf8' });
    const n = Number(r.stdout.trim());
    return r.status === 0 && Number.isInteger(n) ? n : null;
  };
  const uid = id('-u');
  const gid = id('-g');
  if (uid === null || gid === null || uid === 0) {
    throw new Error(`running as root: PostgreSQL refuses root, and there is no unprivileged user "${name}" to run it as `
      + '(the Debian postgresql package creates "postgres"; or set OAS_TEST_PG_USER)');
  }
  return { uid, gid, name };
}

/** A directory every user can traverse, so the cluster's user reaches its temp dir. */
function baseDir(runAs: RunAs | null): string {
  const base = resolve(tmpdir());
  if (!runAs) return base;
  for (let d = base; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return '/tmp';
    if (dirname(d) === d) return base;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
  });
}

/** The environment without PG* variables (a developer's PGDATA or PGPORT must not leak in). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  env.LC_ALL = 'C';
  return env;
}

function run(file: string, args: string[], opts: { runAs: RunAs | null; cwd: string; timeoutMs: number }): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile(file, args, {
      cwd: opts.cwd, env: cleanEnv(), timeout: opts.timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8',
      ...(opts.runAs ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
    }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`.trim()));
      else resolveRun(stdout + stderr);
    });
  });
}

/** Starts the watchdog that stops the cluster and removes `dir` once its stdin pipe closes. */
function startWatchdog(bins: Binaries, dataDir: string, dir: string, runAs: RunAs | null): ChildProcess {
  const script = [
    'cat >/dev/null', // returns at EOF: stop() closed the pipe, or this process is gone
    '"$1" stop -D "$2" -m immediate -w -t 30 >/dev/null 2>&1',
    'rm -rf "$3"',
  ].join('\n');
  const child = spawn('/bin/sh', ['-c', script, 'oas-test-pg-watchdog', bins.pgCtl, dataDir, dir], {
    cwd: dir, env: cleanEnv(), detached: true, stdio: ['pipe', 'ignore', 'ignore'],
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
  });
  child.on('error', () => {}); // reported through stop()'s own checks
  // Neither the child nor its pipe keeps the test process alive.
  child.unref();
  (child.stdin as unknown as { unref?(): void }).unref?.();
  return child;
}

async function logTail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

const DB_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresCluster> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const bins = findPostgresBinaries();
  const runAs = runAsUser();
  const dir = await mkdtemp(join(baseDir(runAs), 'oas-pg-'));
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'sock');
  const logFile = join(dir, 'postgres.log');
  await mkdir(socketDir, { mode: 0o700 });
  if (runAs) {
    await chown(dir, runAs.uid, runAs.gid);
    await chown(socketDir, runAs.uid, runAs.gid);
  }
  // From here on, whatever happens, the watchdog removes the dir (and any server in it).
  const watchdog = startWatchdog(bins, dataDir, dir, runAs);
  const exited = new Promise<void>((done) => {
    if (watchdog.exitCode !== null || watchdog.signalCode !== null) done();
    else watchdog.once('exit', () => done());
  });
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // Keep this process alive until the watchdog is done (it was unref'ed while idle).
      watchdog.ref();
      watchdog.stdin?.end();
      // The watchdog's own bound: pg_ctl stop -t 30, then rm. Past that, do it here.
      const timer = new Promise<'late'>((late) => setTimeout(() => late('late'), 45_000).unref());
      if ((await Promise.race([exited.then(() => 'ok' as const), timer])) === 'late') {
        try { process.kill(-watchdog.pid!, 'SIGKILL'); } catch { /* gone */ }
        await run(bins.pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30'], { runAs, cwd: '/', timeoutMs: 40_000 })
          .catch(() => {});
      }
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    await run(bins.initdb, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
      { runAs, cwd: dir, timeoutMs });
    const settings: Record<string, string | number | boolean> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: socketDir,
      // A throwaway cluster: durability off for speed (the store's own tests do not kill
      // the server; crash-safety is PostgreSQL's job).
      fsync: false,
      synchronous_commit: false,
      full_page_writes: false,
      max_connections: 200,
      shared_buffers: '32MB',
      ...opts.settings,
    };
    const conf = Object.entries(settings).map(([k, v]) =>
      `${k} = ${typeof v === 'string' ? `'${v.replace(/'/g, "''")}'` : typeof v === 'boolean' ? (v ? 'on' : 'off') : v}`);
    await appendFile(join(dataDir, 'postgresql.conf'), `\n# oas test cluster\n${conf.join('\n')}\n`);

    // A free port can be taken by someone else between the probe and the bind: retry.
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
      try {
        await run(bins.pgCtl, ['start', '-D', dataDir, '-l', logFile, '-w', '-t', seconds, '-o', `-p ${port}`],
          { runAs, cwd: dir, timeoutMs: timeoutMs + 5000 });
        break;
      } catch (err) {
        const log = await logTail(logFile);
        if (attempt < 4 && /could not bind|already in use/i.test(log)) continue;
        throw new Error(`${(err as Error).message}\npostgres.log:\n${log}`);
      }
    }

    const url = (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(db)}`;
    /** Runs one statement about database `name` from the maintenance database. */
    const admin = async (name: string, sql: string): Promise<void> => {
      if (!DB_NAME.test(name)) throw new Error(`invalid test database name ${JSON.stringify(name)}`);
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    return {
      host: '127.0.0.1',
      port,
      dir,
      socketDir,
      url,
      async createDatabase(name: string): Promise<string> {
        await admin(name, `CREATE DATABASE "${name}"`);
        return url(name);
      },
      async dropDatabase(name: string): Promise<void> {
        await admin(name, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
