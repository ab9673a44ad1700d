// Responses and failures: streamed job output, non-2xx answers, toError, transport
// errors, timeouts, AbortSignal, keep-alive retry, HTTPS selection, close().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OASAPI, OASResponse, OASTransportError, MAX_BUFFERED_BODY } from '../src/client/index.js';
import { OASError } from '../src/protocol/errors.js';
import { ChecksumHasher } from '../src/protocol/etag.js';
import { startRecordingServer, sendReply, type RecordingServer, type RecordingServerOptions } from './helpers/recording-server.js';
import { pattern } from './helpers/pattern.js';

const MIB = 1024 * 1024;
const VAULT = '79D2D8F33B7C287037286185863B6823';
const JOB = 'J0B4E5F60718293A4B5C6D7E8F90A1B2';

async function withServer(options: RecordingServerOptions, fn: (server: RecordingServer, api: OASAPI) => Promise<void>,
  clientOptions: { timeoutMs?: number } = {}): Promise<void> {
  const server = await startRecordingServer(options);
  const api = new OASAPI(server.host, 'id', 'secret', { port: server.port, ...clientOptions });
  try {
    await fn(server, api);
  } finally {
    api.close();
    await server.close();
  }
}

/** Writes `total` pattern bytes in 1 MiB pieces, waiting for 'drain': nothing is buffered. */
async function streamPattern(res: http.ServerResponse, total: number, onProgress: (sent: number) => void): Promise<void> {
  let sent = 0;
  while (sent < total && !res.destroyed) {
    const n = Math.min(MIB, total - sent);
    const ok = res.write(pattern(n, sent % 251));
    sent += n;
    onProgress(sent);
    if (!ok) await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
  }
  res.end();
}

test('fetchJobOutput streams 200 MiB: resolves before the server is done, body piped without read()', async () => {
  const total = 200 * MIB;
  let serverSent = 0;
  await withServer({
    respond: (_rec, res) => {
      res.writeHead(200, {
        'Content-Length': total, 'Content-Type': 'application/octet-stream',
        'x-oas-request-id': 'R1', 'x-oas-tree-etag': '5E863328970BD2F6C6CE6C8CEA5AEB59',
      });
      void streamPattern(res, total, (n) => { serverSent = n; });
    },
  }, async (_server, api) => {
    const res = await api.fetchJobOutput(VAULT, JOB);
    assert.equal(res.status, 200);
    assert.ok(serverSent < total, `the call resolved with the headers while the server was still sending (${serverSent} bytes sent)`);
    const hasher = new ChecksumHasher();
    await pipeline(res.body, new Writable({
      write(chunk: Buffer, _enc, done) { hasher.update(chunk); done(); },
    }));
    const sums = hasher.digest();
    assert.equal(sums.size, total);
    // protocol.md §3.3 vectors for the 200 MiB pattern.
    assert.equal(sums.etag, '08C302B6EF23AD605CBCAF1EE27BDB25');
    assert.equal(sums.treeEtag, res.getHeader('X-OAS-Tree-Etag'));
    await assert.rejects(res.read(), /already consumed/, 'read() was never used (and cannot be after streaming)');
  });
});

test('non-2xx answers are returned, and toError() parses the JSON error body', async () => {
  await withServer({
    respond: () => ({ status: 404, headers: { 'x-oas-request-id': 'RID404' }, body: { code: 'VaultNotExist', message: 'no such vault', type: 'client' } }),
  }, async (_server, api) => {
    const res = await api.getVaultDesc(VAULT);
    assert.ok(res instanceof OASResponse);
    assert.equal(res.status, 404);
    assert.equal(res.ok, false);
    assert.equal(res.requestId, 'RID404');
    const err = await res.toError();
    assert.ok(err instanceof OASError);
    assert.equal(err.status, 404);
    assert.equal(err.code, 'VaultNotExist');
    assert.equal(err.message, 'no such vault');
    assert.equal(err.type, 'client');
    assert.equal(err.requestId, 'RID404');
  });
});

