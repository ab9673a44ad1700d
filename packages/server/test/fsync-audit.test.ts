// The fsync audit: the server runs as a child process under Debian's strace while it takes
// a single upload, a multipart upload and its completion, an OSS pull (from s3rver), an
// archive retrieval and an inventory. The trace must show, for every write that ends in an
// answer, the order the durability rules promise (docs/operations.md, "Durability"):
//   fsync of the temporary file -> rename to its final name -> fsync of the directory ->
//   metadata commit (SQLite WAL written, then synced) -> the response on the socket.
// SIGKILL cannot reveal a missing fsync (the page cache survives it); the trace can.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { combineTreeEtags, hashBuffer } from '@oas/sdk';
import { MAIN } from './helpers/cli.js';
import { Client, type Resp } from './helpers/client.js';
import { testS3Client } from './helpers/s3-client.js';
import { startS3rver, type S3TestServer } from './helpers/s3rver.js';
import { tempDir } from './helpers/server.js';
import { parseTrace, requireStrace, straceArgs, type SysEvent } from './helpers/strace.js';

const MIB = 1048576;
const KEY_ID = 'FSYNCAUDITROOTKEY';
const KEY_SECRET = 'fsync-audit-secret-0123456789';

let work = '';
let s3: S3TestServer | undefined;
let s3Client: S3Client | undefined;
let child: { proc: ChildProcess; pid: number; port: number; exited: Promise<void> } | undefined;

before(async () => {
  requireStrace();
  work = await tempDir('oas-fsync-audit-');
  s3 = await startS3rver();
  await s3.createBucket('source');
  s3Client = testS3Client(s3);
});

