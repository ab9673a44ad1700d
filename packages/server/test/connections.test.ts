// Hostile clients against an oas-server process held to 256 open files: hundreds of
// uploads that stall mid-body and of connections that dribble their headers. The stalled
// ones are cut at the timeouts (their temporary files removed, counted in /metrics), a
// header slowloris gets 408 RequestTimeout, connections over the limit are closed on
// arrival, and a client already being served keeps being served: its uploads still get
// the descriptors they need.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { hashBuffer, isId } from '@oas/sdk';
import { MAIN } from './helpers/cli.js';
import { Client } from './helpers/client.js';
import { eventually, listFiles } from './helpers/assert.js';
import { parseHeaderLines, rawRequest } from './helpers/raw.js';
import { ROOT_ID, ROOT_SECRET, startServer, tempDir } from './helpers/server.js';
import { openSqliteStore } from '../src/store/meta/sqlite.js';
import type { MetadataStore } from '../src/store/meta/types.js';
import { ConfigError, parseServeArgs } from '../src/config.js';
import { defaultMaxConnections } from '../src/http/connections.js';

const FILE_LIMIT = 256;
const STALLED_UPLOADS = 150;
const DRIBBLERS = 150;

interface Response {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses one complete response at the start of `buf`; null while incomplete. */
function parseResponse(buf: Buffer): { res: Response; rest: Buffer } | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const headers = parseHeaderLines(lines.slice(1));
  const length = Number(headers['content-length'] ?? 0);
  if (buf.length < end + 4 + length) return null;
  return {
    res: { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0]!)?.[1]), headers, body: buf.subarray(end + 4, end + 4 + length).toString('utf8') },
    rest: buf.subarray(end + 4 + length),
  };
}

/** One kept-alive connection, one request at a time. */
class KeptAlive {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => { this.buf = Buffer.concat([this.buf, c]); this.waiter?.(); });
    socket.on('close', () => this.waiter?.());
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<KeptAlive> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    return new KeptAlive(socket);
  }

  async send(data: Buffer | string): Promise<Response> {
    this.socket.write(data);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const parsed = parseResponse(this.buf);
      if (parsed) {
        this.buf = parsed.rest;
        return parsed.res;
      }
      if (this.socket.destroyed) throw new Error('the kept-alive connection was closed');
      if (Date.now() > deadline) throw new Error('no response on the kept-alive connection');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.waiter = () => { clearTimeout(timer); resolve(); };
      });
    }
  }
}

interface Attack {
  kind: 'upload' | 'headers';
  /** What the server sent before it closed the connection. */
  received: Buffer;
  /** False when the test gave up waiting (the server never closed it). */
  closedByServer: boolean;
}

/** Opens a connection, sends `start`, then (optionally) dribbles; resolves when the server closes it. */
function attack(port: number, kind: Attack['kind'], start: string | Buffer, dribble: boolean): Promise<Attack> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let writes = 0;
    let timer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => { finish(false); }, 30_000);
    const finish = (closedByServer: boolean) => {
      clearTimeout(giveUp);
      clearInterval(timer);
      socket.destroy();
      resolve({ kind, received, closedByServer });
    };
    socket.on('connect', () => {
      socket.write(start);
      // A header line every 200 ms: never idle, never done (bounded: 100 lines).
      if (dribble) timer = setInterval(() => { if (++writes <= 100 && socket.writable) socket.write(`x-dribble-${writes}: a\r\n`); }, 200);
    });
    socket.on('data', (c: Buffer) => { received = Buffer.concat([received, c]); });
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
  });
}

function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