test('toError(): request id from the body when the header is missing; type defaults by status', async () => {
  await withServer({
    respond: (_rec, res) => {
      const body = JSON.stringify({ code: 'InternalError', message: 'oops', request_id: 'BODYRID' });
      res.writeHead(500, { 'Content-Length': Buffer.byteLength(body), 'Content-Type': 'application/json' });
      res.end(body);
    },
  }, async (_server, api) => {
    const err = await (await api.listVault()).toError();
    assert.equal(err.code, 'InternalError');
    assert.equal(err.requestId, 'BODYRID');
    assert.equal(err.type, 'server');
  });
});

test('toError(): a body that is not JSON falls back to the status text', async () => {
  await withServer({
    respond: () => ({ status: 502, headers: { 'Content-Type': 'text/html' }, body: '<html>upstream down</html>' }),
  }, async (_server, api) => {
    const err = await (await api.listJob(VAULT)).toError();
    assert.equal(err.status, 502);
    assert.equal(err.code, 'BadGateway');
    assert.match(err.message, /^Bad Gateway: <html>upstream down<\/html>$/);
    assert.equal(err.type, 'server');
    assert.equal(err.requestId, 'REQ0000000000000000000000000000001');
  });
});

test('read/text/json are repeatable; getHeader is case-insensitive', async () => {
  await withServer({
    respond: () => ({ status: 201, headers: { 'x-oas-vault-id': VAULT, Location: `/vaults/${VAULT}` }, body: { Marker: '', VaultList: [] } }),
  }, async (_server, api) => {
    const res = await api.createVault('myvault1');
    assert.equal(res.ok, true);
    assert.equal(res.getHeader('X-OAS-Vault-Id'), VAULT);
    assert.equal(res.headers['location'], `/vaults/${VAULT}`);
    assert.deepEqual(await res.json(), { Marker: '', VaultList: [] });
    assert.equal(await res.text(), '{"Marker":"","VaultList":[]}');
    assert.equal((await res.read()).length, 28);
  });
});

test('json() on a non-JSON body rejects with a SyntaxError naming the status', async () => {
  await withServer({ respond: () => ({ status: 200, body: 'not json' }) }, async (_server, api) => {
    await assert.rejects((await api.getJobDesc(VAULT, JOB)).json(), (e: Error) => e instanceof SyntaxError && /HTTP 200/.test(e.message));
  });
});

test('small answers are read whole before the call resolves: nothing to release, the socket is back in the pool', async () => {
  await withServer({
    respond: () => ({ status: 201, headers: { 'x-oas-vault-id': VAULT }, body: { hello: 'world' } }),
  }, async (server, api) => {
    const res = await api.createVault('backup');
    assert.equal(res.streamed, false);
    // Node frees the socket on the body's 'end', which came before the call resolved.
    await new Promise((resolve) => setImmediate(resolve));
    const inUse = Object.values(api.agent.sockets).reduce((n, list) => n + (list?.length ?? 0), 0);
    assert.equal(inUse, 0, 'no connection is held by the unread response');
    // The next call goes out on the same pooled connection.
    (await api.listVault()).dispose();
    assert.equal(server.requests[0]!.remotePort, server.requests[1]!.remotePort);
    // The public API still works on the kept bytes: body stream, then read/json/text.
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), '{"hello":"world"}');
    assert.deepEqual(await res.json(), { hello: 'world' });
    assert.equal(await res.text(), '{"hello":"world"}');
    assert.equal(res.body, res.body, 'body is one stream');
  });
});

test('a non-streamed answer beyond the buffering cap is a clear transport error, with or without Content-Length', async () => {
  for (const declared of [true, false]) {
    await withServer({
      respond: (_rec, res) => {
        res.writeHead(200, declared ? { 'Content-Length': MAX_BUFFERED_BODY + 1 } : {});
        void streamPattern(res, MAX_BUFFERED_BODY + 1, () => {});
      },
    }, async (_server, api) => {
      await assert.rejects(api.listVault(), (e: Error) =>
        e instanceof OASTransportError && e.message.includes(`${MAX_BUFFERED_BODY} bytes kept in memory`)
        && e.message.startsWith('listVault: GET'), `declared length: ${declared}`);
    });
  }
});

test('timeout while a small answer body is arriving fails the call itself', async () => {
  await withServer({
    respond: (_rec, res) => {
      res.writeHead(200, { 'Content-Length': 100 });
      res.write('{"Marker": ');
    },
  }, async (_server, api) => {
    await assert.rejects(api.getVaultDesc(VAULT), (e: Error) => e instanceof OASTransportError && e.code === 'ETIMEDOUT');
  }, { timeoutMs: 150 });
});