after(async () => {
  if (child && child.proc.exitCode === null && child.proc.signalCode === null) {
    process.kill(child.pid, 'SIGKILL');
    await child.exited;
  }
  s3Client?.destroy();
  await s3?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Starts oas-server under strace; resolves with the server's own pid and port. */
async function startTraced(dataDir: string, traceFile: string): Promise<NonNullable<typeof child>> {
  const oss = `s3.test=http://${s3!.accessKeyId}:${s3!.secretAccessKey}@${new URL(s3!.endpoint).host}?addressing=path&region=${s3!.region}`;
  const command = [process.execPath, '--conditions=source', '--import', 'tsx', MAIN,
    '--data-dir', dataDir, '--port', '0', '--log-level', 'info', '--job-delay', '0', '--oss-host', oss];
  const proc = spawn('strace', straceArgs(traceFile, command), {
    env: { ...process.env, OAS_ROOT_ACCESS_KEY_ID: KEY_ID, OAS_ROOT_ACCESS_KEY_SECRET: KEY_SECRET, OAS_DATA_DIR: '', OAS_PORT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  let stdout = '';
  const started = await new Promise<{ pid: number; port: number }>((resolve, reject) => {
    const onData = (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n').find((l) => l.includes('oas-server listening'));
      if (!line) return;
      proc.stdout!.off('data', onData);
      proc.stdout!.resume();
      const { pid, url } = JSON.parse(line) as { pid: number; url: string };
      resolve({ pid, port: Number(new URL(url).port) });
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code, signal) => reject(new Error(`server exited (${code ?? signal}) before listening: ${stderr}`)));
  });
  return { proc, exited, ...started };
}

function ok(res: Resp, status: number, what: string): string {
  assert.equal(res.status, status, `${what}: ${res.text}`);
  return String(res.headers['x-oas-request-id']);
}

/** Polls a job until it completes; returns the request id of the answer that said Succeeded. */
async function jobDone(c: Client, vault: string, jobId: string): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const res = await c.get(`/vaults/${vault}/jobs/${jobId}`);
    const id = ok(res, 200, 'describe job');
    if (res.json.Completed) {
      assert.equal(res.json.StatusCode, 'Succeeded', res.text);
      return id;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${jobId} did not complete`);
}

interface Step {
  /** What the operation is, for messages. */
  what: string;
  /** The request id of the answer that acknowledged it. */
  requestId: string;
  /** The answer's status line. */
  status: string;
  /** Whether it wrote blob data (false: metadata only). */
  writesBlob: boolean;
}

class Audit {
  private readonly blobs: string;
  private readonly wal: string;

  constructor(private readonly events: SysEvent[], dataDir: string) {
    this.blobs = join(dataDir, 'blobs');
    this.wal = join(dataDir, 'meta.sqlite-wal');
  }

  /** The answer with this request id written to a socket. */
  response(step: Step): SysEvent {
    const found = this.events.find((e) => (e.call === 'write' || e.call === 'writev') && e.paths.length === 0
      && e.args.includes(`HTTP/1.1 ${step.status}`) && e.args.includes(step.requestId));
    assert.ok(found, `${step.what}: no response with request id ${step.requestId} in the trace`);
    return found;
  }

  /** The first event starting after `after` (and ending before `before`) that matches. */
  private next(after: number, before: number, match: (e: SysEvent) => boolean): SysEvent | undefined {
    return this.events.find((e) => e.start > after && e.end < before && match(e));
  }

  private isTemp(path: string | undefined): boolean {
    return path !== undefined && dirname(path) === join(this.blobs, 'tmp');
  }

  /** Checks one step, its window being the calls since the previous step's answer. */
  check(step: Step, from: number): number {
    const resp = this.response(step);
    const why = (what: string) => `${step.what}: ${what}\n${this.dump(from, resp.end)}`;
    const renames = this.events.filter((e) => e.start > from && e.end < resp.start && e.call.startsWith('rename') && this.isTemp(e.paths[0]));
    let cursor = from;
    if (step.writesBlob) {
      assert.ok(renames.length > 0, why('no temporary blob file was renamed into place before the answer'));
      // Every file renamed into place (data and leaves) was fsynced under its temporary name.
      for (const r of renames) {
        const synced = this.events.some((e) => e.end < r.start && e.start > from && e.call === 'fsync' && e.paths[0] === r.paths[0]);
        assert.ok(synced, why(`${r.paths[0]} was renamed without an fsync before`));
      }
      const data = renames.filter((r) => !r.paths[0]!.endsWith('.leaves'));
      assert.ok(data.length > 0, why('no data file was renamed into place'));
      // Each data rename comes after its leaves' (the data file's name makes the blob exist)
      // and is followed by an fsync of its directory before the commit.
      for (const r of data) {
        const late = renames.find((l) => l.paths[0]!.startsWith(`${r.paths[0]}.`) && l.end > r.start);
        assert.equal(late, undefined, why(`${late?.paths[0]} was renamed after its data file`));
        const dirSync = this.next(r.end, resp.start, (e) => e.call === 'fsync' && e.paths[0] === dirname(r.paths[1]!));
        assert.ok(dirSync, why(`no fsync of ${dirname(r.paths[1]!)} after the rename of ${r.paths[0]}`));
        cursor = Math.max(cursor, dirSync.end);
      }
    } else {
      assert.deepEqual(renames, [], why('wrote a blob although it should write metadata only'));
    }
    const walWrite = this.next(cursor, resp.start, (e) => (e.call === 'pwrite64' || e.call === 'write') && e.paths[0] === this.wal);
    assert.ok(walWrite, why('no SQLite WAL write between the blob commit and the answer'));
    const walSync = this.next(walWrite.end, resp.start, (e) => (e.call === 'fsync' || e.call === 'fdatasync') && e.paths[0] === this.wal);
    assert.ok(walSync, why('the SQLite WAL was not synced before the answer'));
    return resp.end;
  }

  /** The calls of a window that matter here, for a failure message. */
  private dump(from: number, to: number): string {
    return this.events
      .filter((e) => e.start > from && e.end <= to && e.call !== 'close'
        && (e.paths.some((p) => p.startsWith(this.blobs) || p === this.wal) || (e.paths.length === 0 && e.args.includes('HTTP/1.1'))))
      .slice(0, 80)
      .map((e) => `  ${e.start}-${e.end} ${e.call} ${e.paths.join(' -> ') || e.args.slice(0, 60)} = ${e.ret}`)
      .join('\n');
  }
}

test('every acknowledged write: data fsync, rename, directory fsync, WAL commit, then the answer', async () => {
  const dataDir = join(work, 'data');
  const traceFile = join(work, 'trace.txt');
  child = await startTraced(dataDir, traceFile);
  const c = new Client(child.port, KEY_ID, KEY_SECRET);
  const steps: Step[] = [];
  const step = (what: string, res: Resp, status: number, writesBlob: boolean) => {
    steps.push({ what, requestId: ok(res, status, what), status: String(status), writesBlob });
  };

  const vault = await c.vaultId('audit');
  const single = randomBytes(3 * MIB + 5);
  const upload = await c.uploadArchive(vault, single);
  step('single upload', upload, 201, true);
  const archiveId = String(upload.headers['x-oas-archive-id']);

  const init = await c.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads`, headers: { 'x-oas-part-size': MIB } });
  assert.equal(init.status, 201, init.text);
  const uploadId = String(init.headers['x-oas-multipart-upload-id']);
  const whole = randomBytes(MIB + 1000);
  const trees: string[] = [];
  for (const [i, part] of [whole.subarray(0, MIB), whole.subarray(MIB)].entries()) {
    const h = hashBuffer(part);
    trees.push(h.treeEtag);
    const res = await c.request({
      method: 'PUT', path: `/vaults/${vault}/multipart-uploads/${uploadId}`, body: part,
      headers: { 'Content-Range': `bytes ${i * MIB}-${i * MIB + part.length - 1}/*`, 'x-oas-content-etag': h.etag, 'x-oas-tree-etag': h.treeEtag },
    });
    step(`multipart part ${i}`, res, 204, true);
  }
  const completed = await c.request({
    method: 'POST', path: `/vaults/${vault}/multipart-uploads/${uploadId}`,
    headers: { 'x-oas-archive-size': whole.length, 'x-oas-tree-etag': combineTreeEtags(trees) },
  });
  step('multipart complete', completed, 201, false);

  await s3Client!.send(new PutObjectCommand({ Bucket: 'source', Key: 'pulled.bin', Body: randomBytes(2 * MIB + 7) }));
  const jobs: Array<[string, unknown, boolean]> = [
    ['OSS pull', { Type: 'pull-from-oss', OSSHost: 's3.test', Bucket: 'source', Object: 'pulled.bin' }, true],
    ['archive retrieval', { Type: 'archive-retrieval', ArchiveId: archiveId }, false],
    ['inventory', { Type: 'inventory-retrieval' }, true],
  ];
  for (const [what, body, writesBlob] of jobs) {
    const jobId = await c.jobId(vault, body);
    steps.push({ what: `${what} job`, requestId: await jobDone(c, vault, jobId), status: '200', writesBlob });
  }

  process.kill(child.pid, 'SIGTERM');
  await child.exited;
  assert.equal(child.proc.exitCode, 0, 'the traced server stopped cleanly');

  const audit = new Audit(parseTrace(await readFile(traceFile, 'utf8')), dataDir);
  let from = -1;
  for (const s of steps) from = audit.check(s, from);
});