test(`stalled uploads and header slowloris against a server at ${FILE_LIMIT} open files`, { timeout: 120_000 }, async () => {
  const dataDir = await tempDir();
  let child: ChildProcess | undefined;
  try {
    // The shell sets both limits, so node cannot raise its own soft limit past them.
    child = spawn('bash', ['-c', `ulimit -n ${FILE_LIMIT} && exec "$@"`, 'bash', process.execPath, '--conditions=source', '--import', 'tsx', MAIN,
      'serve', '--port', '0', '--data-dir', dataDir, '--idle-timeout', '2s', '--headers-timeout', '1s', '--keep-alive-timeout', '60s', '--log-level', 'info'], {
      env: { ...process.env, OAS_ROOT_ACCESS_KEY_ID: ROOT_ID, OAS_ROOT_ACCESS_KEY_SECRET: ROOT_SECRET, OAS_DATA_DIR: '', OAS_PORT: '', OAS_METADATA: '', OAS_BLOBS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child!.on('close', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      child!.stdout!.on('data', () => {
        const m = /"url":"(http:\/\/[^"]+)"/.exec(output);
        if (m) resolve(m[1]!);
      });
      child!.on('close', () => reject(new Error(`server exited: ${output}`)));
    });
    const port = Number(new URL(url).port);
    const client = new Client(port, ROOT_ID, ROOT_SECRET);
    const vault = await client.vaultId('stalls');

    // A client being served before the attack, on one kept-alive connection.
    const served = await KeptAlive.open(port);
    assert.equal((await served.send(client.rawHead('GET', `/vaults/${vault}`, []))).status, 200);

    const body = Buffer.alloc(1024 * 1024, 7);
    const { etag, treeEtag } = hashBuffer(body);
    const stalledHead = () => Buffer.concat([Buffer.from(client.rawHead('POST', `/vaults/${vault}/archives`, [
      ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['Content-Length', String(body.length)],
    ]), 'latin1'), body.subarray(0, 64 * 1024)]);
    const attacks: Promise<Attack>[] = [];
    for (let i = 0; i < STALLED_UPLOADS + DRIBBLERS; i++) {
      attacks.push(i % 2 === 0 && i / 2 < STALLED_UPLOADS
        ? attack(port, 'upload', stalledHead(), false)
        : attack(port, 'headers', `POST /vaults/${vault}/archives HTTP/1.1\r\nHost: 127.0.0.1\r\n`, true));
    }

    // The connection limit (a third of 256 less 64) is reached: later connections are closed
    // on arrival, and the client already connected still gets its uploads stored.
    await eventually(async () => metricValue((await served.send('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')).body, 'oas_connections_refused_total') > 0, 30_000);
    const mine = Buffer.from('served while the others stall');
    const hashes = hashBuffer(mine);
    const stored = await served.send(Buffer.concat([Buffer.from(client.rawHead('POST', `/vaults/${vault}/archives`, [
      ['x-oas-content-etag', hashes.etag], ['x-oas-tree-etag', hashes.treeEtag], ['Content-Length', String(mine.length)],
    ]), 'latin1'), mine]));
    assert.equal(stored.status, 201, stored.body);

    const results = await Promise.all(attacks);
    assert.deepEqual(results.filter((r) => !r.closedByServer).map((r) => r.kind), [], 'every stalled connection is closed by the server');
    // A stalled upload is cut without a response (nothing can be sent mid-body).
    assert.deepEqual(results.filter((r) => r.kind === 'upload' && r.received.length > 0).map((r) => r.received.toString('latin1').slice(0, 100)), []);
    // A header slowloris that was let in gets 408 RequestTimeout as OAS JSON.
    const answered = results.filter((r) => r.kind === 'headers' && r.received.length > 0);
    assert.ok(answered.length > 0, 'some header slowloris connections were let in');
    for (const r of answered) {
      const parsed = parseResponse(r.received);
      assert.ok(parsed, r.received.toString('latin1'));
      assert.equal(parsed.res.status, 408, r.received.toString('latin1'));
      assert.equal(parsed.res.headers.connection, 'close');
      const json = JSON.parse(parsed.res.body);
      assert.equal(json.code, 'RequestTimeout');
      assert.equal(json.type, 'client');
      assert.ok(isId(json.request_id));
    }

    // Every attacking connection is accounted for: cut for silence, cut for slow headers, or refused.
    const metrics = (await served.send('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')).body;
    const idle = metricValue(metrics, 'oas_connections_timed_out_total{reason="idle"}');
    const headers = metricValue(metrics, 'oas_connections_timed_out_total{reason="headers"}');
    const refused = metricValue(metrics, 'oas_connections_refused_total');
    assert.equal(headers, answered.length);
    assert.ok(idle > 0, metrics);
    assert.equal(idle + headers + refused, STALLED_UPLOADS + DRIBBLERS, metrics);

    // The stalled uploads' temporary files are gone; none of them became an archive.
    await eventually(async () => (await listFiles(join(dataDir, 'blobs', 'tmp'))).length === 0);
    assert.equal((await client.get(`/vaults/${vault}`)).json.NumberOfArchives, 1);
    // New clients are served again, uploads included.
    assert.ok(isId(await client.archiveId(vault, Buffer.from('after the storm'))));
    served.socket.destroy();
    assert.doesNotMatch(output, /EMFILE|ENFILE/);

    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a server slower than the idle timeout to store an upload does not cut its client off', async () => {
  const dataDir = await tempDir();
  const real = await openSqliteStore(join(dataDir, 'meta.sqlite'));
  // The metadata commit of an archive takes longer than the idle timeout (as an fsync of a
  // large upload on a slow disk can): the connection is silent, but because of the server.
  const slow = new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (prop === 'insertArchive') {
        return async (...args: unknown[]) => {
          await new Promise((resolve) => setTimeout(resolve, 2500));
          return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as MetadataStore;
  const t = await startServer({ dataDir, meta: slow, idleTimeoutMs: 1000 });
  try {
    const vault = await t.client.vaultId('slow');
    const res = await t.client.uploadArchive(vault, Buffer.from('stored slowly'));
    assert.equal(res.status, 201, res.text);
    assert.match((await t.client.get('/metrics')).text, /oas_connections_timed_out_total\{reason="idle"\} 0/);
  } finally {
    await t.close();
  }
});

test('connection options: flags, environment, defaults', () => {
  const d = parseServeArgs([], {}).options;
  assert.deepEqual([d.idleTimeoutMs, d.headersTimeoutMs, d.keepAliveTimeoutMs, d.maxConnections], [60_000, 30_000, 15_000, null]);
  const o = parseServeArgs(['--idle-timeout', '2s', '--headers-timeout', '500ms', '--max-connections', '40'], { OAS_KEEP_ALIVE_TIMEOUT: '1m', OAS_MAX_CONNECTIONS: '9' }).options;
  assert.deepEqual([o.idleTimeoutMs, o.headersTimeoutMs, o.keepAliveTimeoutMs, o.maxConnections], [2000, 500, 60_000, 40]);
  for (const args of [['--max-connections', '0'], ['--idle-timeout', 'soon'], ['--headers-timeout', '-1']]) {
    assert.throws(() => parseServeArgs(args, {}), ConfigError, args.join(' '));
  }
  // A third of the open files less 64 for the process; unknown limit: none.
  assert.equal(defaultMaxConnections(256), 64);
  assert.equal(defaultMaxConnections(65_536), 21_824);
  assert.equal(defaultMaxConnections(50), 1);
  assert.equal(defaultMaxConnections(null), null);
});

test('clients that leave mid-body, or are refused before their body is read, do not disturb the server', async () => {
  const t = await startServer();
  try {
    const vault = await t.client.vaultId('leavers');
    const body = Buffer.alloc(256 * 1024, 3);
    const { etag, treeEtag } = hashBuffer(body);
    const head = t.client.rawHead('POST', `/vaults/${vault}/archives`, [
      ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['Content-Length', String(body.length)],
    ]);
    for (let i = 0; i < 20; i++) {
      const socket = net.connect(t.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      // Half the body, or all of it; then gone without waiting for the answer.
      await new Promise<void>((resolve) => socket.write(Buffer.concat([Buffer.from(head, 'latin1'), i % 2 ? body : body.subarray(0, 1000)]), () => resolve()));
      socket.destroy();
    }
    // Refused before its body was read (an unknown vault, 32 MiB announced): the answer, then the server closes.
    const refused = await rawRequest(t.port, Buffer.concat([Buffer.from(t.client.rawHead('POST', `/vaults/${'A'.repeat(32)}/archives`, [
      ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['Content-Length', String(32 * 1024 * 1024)],
    ]), 'latin1'), body]));
    assert.equal(refused.status, 404);
    assert.equal(refused.headers.connection, 'close');
    await eventually(async () => (await listFiles(join(t.dataDir, 'blobs', 'tmp'))).length === 0);
    assert.equal((await t.client.get('/health')).status, 200);
    assert.ok(isId(await t.client.archiveId(vault, Buffer.from('still here'))));
  } finally {
    await t.close();
  }
});

test('a client refused before its body is read, that then stalls mid-body, is cut at the idle timeout (not the keep-alive one)', async () => {
  const t = await startServer({ idleTimeoutMs: 1000, keepAliveTimeoutMs: 60_000 });
  try {
    const head = t.client.rawHead('POST', `/vaults/${'0'.repeat(32)}/archives`, [
      ['x-oas-content-etag', '0'.repeat(32)], ['x-oas-tree-etag', '0'.repeat(32)], ['Content-Length', String(8 * 1024 * 1024)],
    ]);
    const socket = net.connect(t.port, '127.0.0.1');
    socket.on('error', () => undefined);
    let received = '';
    socket.on('data', (c: Buffer) => (received += c.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(head);
    socket.write(Buffer.alloc(64 * 1024, 7));
    // Bounded: well before the 60 s keep-alive timeout.
    const cut = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000))]);
    socket.destroy();
    assert.match(received, /^HTTP\/1\.1 404 /, 'the refusal was answered');
    assert.ok(cut, 'the server closed the stalled connection');
    assert.match((await t.client.get('/metrics')).text, /oas_connections_timed_out_total\{reason="idle"\} 1/);
  } finally {
    await t.close();
  }
});