test('dispose() releases unread responses; the client keeps working on the same pool', async () => {
  await withServer({ respond: () => ({ status: 200, body: Buffer.alloc(1000, 1) }) }, async (server, api) => {
    for (let i = 0; i < 5; i++) (await api.listVault()).dispose();
    const big = await (async () => {
      const res = await api.listVault();
      return res;
    })();
    big.dispose();
    assert.equal((await (await api.listVault()).read()).length, 1000);
    assert.equal(server.requests.length, 7);
  });
});

test('dispose() destroys a long unread body instead of downloading it', async () => {
  await withServer({
    respond: (_rec, res) => {
      res.writeHead(200, { 'Content-Length': 100 * MIB });
      void streamPattern(res, 100 * MIB, () => {});
    },
  }, async (_server, api) => {
    const res = await api.fetchJobOutput(VAULT, JOB);
    res.dispose();
    assert.equal(res.body.destroyed, true);
  });
});

test('connection refused: rejects with an error naming the method, host:port and cause', async () => {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const api = new OASAPI('127.0.0.1', 'id', 'secret', { port });
  try {
    await assert.rejects(api.listVault('', 10), (e: Error) => {
      assert.ok(e instanceof OASTransportError);
      assert.ok(e.message.startsWith(`listVault: GET 127.0.0.1:${port}/vaults?marker&limit=10 failed:`), e.message);
      assert.match(e.message, /ECONNREFUSED/);
      assert.equal(e.code, 'ECONNREFUSED');
      assert.ok(e.cause instanceof Error);
      return true;
    });
  } finally {
    api.close();
  }
});

test('connection reset by the server: rejects with a transport error', async () => {
  await withServer({ early: (_rec, _res, req) => { req.socket.destroy(); return true; } }, async (_server, api) => {
    await assert.rejects(api.deleteVault(VAULT), (e: Error) =>
      e instanceof OASTransportError && e.message.includes(`deleteVault: DELETE 127.0.0.1:`) && /socket hang up|ECONNRESET/.test(e.message)
      && e.cause !== undefined);
  });
});

test('a request failing on a stale keep-alive socket is retried once', async () => {
  let killed = false;
  await withServer({
    // The second request arrives on the pooled socket of the first: drop it unanswered once.
    early: (_rec, _res, req) => {
      if (killed) return false;
      if ((req.socket as { served?: boolean }).served) {
        killed = true;
        req.socket.destroy();
        return true;
      }
      (req.socket as { served?: boolean }).served = true;
      return false;
    },
  }, async (server, api) => {
    await (await api.listVault()).read();
    await new Promise((resolve) => setImmediate(resolve)); // the socket is back in the pool
    const res = await api.listVault();
    assert.equal(res.status, 200);
    res.dispose();
    assert.equal(killed, true);
    assert.equal(server.requests.length, 3);
  });
});

