// npm run soak — the server (a child process) under a mixed load with faults injected, then
// an audit of everything it acknowledged.
//
// Load: SOAK_WORKERS workers for SOAK_SECONDS do single and multipart uploads of random
// data (up to SOAK_MAX_MIB MiB; the soak keeps each archive's size and MD5, not its bytes),
// retrieval jobs whose output is downloaded and verified, and deletes. Faults, one at a
// time, in turn, every SOAK_FAULT_EVERY seconds:
//   stall    clients send the head and a little of an upload's body, then nothing
//   kill     SIGKILL of the server, restarted on the same data and port
//   full     the data directory's file system filled to the last byte, held, then freed
//   corrupt  one byte flipped in a stored blob of an acknowledged archive
// Audit, on a cleanly restarted server: every acknowledged, undeleted archive is read back
// through a retrieval job and compared with what was sent; every corrupted one must be
// refused (its job fails, or its download fails verification). After a clean stop the data
// directory must hold no temp file and no blob the metadata does not reference.
//
// The data directory is a tmpfs of SOAK_DISK_MIB MiB the soak mounts (as root); elsewhere it is
// a plain directory and the table says the disk-full fault did not run. Prints a table and
// exits non-zero when data was lost, a corruption went unnoticed, a file was left behind, a
// stalled upload was not cut at the server's idle timeout, or the server died by itself.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rm, unlink } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { OASAPI, Vault, callOk, downloadTempPaths, uploadArchive, type RetryOptions } from '../packages/sdk/src/index.js';
import { Client } from '../packages/server/test/helpers/client.js';
import { MIB, children, freePort, sleep, stop, track } from './lib.js';

const SERVER_MAIN = fileURLToPath(new URL('../packages/server/src/main.ts', import.meta.url));
const KEY_ID = 'SOAKROOTKEY';
const KEY_SECRET = 'soak-root-secret-0123456789';
/** The server's --idle-timeout: stalled uploads must be cut at it. */
const IDLE_TIMEOUT_MS = 2000;
const FAULTS = ['stall', 'kill', 'full', 'corrupt'] as const;
type Fault = typeof FAULTS[number];
const OPERATIONS = ['upload', 'multipart', 'retrieve', 'delete'] as const;
type Operation = typeof OPERATIONS[number];

export interface SoakOptions {
  seconds: number;
  workers: number;
  maxMiB: number;
  faultEverySeconds: number;
  diskMiB: number;
  /** Lines of the report (default: stdout). */
  print?: (line: string) => void;
}

export interface SoakReport {
  operations: Record<Operation, { ok: number; failed: number }>;
  faults: Record<Fault, number>;
  /** Faults that could not run here, with why. */
  notRun: Partial<Record<Fault, string>>;
  acknowledged: number;
  intact: number;
  lost: string[];
  corrupted: number;
  undetected: string[];
  strays: string[];
  unexpectedExits: number;
  /** Stalled uploads opened, and how many of them the server cut. */
  stalled: { opened: number; cut: number };
  /** The most frequent failure messages of the load (faults make some fail by design). */
  failureSamples: [string, number][];
}

interface Acknowledged {
  vaultId: string;
  size: number;
  md5: string;
  /** Set by the corrupt fault: the archive is off limits to the load and must be refused. */
  corrupted?: boolean;
  /** Taken by a worker (retrieval or delete in progress). */
  busy?: boolean;
}

/** The server child: restartable on the same port and data directory. */
class ServerProcess {
  child: ChildProcess | null = null;
  unexpectedExits = 0;
  private stderr = '';

  constructor(readonly port: number, readonly dataDir: string) {}

