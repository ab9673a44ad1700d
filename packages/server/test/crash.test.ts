// kill -9 at random moments: the server runs as a child process on one data directory
// while concurrent single and multipart uploads hit it; it is SIGKILLed, restarted, and
// checked (the data safety rules of README.md):
//   - every archive the client got an id for is there, byte for byte;
//   - nothing else is visible, except an upload whose completing request was in flight at
//     the kill (its commit may have landed before the response was lost), which must then
//     be whole and correct;
//   - the blob directory holds exactly the blobs the metadata refers to, no temp files.
// Sizes, operations and kill moments come from a seeded PRNG: CRASH_SEED=<n> replays a run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { OASAPI, combineTreeEtags, hashBuffer, type OASResponse } from '@oas/sdk';
import { MAIN } from './helpers/cli.js';
import { tempDir } from './helpers/server.js';
import { prng } from './helpers/prng.js';

const MIB = 1048576;
const KEY_ID = 'CRASHTESTROOTKEY';
const KEY_SECRET = 'crash-test-secret-0123456789';
const ROUNDS = 4;
const WORKERS = 6;
const PART_SIZE = MIB;

/** An attempt's bytes, regenerated from its seed whenever needed (never all kept in memory). */
function dataOf(seed: number, size: number): Buffer {
  const key = createHash('md5').update(`crash-data-${seed}`).digest();
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

interface Attempt {
  /** Unique archive description: how an archive found after a restart is traced back to its attempt. */
  desc: string;
  kind: 'single' | 'multipart';
  seed: number;
  size: number;
  treeEtag: string;
  /**
   * acked: 2xx with an archive id; maybe: the completing request was sent and its answer
   * lost to the kill; none: the completing request was never sent.
   */
  outcome: 'acked' | 'maybe' | 'none' | 'pending';
  archiveId?: string;
  /** Multipart: the upload id and the parts answered 204. */
  uploadId?: string;
  ackedParts?: Array<{ range: string; etag: string }>;
  /** Retrieved and compared byte for byte already (in an earlier round). */
  verified?: boolean;
}

interface Child {
  proc: ChildProcess;
  port: number;
  exited: Promise<void>;
}

async function startChild(dataDir: string): Promise<Child> {
  // Port 0 and the url from the start-up log line: no race for a free port.
  const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN,
    '--data-dir', dataDir, '--port', '0', '--log-level', 'info', '--job-delay', '0'], {
    env: { ...process.env, OAS_ROOT_ACCESS_KEY_ID: KEY_ID, OAS_ROOT_ACCESS_KEY_SECRET: KEY_SECRET, OAS_DATA_DIR: '', OAS_PORT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  let stdout = '';
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer) => {
      stdout += d.toString();
      const m = /"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(stdout);
      if (m) {
        stdout = '';
        proc.stdout!.off('data', onData);
        proc.stdout!.resume(); // keep draining the request log
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code, signal) => reject(new Error(`server exited (${code ?? signal}) before listening: ${stderr}`)));
  });
  return { proc, port, exited };
}