test('streamed uploads each get a fresh connection (their body cannot be replayed on a stale socket)', async () => {
  await withServer({}, async (server, api) => {
    for (let i = 0; i < 2; i++) {
      const res = await api.postArchiveFromReader(VAULT, (async function* () { yield Buffer.from('abc'); })(), 3, 'E', 'T');
      await res.read();
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.notEqual(server.requests[0]!.remotePort, server.requests[1]!.remotePort);
  });
});

test('timeout: rejects with ETIMEDOUT when the server does not answer', async () => {
  await withServer({ early: () => true }, async (_server, api) => {
    await assert.rejects(api.getJobDesc(VAULT, JOB), (e: Error) =>
      e instanceof OASTransportError && e.code === 'ETIMEDOUT' && /getJobDesc: .* timed out/.test(e.message));
  }, { timeoutMs: 150 });
});

test('timeout: a reader that stalls mid-upload fails the upload with ETIMEDOUT', async () => {
  await withServer({}, async (server, api) => {
    async function* stalls(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(10);
      await new Promise(() => {});
    }
    await assert.rejects(api.postArchiveFromReader(VAULT, stalls(), 100, 'E', 'T'), (e: Error) =>
      e instanceof OASTransportError && e.code === 'ETIMEDOUT');
    const rec = await server.waitForRequest(0);
    await rec.done;
    assert.equal(rec.aborted, true);
  }, { timeoutMs: 150 });
});

test('AbortSignal: pending call rejects with an AbortError', async () => {
  await withServer({ early: () => true }, async (server, api) => {
    const controller = new AbortController();
    const call = api.listVault(undefined, undefined, { signal: controller.signal });
    await server.waitForRequest(0);
    controller.abort();
    await assert.rejects(call, (e: Error) => e.name === 'AbortError' && (e as { code?: string }).code === 'ABORT_ERR' && /listVault/.test(e.message));
  });
});

test('AbortSignal: an already aborted signal sends nothing', async () => {
  await withServer({}, async (server, api) => {
    await assert.rejects(api.createVault('v1', { signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(server.requests.length, 0);
  });
});

test('AbortSignal: aborting while a job output is streaming destroys the body with an AbortError', async () => {
  await withServer({
    respond: (_rec, res) => {
      res.writeHead(200, { 'Content-Length': 100 * MIB });
      void streamPattern(res, 100 * MIB, () => {});
    },
  }, async (_server, api) => {
    const controller = new AbortController();
    const res = await api.fetchJobOutput(VAULT, JOB, 'bytes=0-104857599', { signal: controller.signal });
    let seen = 0;
    await assert.rejects(pipeline(res.body, new Writable({
      write(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        if (seen > MIB) controller.abort();
        done();
      },
    })), { name: 'AbortError' });
    assert.ok(seen < 100 * MIB);
  });
});

test('AbortSignal: aborting a streamed upload stops it and the server sees an aborted body', async () => {
  await withServer({}, async (server, api) => {
    const controller = new AbortController();
    async function* stalls(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(1000);
      await server.waitForRequest(0);
      controller.abort();
      await new Promise(() => {}); // never produces more
    }
    await assert.rejects(api.postArchiveFromReader(VAULT, stalls(), 5000, 'E', 'T', undefined, { signal: controller.signal }), { name: 'AbortError' });
    const rec = await server.waitForRequest(0);
    await rec.done;
    assert.equal(rec.aborted, true);
  });
});

test('protocol selection: HTTPS for secure or port 443, HTTP otherwise (no network)', () => {
  const cases: Array<[ConstructorParameters<typeof OASAPI>[3], 'http:' | 'https:']> = [
    [{}, 'http:'],
    [{ port: 8080 }, 'http:'],
    [{ port: 443 }, 'https:'],
    [{ secure: true }, 'https:'],
    [{ secure: true, port: 8443 }, 'https:'],
  ];
  for (const [options, protocol] of cases) {
    const api = new OASAPI('cn-hangzhou.oas.aliyuncs.com', 'id', 'secret', options);
    assert.equal(api.protocol, protocol, JSON.stringify(options));
    assert.equal(api.agent instanceof https.Agent, protocol === 'https:');
    assert.equal(api.secure, protocol === 'https:');
    api.close();
  }
  assert.equal(new OASAPI('h', 'i', 's').port, 80);
});

test('a caller-supplied agent is used and not destroyed by close()', async () => {
  const agent = new http.Agent({ keepAlive: true });
  await withServer({}, async (server) => {
    const api = new OASAPI(server.host, 'id', 'secret', { port: server.port, agent });
    (await api.listVault()).dispose();
    assert.equal(api.agent, agent);
    api.close();
  });
  agent.destroy();
});

test('after close() calls reject without touching the network', async () => {
  await withServer({}, async (server, api) => {
    api.close();
    await assert.rejects(api.listVault(), (e: Error) => e instanceof OASTransportError && /client was closed/.test(e.message));
    assert.equal(server.requests.length, 0);
  });
});

test('constructor refuses hosts with scheme or port', () => {
  assert.throws(() => new OASAPI('http://x', 'i', 's'), TypeError);
  assert.throws(() => new OASAPI('', 'i', 's'), TypeError);
  assert.throws(() => new OASAPI('h', 'i', 's', { port: 0 }), TypeError);
});

test('sendReply helper sanity: JSON bodies get a Content-Type', async () => {
  await withServer({ respond: (_rec, res) => sendReply(res, { body: { a: 1 } }) }, async (_server, api) => {
    const res = await api.listVault();
    assert.equal(res.getHeader('content-type'), 'application/json');
    assert.deepEqual(await res.json(), { a: 1 });
  });
});