  async start(): Promise<void> {
    const child = track(spawn(process.execPath, [
      ...process.execArgv, SERVER_MAIN, '--data-dir', this.dataDir, '--port', String(this.port), '--log-level', 'warn', '--job-delay', '0',
      '--idle-timeout', `${IDLE_TIMEOUT_MS}ms`,
    ], { env: { ...process.env, OAS_ROOT_ACCESS_KEY_ID: KEY_ID, OAS_ROOT_ACCESS_KEY_SECRET: KEY_SECRET }, stdio: ['ignore', 'ignore', 'pipe'] }));
    child.stderr!.on('data', (c: Buffer) => (this.stderr = (this.stderr + c).slice(-4000)));
    child.once('exit', (code, signal) => {
      if (this.child === child && signal !== 'SIGKILL' && signal !== 'SIGTERM' && code !== 0) this.unexpectedExits++;
    });
    this.child = child;
    const until = Date.now() + 60_000;
    while (!(await answers(this.port))) {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${this.stderr}`);
      if (Date.now() > until) throw new Error(`the server did not start within 60 s: ${this.stderr}`);
      await sleep(100);
    }
  }

  async kill(): Promise<void> {
    const child = this.child!;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    if (this.child) await stop(this.child);
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c));
    socket.once('close', () => resolve(text.startsWith('HTTP/1.1 200')));
    socket.once('error', () => resolve(false));
  });
}

function isClosed(socket: net.Socket): boolean {
  return socket.closed || socket.readableEnded;
}

function md5Of(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

async function md5OfFile(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const work = await mkdtemp(join(tmpdir(), 'oas-soak-'));
  const dataDir = join(work, 'data');
  const downloads = join(work, 'downloads');
  await mkdir(dataDir);
  await mkdir(downloads);
  const notRun: SoakReport['notRun'] = {};
  let mounted = false;
  if (isRoot()) {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${options.diskMiB}m`, 'tmpfs', dataDir], { encoding: 'utf8' });
    if (r.status === 0) mounted = true;
    else notRun.full = `cannot mount a tmpfs: ${(r.stderr || r.error?.message || '').trim()}`;
  } else {
    notRun.full = 'needs root to mount a tmpfs for the data directory';
  }
  const server = new ServerProcess(await freePort(), dataDir);
  const api = new OASAPI('127.0.0.1', KEY_ID, KEY_SECRET, { port: server.port });
  const raw = new Client(server.port, KEY_ID, KEY_SECRET);
  const ledger = new Map<string, Acknowledged>();
  const operations = Object.fromEntries(OPERATIONS.map((op) => [op, { ok: 0, failed: 0 }])) as SoakReport['operations'];
  const faults = Object.fromEntries(FAULTS.map((f) => [f, 0])) as SoakReport['faults'];
  const failures = new Map<string, number>();
  const retry: RetryOptions = { attempts: 3, baseDelayMs: 200, maxDelayMs: 1000 };
  let downloadSeq = 0;

  const pick = (want: (a: Acknowledged) => boolean): [string, Acknowledged] | null => {
    const candidates = [...ledger].filter(([, a]) => !a.busy && !a.corrupted && want(a));
    return candidates.length === 0 ? null : candidates[randomInt(candidates.length)]!;
  };

  /** Retrieves an archive through a job and checks the bytes; throws when they cannot be read back. */
  const readBack = async (archiveId: string, entry: Acknowledged): Promise<boolean> => {
    const vault = await Vault.getById(api, entry.vaultId);
    const job = await vault.retrieveArchive(archiveId);
    await job.wait({ pollInterval: 100, retry });
    const path = join(downloads, `${downloadSeq++}.bin`);
    try {
      await job.downloadToFile(path, { retry });
      return (await md5OfFile(path)) === entry.md5;
    } finally {
      const { temp, state } = downloadTempPaths(path);
      for (const file of [path, temp, state]) await rm(file, { force: true });
    }
  };

  const operation: Record<Operation, (vaultId: string) => Promise<void>> = {
    async upload(vaultId) {
      const data = randomBytes(randomInt(1024, options.maxMiB * MIB));
      const result = await uploadArchive(api, vaultId, data, { retry, singleUploadThreshold: data.length });
      ledger.set(result.archiveId, { vaultId, size: data.length, md5: md5Of(data) });
    },
    async multipart(vaultId) {
      const data = randomBytes(randomInt(MIB + 1, Math.max(MIB + 2, options.maxMiB * MIB)));
      const result = await uploadArchive(api, vaultId, data, { retry, singleUploadThreshold: 0, partSize: MIB });
      ledger.set(result.archiveId, { vaultId, size: data.length, md5: md5Of(data) });
    },
    async retrieve() {
      const chosen = pick(() => true);
      if (!chosen) return;
      const [id, entry] = chosen;
      entry.busy = true;
      try {
        if (!(await readBack(id, entry))) throw new Error(`archive ${id} came back different from what was uploaded`);
      } finally {
        entry.busy = false;
      }
    },
    async delete() {
      const chosen = pick(() => true);
      if (!chosen) return;
      const [id, entry] = chosen;
      entry.busy = true;
      try {
        await callOk(api.deleteArchive(entry.vaultId, id));
        ledger.delete(id);
      } finally {
        entry.busy = false;
      }
    },
  };

  const weights: [Operation, number][] = [['upload', 35], ['multipart', 20], ['retrieve', 30], ['delete', 15]];
  const choose = (): Operation => {
    let r = randomInt(100);
    for (const [op, w] of weights) if ((r -= w) < 0) return op;
    return 'upload';
  };

  // ---- faults --------------------------------------------------------------------------
  let stalledOpened = 0;
  let stalledCut = 0;
  const fault: Record<Fault, (vaultId: string) => Promise<void>> = {
    async stall(vaultId) {
      const size = 8 * MIB;
      const head = raw.rawHead('POST', `/vaults/${vaultId}/archives`, [
        ['x-oas-version', '0.2.5'], ['x-oas-content-etag', '0'.repeat(32)], ['x-oas-tree-etag', '0'.repeat(32)], ['Content-Length', String(size)],
      ]);
      const sockets = Array.from({ length: 20 }, () => {
        const socket = net.connect(server.port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write(head);
        socket.write(Buffer.alloc(64 * 1024, 7));
        return socket;
      });
      stalledOpened += sockets.length;
      // The server's idle timeout must cut them all; waited for, bounded.
      const until = Date.now() + IDLE_TIMEOUT_MS + 8000;
      while (Date.now() < until && !sockets.every(isClosed)) await sleep(100);
      stalledCut += sockets.filter(isClosed).length;
      for (const socket of sockets) socket.destroy();
    },
    async kill() {
      await server.kill();
      await server.start();
    },
    async full() {
      if (!mounted) return;
      const filler = join(dataDir, 'soak-filler');
      const fd = await open(filler, 'w');
      const chunk = Buffer.alloc(MIB, 1);
      try {
        for (;;) await fd.write(chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        await fd.close();
      }
      await sleep(Math.min(3000, options.faultEverySeconds * 500));
      await unlink(filler);
    },
    async corrupt() {
      const chosen = pick((a) => a.size > 0);
      if (!chosen) return;
      const [id, entry] = chosen;
      entry.corrupted = true;
      const db = new Database(join(dataDir, 'meta.sqlite'), { readonly: true, fileMustExist: true });
      let keys: string[];
      try {
        keys = (db.prepare('SELECT blob_key FROM segments WHERE archive_id = ? ORDER BY seq').all(id) as { blob_key: string }[]).map((r) => r.blob_key);
      } finally {
        db.close();
      }
      if (keys.length === 0) throw new Error(`archive ${id} has no segments in the metadata`);
      const path = blobPath(dataDir, keys[randomInt(keys.length)]!);
      const fd = await open(path, 'r+');
      try {
        const { size } = await fd.stat();
        const at = randomInt(size);
        const byte = Buffer.alloc(1);
        await fd.read(byte, 0, 1, at);
        byte[0] = byte[0]! ^ 0x5a;
        await fd.write(byte, 0, 1, at);
      } finally {
        await fd.close();
      }
    },
  };

  let report: SoakReport | null = null;
  try {
    await server.start();
    const vaults = await Promise.all([1, 2].map(async (n) => (await Vault.create(api, `soak-${n}`)).id));
    const deadline = Date.now() + options.seconds * 1000;
    const worker = async (): Promise<void> => {
      while (Date.now() < deadline || !faultsOver) {
        const op = choose();
        try {
          await operation[op](vaults[randomInt(vaults.length)]!);
          operations[op].ok++;
        } catch (err) {
          operations[op].failed++;
          const message = String((err as Error).message ?? err).replace(/[0-9a-f]{32,}/g, '<id>').slice(0, 160);
          failures.set(message, (failures.get(message) ?? 0) + 1);
        }
      }
    };
    // Every fault runs at least once, however slow the machine: the load goes on past the
    // deadline until the first round of faults is over.
    let faultsOver = false;
    const faulter = async (): Promise<void> => {
      for (let i = 0; Date.now() < deadline || i < FAULTS.length; i++) {
        await sleep(options.faultEverySeconds * 1000);
        const which = FAULTS[i % FAULTS.length]!;
        if (notRun[which]) continue;
        await fault[which](vaults[0]!);
        faults[which]++;
      }
      faultsOver = true;
    };
    await Promise.all([...Array.from({ length: options.workers }, worker), faulter()]);

    // ---- audit ------------------------------------------------------------------------
    await server.stop();
    await server.start();
    const lost: string[] = [];
    const undetected: string[] = [];
    let intact = 0;
    let corrupted = 0;
    const entries = [...ledger];
    const auditOne = async ([id, entry]: [string, Acknowledged]): Promise<void> => {
      let same = false;
      let refused: string | null = null;
      try {
        same = await readBack(id, entry);
      } catch (err) {
        refused = (err as Error).message;
      }
      if (entry.corrupted) {
        corrupted++;
        if (refused === null) undetected.push(`${id}: ${same ? 'served intact although a byte was flipped' : 'served different bytes without an error'}`);
      } else if (same) {
        intact++;
      } else {
        lost.push(`${id} (${entry.size} bytes): ${refused ?? 'different bytes'}`);
      }
    };
    for (let i = 0; i < entries.length; i += 4) await Promise.all(entries.slice(i, i + 4).map(auditOne));
    await server.stop();
    const strays = await strayFiles(dataDir);
    report = {
      operations, faults, notRun, acknowledged: ledger.size, intact, lost, corrupted, undetected, strays,
      unexpectedExits: server.unexpectedExits, stalled: { opened: stalledOpened, cut: stalledCut },
      failureSamples: [...failures].sort((a, b) => b[1] - a[1]).slice(0, 6),
    };
    printReport(report, print);
    return report;
  } finally {
    api.close();
    await server.stop().catch(() => undefined);
    if (mounted) spawnSync('umount', [dataDir]);
    await rm(work, { recursive: true, force: true });
  }
}

/** Where the embedded blob store keeps a committed blob under `dataDir`. */
function blobPath(dataDir: string, key: string): string {
  return join(dataDir, 'blobs', 'blobs', key.slice(0, 2), key);
}

/** Temp files, and blob files the metadata does not reference, in a stopped server's data directory. */
async function strayFiles(dataDir: string): Promise<string[]> {
  const strays: string[] = [];
  const tmp = join(dataDir, 'blobs', 'tmp');
  if (existsSync(tmp)) for (const name of await readdir(tmp)) strays.push(`blobs/tmp/${name}`);
  const db = new Database(join(dataDir, 'meta.sqlite'), { readonly: true, fileMustExist: true });
  const referenced = new Set<string>();
  try {
    for (const sql of ['SELECT blob_key AS k FROM segments', 'SELECT blob_key AS k FROM parts', "SELECT output_key AS k FROM jobs WHERE output_key <> ''"]) {
      for (const row of db.prepare(sql).all() as { k: string }[]) referenced.add(row.k);
    }
  } finally {
    db.close();
  }
  const blobs = join(dataDir, 'blobs', 'blobs');
  if (existsSync(blobs)) {
    for (const shard of await readdir(blobs)) {
      for (const name of await readdir(join(blobs, shard))) {
        if (!referenced.has(name.split('.')[0]!)) strays.push(`blobs/blobs/${shard}/${name}`);
      }
    }
  }
  return strays;
}

function printReport(r: SoakReport, print: (line: string) => void): void {
  const row = (a: string, b: string | number, c: string | number = '', d: string | number = '') =>
    print(`${a.padEnd(40)}${String(b).padStart(10)}${String(c).padStart(8)}${String(d).padStart(8)}`);
  row('operation', 'ok', 'failed');
  for (const op of OPERATIONS) row(`  ${op}`, r.operations[op].ok, r.operations[op].failed);
  row('fault', 'count');
  for (const f of FAULTS) row(`  ${f}${r.notRun[f] ? ` (not run: ${r.notRun[f]})` : ''}`, r.faults[f]);
  row('  stalled uploads cut by the server', `${r.stalled.cut} of ${r.stalled.opened}`);
  row('audit', 'count');
  row('  archives acknowledged', r.acknowledged);
  row('  intact', r.intact);
  row('  corrupted on purpose', r.corrupted);
  row('  corruptions not detected', r.undetected.length);
  row('  stray files', r.strays.length);
  row('  server exits by itself', r.unexpectedExits);
  row('  data lost', r.lost.length);
  for (const line of [...r.lost, ...r.undetected, ...r.strays]) print(`  ! ${line}`);
  if (r.failureSamples.length > 0) {
    print('most frequent failures of the load (faults cause some by design):');
    for (const [message, n] of r.failureSamples) print(`  ${String(n).padStart(5)}  ${message}`);
  }
}

export function soakPassed(r: SoakReport): boolean {
  return r.lost.length === 0 && r.undetected.length === 0 && r.strays.length === 0 && r.unexpectedExits === 0
    && r.stalled.cut === r.stalled.opened;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
  const stopChildren = () => {
    for (const child of children) child.kill('SIGKILL');
  };
  process.once('SIGINT', () => { stopChildren(); process.exit(130); });
  try {
    const report = await runSoak({
      seconds: env('SOAK_SECONDS', 120), workers: env('SOAK_WORKERS', 4), maxMiB: env('SOAK_MAX_MIB', 6),
      faultEverySeconds: env('SOAK_FAULT_EVERY', 5), diskMiB: env('SOAK_DISK_MIB', 1024),
    });
    process.exitCode = soakPassed(report) ? 0 : 1;
    process.stdout.write(soakPassed(report) ? 'soak passed: no data lost\n' : 'soak FAILED\n');
  } catch (err) {
    stopChildren();
    process.stderr.write(`soak: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
