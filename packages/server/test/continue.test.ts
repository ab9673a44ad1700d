// Expect: 100-continue: the 100 goes out only once the signature, the vault and the headers
// passed; a refused request gets its error without a 100, and its body is never read.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { hashBuffer, isId } from '@oas/sdk';
import { startServer, type TestServer } from './helpers/server.js';
import { parseHeaderLines } from './helpers/raw.js';

let t: TestServer;
let vault: string;
before(async () => {
  t = await startServer();
  vault = await t.client.vaultId('continue');
});
after(async () => { await t.close(); });

interface Exchange {
  /** Every status line's code, interim ones included, in order. */
  statuses: number[];
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection after the final response. */
  closed: boolean;
}

/**
 * Sends a head with Expect: 100-continue, then the body only if a 100 arrives (as a
 * careful client does), and reads until the final response and the end of the connection.
 */
function expectContinue(head: string, body: Buffer): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(t.port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const statuses: number[] = [];
    let final: Omit<Exchange, 'closed' | 'statuses'> | null = null;
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no complete exchange: ${buf.toString('latin1')}`)); }, 15_000);
    socket.on('connect', () => socket.write(head));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (final) return;
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0]!)?.[1]);
        statuses.push(status);
        const headers = parseHeaderLines(lines.slice(1));
        if (status === 100) {
          buf = buf.subarray(end + 4);
          socket.write(body);
          continue;
        }
        const length = Number(headers['content-length'] ?? 0);
        if (buf.length < end + 4 + length) return;
        final = { headers, body: buf.subarray(end + 4, end + 4 + length).toString('utf8') };
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      if (final) resolve({ ...final, statuses, closed: true });
      else reject(new Error(`connection closed without a response: ${buf.toString('latin1')}`));
    });
  });
}

function uploadHead(data: Buffer, extra: Array<[string, string]> = [], opts: { secret?: string; vault?: string } = {}): string {
  const { etag, treeEtag } = hashBuffer(data);
  const client = opts.secret ? t.client.withKey(t.client.accessKeyId, opts.secret) : t.client;
  return client.rawHead('POST', `/vaults/${opts.vault ?? vault}/archives`, [
    ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['Content-Length', String(data.length)], ['Expect', '100-continue'], ...extra,
  ]);
}

test('a good upload gets 100 Continue, sends its body, then gets 201', async () => {
  const data = Buffer.from('worth waiting for');
  const res = await expectContinue(uploadHead(data, [['Connection', 'close']]), data);
  assert.deepEqual(res.statuses, [100, 201]);
  assert.ok(isId(res.headers['x-oas-archive-id']));
});

test('a bad signature gets 403 at once, without 100 Continue, and the connection closes', async () => {
  const data = Buffer.alloc(64 * 1024, 1);
  const res = await expectContinue(uploadHead(data, [], { secret: 'not-the-secret' }), data);
  assert.deepEqual(res.statuses, [403]);
  assert.equal(JSON.parse(res.body).code, 'SignatureDoesNotMatch');
  assert.equal(res.headers.connection, 'close');
  assert.equal(res.closed, true);
});

test('bad headers, an unknown vault or an unknown key: the error, no 100 Continue', async () => {
  const data = Buffer.from('never sent');
  const cases: Array<[string, string, number, string]> = [
    ['malformed etag', uploadHead(data, []).replace(/x-oas-content-etag: \w+/, 'x-oas-content-etag: nothex'), 403, 'SignatureDoesNotMatch'],
    ['unknown vault', uploadHead(data, [], { vault: 'A'.repeat(32) }), 404, 'VaultNotExist'],
    ['unknown key', t.client.withKey('NOSUCHKEY', 'x').rawHead('POST', `/vaults/${vault}/archives`, [['Content-Length', '10'], ['Expect', '100-continue']]), 403, 'InvalidAccessKeyId'],
  ];
  const { treeEtag } = hashBuffer(data);
  // Signed, but the etag is not an etag: checked before the body is wanted.
  cases.push(['invalid etag (signed)', t.client.rawHead('POST', `/vaults/${vault}/archives`, [
    ['x-oas-content-etag', 'nothex'], ['x-oas-tree-etag', treeEtag], ['Content-Length', String(data.length)], ['Expect', '100-continue'],
  ]), 400, 'InvalidArgument']);
  // Signed, without a length: the body cannot be taken.
  cases.push(['no Content-Length', t.client.rawHead('POST', `/vaults/${vault}/archives`, [
    ['x-oas-content-etag', hashBuffer(data).etag], ['x-oas-tree-etag', treeEtag], ['Transfer-Encoding', 'chunked'], ['Expect', '100-continue'],
  ]), 411, 'MissingContentLength']);
  for (const [what, head, status, code] of cases) {
    const res = await expectContinue(head, data);
    assert.deepEqual(res.statuses, [status], what);
    assert.equal(JSON.parse(res.body).code, code, what);
    assert.equal(res.headers.connection, 'close', what);
  }
  // Nothing was stored by any of them.
  const meta = await t.client.get(`/vaults/${vault}`);
  assert.equal(meta.json.NumberOfArchives, 1);
});

test('a client that sends its body without waiting for 100 Continue is served', async () => {
  const data = Buffer.from('impatient');
  const head = uploadHead(data);
  const socket = net.connect(t.port, '127.0.0.1');
  try {
    let buf = Buffer.alloc(0);
    const final = new Promise<{ statuses: number[]; headers: Record<string, string> }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no response: ${buf.toString('latin1')}`)), 15_000);
      socket.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        const text = buf.toString('latin1');
        const statuses = [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
        const last = text.lastIndexOf('HTTP/1.1 ');
        const end = text.indexOf('\r\n\r\n', last);
        if (statuses.some((s) => s >= 200) && end > 0) {
          clearTimeout(timer);
          resolve({ statuses, headers: parseHeaderLines(text.slice(last, end).split('\r\n').slice(1)) });
        }
      });
      socket.on('error', reject);
    });
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), data]));
    const res = await final;
    assert.equal(res.statuses.at(-1), 201);
    assert.ok(isId(res.headers['x-oas-archive-id']));
  } finally {
    socket.destroy();
  }
});