async function killChild(child: Child | undefined): Promise<void> {
  if (!child || child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGKILL');
  await child.exited;
}

/** Consumes a response and returns its status (every response holds a socket until read). */
async function settle(res: OASResponse): Promise<number> {
  await res.read();
  return res.status;
}

function describeRes(what: string, res: OASResponse, body: Buffer): string {
  return `${what}: HTTP ${res.status} ${body.toString('utf8').slice(0, 300)}`;
}

class Load {
  killed = false;
  /** Failures before the kill (any of them fails the test). */
  readonly unexpected: string[] = [];
  private n = 0;

  constructor(readonly api: OASAPI, readonly vaultId: string, readonly round: number, readonly rnd: () => number,
    readonly attempts: Map<string, Attempt>) {}

  async worker(): Promise<void> {
    while (!this.killed) {
      const seed = Math.floor(this.rnd() * 2 ** 31);
      const multipart = this.rnd() < 0.35;
      // Singles: 1 KiB to 3 MiB, log-uniform. Multipart: 1 MiB parts, 2 to 4 of them.
      const size = multipart
        ? PART_SIZE + 1 + Math.floor(this.rnd() * 3 * PART_SIZE)
        : Math.floor(1024 * Math.pow(3 * 1024, this.rnd()));
      const attempt: Attempt = {
        desc: `crash-r${this.round}-${this.n++}-${seed}`, kind: multipart ? 'multipart' : 'single', seed, size,
        treeEtag: '', outcome: 'pending',
      };
      this.attempts.set(attempt.desc, attempt);
      let completing = false;
      try {
        const data = dataOf(seed, size);
        attempt.treeEtag = hashBuffer(data).treeEtag;
        if (!multipart) {
          const { etag, treeEtag } = hashBuffer(data);
          completing = true;
          const res = await this.api.postArchive(this.vaultId, data, etag, treeEtag, attempt.desc);
          const body = await res.read();
          if (res.status !== 201) throw new Error(describeRes('upload', res, body));
          attempt.archiveId = res.getHeader('x-oas-archive-id');
          attempt.outcome = 'acked';
          continue;
        }
        const created = await this.api.createMultipartUpload(this.vaultId, PART_SIZE, attempt.desc);
        if ((await settle(created)) !== 201) throw new Error(`initiate: HTTP ${created.status}`);
        attempt.uploadId = created.getHeader('x-oas-multipart-upload-id');
        attempt.ackedParts = [];
        const treeEtags: string[] = [];
        for (let start = 0; start < size; start += PART_SIZE) {
          const part = data.subarray(start, Math.min(size, start + PART_SIZE));
          const { etag, treeEtag } = hashBuffer(part);
          treeEtags.push(treeEtag);
          const range = `${start}-${start + part.length - 1}`;
          const res = await this.api.postMultipart(this.vaultId, attempt.uploadId!, part, range, etag, treeEtag);
          const body = await res.read();
          if (res.status !== 204) throw new Error(describeRes(`part ${range}`, res, body));
          attempt.ackedParts.push({ range, etag });
        }
        completing = true;
        const done = await this.api.completeMultipartUpload(this.vaultId, attempt.uploadId!, size, combineTreeEtags(treeEtags));
        const body = await done.read();
        if (done.status !== 201) throw new Error(describeRes('complete', done, body));
        attempt.archiveId = done.getHeader('x-oas-archive-id');
        attempt.outcome = 'acked';
      } catch (err) {
        attempt.outcome = completing ? 'maybe' : 'none';
        if (!this.killed) {
          this.unexpected.push(`${attempt.desc}: ${(err as Error).message}`);
          return;
        }
      }
    }
  }
}

/** Blob keys on disk (a blob is a data file plus its .leaves files, one per leaf family) and anything else found. */
async function blobsOnDisk(dataDir: string): Promise<{ keys: Set<string>; strays: string[] }> {
  const root = join(dataDir, 'blobs');
  const strays = (await readdir(join(root, 'tmp'))).map((n) => `tmp/${n}`);
  const keys = new Set<string>();
  for (const shard of await readdir(join(root, 'blobs'))) {
    const names = new Set(await readdir(join(root, 'blobs', shard)));
    for (const name of names) {
      const key = name.replace(/(\.[a-z0-9]+)?\.leaves$/, '');
      const partner = name === key ? `${key}.leaves` : key;
      if (!/^[0-9A-F]{32}$/.test(key) || key.slice(0, 2) !== shard || !names.has(partner)) strays.push(`blobs/${shard}/${name}`);
      else keys.add(key);
    }
  }
  return { keys, strays };
}

/**
 * Blob keys the metadata refers to, read straight from the SQLite file (read-only, next to
 * the running server: WAL readers do not block it). The store interface can answer "is
 * this key referenced" but not list them, and the check must go both ways.
 */
function referencedKeys(dataDir: string): Set<string> {
  const db = new Database(join(dataDir, 'meta.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare(`SELECT blob_key AS k FROM segments UNION SELECT blob_key FROM parts
      UNION SELECT output_key FROM jobs WHERE output_key <> ''`).all() as Array<{ k: string }>;
    return new Set(rows.map((r) => r.k));
  } finally {
    db.close();
  }
}

async function waitJob(api: OASAPI, vaultId: string, jobId: string): Promise<void> {
  for (;;) {
    const res = await api.getJobDesc(vaultId, jobId);
    const job = await res.json<{ Completed: boolean; StatusCode: string; StatusMessage: string }>();
    assert.equal(res.status, 200);
    if (job.Completed) {
      assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
      return;
    }
    await new Promise((r) => setTimeout(r, 30));
  }
}

/** Runs a job to completion and returns its whole output. */
async function jobOutput(api: OASAPI, vaultId: string, type: 'archive-retrieval' | 'inventory-retrieval', archiveId?: string): Promise<{ body: Buffer; treeEtag: string | undefined }> {
  const created = await api.createJob(vaultId, type, archiveId);
  assert.equal(await settle(created), 202);
  const jobId = created.getHeader('x-oas-job-id')!;
  await waitJob(api, vaultId, jobId);
  const out = await api.fetchJobOutput(vaultId, jobId);
  const body = await out.read();
  assert.equal(out.status, 200, body.toString('utf8').slice(0, 300));
  return { body, treeEtag: out.getHeader('x-oas-tree-etag') };
}

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

interface InventoryEntry {
  ArchiveId: string;
  ArchiveDescription: string;
  Size: number;
  TreeEtag: string;
}

/** Everything a restarted server must satisfy; returns what it found, for the test's diagnostics. */
async function verify(api: OASAPI, dataDir: string, vaultId: string, attempts: Map<string, Attempt>): Promise<{ checked: number; landed: number }> {
  // First, before any request can create a file: the blob directory against the metadata.
  const disk = await blobsOnDisk(dataDir);
  assert.deepEqual(disk.strays, [], 'files the start-up cleanup should have removed');
  const referenced = referencedKeys(dataDir);
  assert.deepEqual([...disk.keys].filter((k) => !referenced.has(k)), [], 'blobs no metadata refers to');
  assert.deepEqual([...referenced].filter((k) => !disk.keys.has(k)), [], 'metadata referring to missing blobs');

  // The live inventory: acknowledged archives, plus at most in-flight ones.
  const inventory = JSON.parse((await jobOutput(api, vaultId, 'inventory-retrieval')).body.toString('utf8')) as { ArchiveList: InventoryEntry[] };
  const visible = new Map<string, InventoryEntry>();
  let landed = 0;
  for (const entry of inventory.ArchiveList) {
    const attempt = attempts.get(entry.ArchiveDescription);
    assert.ok(attempt, `archive ${entry.ArchiveId} (${entry.ArchiveDescription}) was never uploaded`);
    assert.ok(!visible.has(entry.ArchiveDescription), `upload ${entry.ArchiveDescription} produced two archives`);
    visible.set(entry.ArchiveDescription, entry);
    assert.notEqual(attempt.outcome, 'none', `${attempt.desc} is visible but its completing request was never sent`);
    if (attempt.outcome === 'maybe') {
      // Committed just before the kill; the client never saw the id. Allowed, if whole and correct.
      attempt.outcome = 'acked';
      attempt.archiveId = entry.ArchiveId;
      landed++;
    }
    assert.equal(entry.ArchiveId, attempt.archiveId, `${attempt.desc}: another id than the client was given`);
    assert.equal(entry.Size, attempt.size, `${attempt.desc}: size`);
    assert.equal(entry.TreeEtag, attempt.treeEtag, `${attempt.desc}: tree etag`);
  }
  for (const attempt of attempts.values()) {
    if (attempt.outcome === 'acked') assert.ok(visible.has(attempt.desc), `acknowledged archive ${attempt.archiveId} (${attempt.desc}) is lost`);
    if (attempt.outcome === 'maybe') attempt.outcome = 'none'; // did not land: it never will
  }

  const desc = await api.getVaultDesc(vaultId);
  const vault = await desc.json<{ NumberOfArchives: number; SizeInBytes: number }>();
  assert.equal(vault.NumberOfArchives, visible.size, 'vault statistics disagree with the inventory');
  assert.equal(vault.SizeInBytes, [...visible.values()].reduce((n, e) => n + e.Size, 0));

  // Parts answered 204 of uploads that never completed are still listed, with their etags.
  for (const attempt of attempts.values()) {
    if (attempt.kind !== 'multipart' || !attempt.uploadId || attempt.outcome === 'acked') continue;
    const res = await api.listMultipart(vaultId, attempt.uploadId);
    const listed = await res.json<{ Parts: Array<{ RangeInBytes: string; ContentEtag: string }> }>();
    assert.equal(res.status, 200, `${attempt.desc}: list parts`);
    const byRange = new Map(listed.Parts.map((p) => [p.RangeInBytes, p.ContentEtag]));
    for (const part of attempt.ackedParts ?? []) assert.equal(byRange.get(part.range), part.etag, `${attempt.desc}: acknowledged part ${part.range}`);
  }

  // Byte for byte, through retrieval jobs, every archive not checked in an earlier round.
  const fresh = [...attempts.values()].filter((a) => a.outcome === 'acked' && !a.verified);
  await inParallel(fresh, 4, async (attempt) => {
    const out = await jobOutput(api, vaultId, 'archive-retrieval', attempt.archiveId);
    assert.equal(out.treeEtag, attempt.treeEtag, `${attempt.desc}: output tree etag`);
    assert.ok(out.body.equals(dataOf(attempt.seed, attempt.size)), `${attempt.desc}: retrieved bytes differ from the uploaded ones`);
    attempt.verified = true;
  });
  return { checked: fresh.length, landed };
}

test('SIGKILL during concurrent uploads: acknowledged archives survive whole, nothing half-written is visible or left on disk', { timeout: 120_000 }, async (t) => {
  const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`CRASH_SEED=${seed}`);
  process.stderr.write(`crash: CRASH_SEED=${seed}\n`); // also visible if the test hangs or dies
  const rnd = prng(seed);
  const dataDir = await tempDir('oas-crash-test-');
  let child: Child | undefined;
  const apis: OASAPI[] = [];
  t.after(async () => {
    await killChild(child);
    for (const api of apis) api.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const attempts = new Map<string, Attempt>();
  let vaultId = '';
  const summary: string[] = [];
  for (let round = 1; round <= ROUNDS + 1; round++) {
    child = await startChild(dataDir);
    const api = new OASAPI('127.0.0.1', KEY_ID, KEY_SECRET, { port: child.port, timeoutMs: 20_000 });
    apis.push(api);
    if (round === 1) {
      const created = await api.createVault('crash');
      assert.equal(await settle(created), 201);
      vaultId = created.getHeader('x-oas-vault-id')!;
    } else {
      const { checked, landed } = await verify(api, dataDir, vaultId, attempts);
      summary.push(`restart ${round - 1}: ${checked} archives retrieved byte for byte (${landed} committed without an answer)`);
    }
    if (round > ROUNDS) break; // the last start only verifies

    const load = new Load(api, vaultId, round, rnd, attempts);
    const workers = Array.from({ length: WORKERS }, () => load.worker());
    // Kill at a random moment once the load is under way.
    await new Promise((r) => setTimeout(r, 300 + Math.floor(rnd() * 900)));
    load.killed = true;
    await killChild(child);
    await Promise.all(workers);
    api.close();
    const leftovers = (await readdir(join(dataDir, 'blobs', 'tmp'))).length;
    assert.deepEqual(load.unexpected, [], 'requests failed before the kill');
    const counts = { acked: 0, maybe: 0, none: 0 };
    for (const a of attempts.values()) if (a.desc.startsWith(`crash-r${round}-`) && a.outcome !== 'pending') counts[a.outcome]++;
    summary.push(`kill ${round}: ${counts.acked} acknowledged, ${counts.maybe} in flight, ${counts.none} cut before completing, ${leftovers} temp files left`);
  }
  t.diagnostic(summary.join('; '));
  const acked = [...attempts.values()].filter((a) => a.outcome === 'acked').length;
  assert.ok(acked > ROUNDS, `too few uploads completed to mean anything (${acked})`);
});
