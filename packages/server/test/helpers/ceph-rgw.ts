// A single-node Ceph cluster with a radosgw (S3) for tests, built from the Debian packages
// (ceph-mon, ceph-osd, radosgw), with free ports so several clusters can run at once.
// Everything lives in one temp directory.
//
//   const rgw = await startCephRgw();                        // memstore OSD (2 GiB)
//   const big = await startCephRgw({ bluestoreBytes: 32 * 2 ** 30 }); // bluestore on a sparse file
//   after(() => rgw.stop());
//   await rgw.createBucket('data');
//   const client = testS3Client(rgw);                        // helpers/s3-client.ts
//
// Start-up takes 30-40 s: start one cluster per test file (in before()) and share it.
// The daemons run in the foreground as children of this process and are stopped by PID:
// by stop(), when start-up fails, and (SIGKILL) when this process exits or is killed
// with SIGINT/SIGTERM before stop() ran. Missing binaries are an error, never a skip:
// CI installs them (.ci/run). Multipart ETags are in the real AWS form (md5-of-md5s-N);
// radosgw of Debian 12 (Ceph 16) does not understand the SDK's CRC checksum trailers, so
// clients need `requestChecksumCalculation: 'WHEN_REQUIRED'` (testS3Client sets it).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { testS3Client, type S3Endpoint } from './s3-client.js';

export interface CephRgwOptions {
  /**
   * Use a bluestore OSD on a sparse file of this many bytes (in the cluster's temp dir)
   * instead of the memstore OSD, which holds at most 2 GiB in memory. Needed for objects
   * of several GiB; only the bytes written take disk space.
   */
  bluestoreBytes?: number;
  /** Longest wait for each start-up step (default 120 s). */
  stepTimeoutMs?: number;
}

export interface CephRgwServer extends S3Endpoint {
  /** The cluster's directory (config, data, logs in `log/`). */
  dir: string;
  createBucket(name: string): Promise<void>;
  /** Stops radosgw, the OSD and the monitor by PID and removes the directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** The binaries the recipe uses (all from the three packages and their dependencies). */
const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool'];
const ACCESS_KEY = 'AKOASTEST';
const SECRET_KEY = 'SKOASTEST0123456789';

function findBinary(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/sbin'])) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // next
    }
  }
  return null;
}

/** A port free on 127.0.0.1 right now (the OS's pick for port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// Every daemon of every cluster of this process, killed if the process ends without stop().
const liveDaemons = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooked = false;

function killEverything(): void {
  for (const child of liveDaemons) {
    try {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  liveDaemons.clear();
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  liveDirs.clear();
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', killEverything);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killEverything();
      // Die of the signal as we would have without this hook.
      process.kill(process.pid, signal);
    });
  }
}

async function logTail(dir: string, name: string, lines = 15): Promise<string> {
  try {
    const text = await readFile(join(dir, 'log', `${name}.log`), 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function run(file: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const how = err.killed ? `timed out after ${timeoutMs} ms` : `failed (${err.code ?? err.signal})`;
        reject(new Error(`${file} ${args.join(' ')} ${how}: ${String(stderr).trim().slice(-2000)}`));
      } else {
        resolve(String(stdout));
      }
    });
  });
}

function config(dir: string, fsid: string, monPort: number, rgwPort: number, bluestoreBytes: number | undefined): string {
  const store = bluestoreBytes === undefined
    ? ['osd objectstore = memstore', 'memstore device bytes = 2147483648']
    : [
      'osd objectstore = bluestore',
      `bluestore block size = ${bluestoreBytes}`,
      'bluestore block create = true',
      'bluestore fsck on mkfs = false',
      'bluestore fsck on mount = false',
      // A test cluster shares the machine: keep the OSD's caches small.
      'osd memory target = 1073741824',
      'bluestore cache autotune = false',
      'bluestore cache size = 268435456',
    ];
  return `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${monPort}
mon initial members = a
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
ms bind msgr2 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd crush chooseleaf type = 0
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
pid file = ${dir}/run/$name.pid
keyring = /dev/null
mon data = ${dir}/mon
osd data = ${dir}/osd$id
${store.join('\n')}
osd max object size = 1073741824
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
rgw dns name = localhost
`;
}

/**
 * Starts mon, OSD and radosgw; resolves once radosgw answers S3 requests with the test user.
 * Test files run in parallel processes: their clusters start one at a time (an OSD started
 * beside another cluster's start-up was sometimes refused by its monitor with 'wrong fsid'),
 * and a start that fails that way, or whose monitor refuses its first commands
 * ('problem getting command descriptions from mon'), is tried again from scratch.
 */
export async function startCephRgw(options: CephRgwOptions = {}): Promise<CephRgwServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withStartLock(() => startOnce(options));
    } catch (err) {
      if (attempt >= 3 || !/exited during start-up|problem getting command descriptions/.test(String(err))) throw err;
    }
  }
}

const START_LOCK = join(tmpdir(), 'oas-ceph-start.lock');

/** A lock file holding the owner's pid, shared by every test process of the machine. */
async function withStartLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      await writeFile(START_LOCK, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await readFile(START_LOCK, 'utf8').catch(() => ''));
      if (owner > 0 && !isAlive(owner)) await rm(START_LOCK, { force: true });
      if (Date.now() > deadline) throw new Error(`waited 10 minutes for ${START_LOCK} (held by pid ${owner})`);
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(START_LOCK, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function startOnce(options: CephRgwOptions): Promise<CephRgwServer> {
  const missing = BINARIES.filter((b) => findBinary(b) === null);
  if (missing.length > 0) {
    throw new Error(`Ceph binaries missing (${missing.join(', ')}): install them with `
      + '`apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw` (.ci/run does this)');
  }
  const stepMs = options.stepTimeoutMs ?? 120_000;
  hookExit();
  const dir = await mkdtemp(join(tmpdir(), 'oas-ceph-'));
  liveDirs.add(dir);
  const daemons: ChildProcess[] = [];
  const conf = join(dir, 'ceph.conf');

  const daemon = (file: string, args: string[], name: string): ChildProcess => {
    const child = spawn(findBinary(file)!, ['-c', conf, ...args, '-f'], { cwd: dir, stdio: 'ignore' });
    child.once('error', () => undefined);
    liveDaemons.add(child);
    daemons.push(child);
    child.once('exit', () => liveDaemons.delete(child));
    (child as ChildProcess & { cephName?: string }).cephName = name;
    return child;
  };

  const stopDaemons = async (): Promise<void> => {
    // radosgw first, the monitor last (reverse start order).
    for (const child of [...daemons].reverse()) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        continue;
      }
      const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!done) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
        await Promise.race([exited, sleep(5_000)]);
      }
      liveDaemons.delete(child);
    }
  };

  const failIfDead = async (): Promise<void> => {
    for (const child of daemons as (ChildProcess & { cephName?: string })[]) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${child.cephName} exited during start-up (${child.exitCode ?? child.signalCode}):\n${await logTail(dir, child.cephName!)}`);
      }
    }
  };

  try {
    for (const sub of ['mon', 'osd0', 'run', 'log', 'rgw']) await mkdir(join(dir, sub), { recursive: true });
    const fsid = randomUUID();
    const monPort = await freePort();
    let rgwPort = await freePort();
    while (rgwPort === monPort) rgwPort = await freePort();
    await writeFile(conf, config(dir, fsid, monPort, rgwPort, options.bluestoreBytes));

    await run(findBinary('monmaptool')!, ['--create', '--add', 'a', `v1:127.0.0.1:${monPort}`, '--fsid', fsid, 'monmap'], dir, stepMs);
    await run(findBinary('ceph-mon')!, ['-c', conf, '--mkfs', '-i', 'a', '--monmap', 'monmap'], dir, stepMs);
    daemon('ceph-mon', ['-i', 'a'], 'mon.a');

    const ceph = (args: string[]) => run(findBinary('ceph')!, ['-c', conf, '--connect-timeout', String(Math.ceil(stepMs / 1000)), ...args], dir, stepMs + 5_000);
    // The same uuid for the monitor's record and the OSD's mkfs: without it the OSD makes
    // up its own and, started right after, is sometimes refused with 'wrong fsid'.
    const osdUuid = randomUUID();
    const osdId = (await ceph(['osd', 'create', osdUuid])).trim();
    if (osdId !== '0') throw new Error(`ceph osd create returned ${JSON.stringify(osdId)}, expected 0`);
    await run(findBinary('ceph-osd')!, ['-c', conf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid], dir, stepMs).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await logTail(dir, 'osd.0')}`);
    });
    daemon('ceph-osd', ['-i', '0'], 'osd.0');
    daemon('radosgw', ['-n', 'client.rgw.a'], 'client.rgw.a');

    // radosgw creates its pools once the OSD is up, then listens: poll it, bounded.
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    const deadline = Date.now() + stepMs;
    for (;;) {
      await failIfDead();
      const answered = await fetch(endpoint, { signal: AbortSignal.timeout(5_000) }).then((r) => r.status > 0, () => false);
      if (answered) break;
      if (Date.now() > deadline) {
        throw new Error(`radosgw did not answer on ${endpoint} within ${stepMs} ms:\n${await logTail(dir, 'client.rgw.a')}\n--- osd.0:\n${await logTail(dir, 'osd.0', 5)}`);
      }
      await sleep(500);
    }
    await run(findBinary('radosgw-admin')!, ['-c', conf, '-n', 'client.rgw.a', 'user', 'create', '--uid=test', '--display-name=test',
      `--access-key=${ACCESS_KEY}`, `--secret=${SECRET_KEY}`], dir, stepMs);

    const s3: S3Endpoint = { endpoint, region: 'us-east-1', accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, forcePathStyle: true };
    const client = testS3Client(s3);
    let stopped: Promise<void> | null = null;
    return {
      ...s3,
      dir,
      async createBucket(name) {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      },
      stop() {
        stopped ??= (async () => {
          client.destroy();
          await stopDaemons();
          await rm(dir, { recursive: true, force: true });
          liveDirs.delete(dir);
        })();
        return stopped;
      },
    };
  } catch (err) {
    await stopDaemons();
    await rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    throw err;
  }
}
