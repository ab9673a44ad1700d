// Client quirks of protocol.md §1.3 and exact wire behaviour, over raw sockets where node's own
// client would not produce the bytes.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { hashBuffer, isId, parseRfc1123 } from '@oas/sdk';
import { startServer, type TestServer } from './helpers/server.js';
import { assertError } from './helpers/assert.js';
import { rawRequest, type RawResp } from './helpers/raw.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';

let t: TestServer;
let vault: string;
before(async () => {
  t = await startServer();
  vault = await t.client.vaultId('quirks');
});
after(async () => { await t.close(); });

function json(res: RawResp) {
  return JSON.parse(res.body.toString('utf8'));
}

function assertRawError(res: RawResp, status: number, code: string): void {
  assert.equal(res.status, status, res.head);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.ok(isId(res.headers['x-oas-request-id']), res.head);
  assert.ok(parseRfc1123(res.headers.date) !== null);
  const body = json(res);
  assert.equal(body.code, code);
  assert.equal(body.type, 'client');
  assert.equal(body.request_id, res.headers['x-oas-request-id']);
}

test('streamed upload as the SDK sends it: two Host headers, no x-oas-version, no User-Agent', async () => {
  const data = pattern(1048576 + 5);
  const { etag, treeEtag } = hashBuffer(data);
  const head = t.client.rawHead('POST', `/vaults/${vault}/archives`, [
    ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['Content-Length', String(data.length)], ['Connection', 'close'],
  ], { host: [`127.0.0.1:${t.port}`, '127.0.0.1'] });
  const res = await rawRequest(t.port, Buffer.concat([Buffer.from(head, 'latin1'), data]));
  assert.equal(res.status, 201, res.head);
  assert.ok(isId(res.headers['x-oas-archive-id']));
  // The same with identical Host values (default port).
  const again = t.client.rawHead('POST', `/vaults/${vault}/archives`, [
    ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['Content-Length', String(data.length)], ['Connection', 'close'],
  ], { host: ['example.com', 'example.com'] });
  assert.equal((await rawRequest(t.port, Buffer.concat([Buffer.from(again, 'latin1'), data]))).status, 201);
});

test('Expect: 100-continue gets 100 Continue, then the upload completes', async () => {
  const data = Buffer.from('continue me');
  const { etag, treeEtag } = hashBuffer(data);
  const head = t.client.rawHead('POST', `/vaults/${vault}/archives`, [
    ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['Content-Length', String(data.length)],
    ['Expect', '100-continue'], ['Connection', 'close'],
  ]);
  const res = await rawRequest(t.port, Buffer.concat([Buffer.from(head, 'latin1'), data]), { pauseAfterHeadMs: 200 });
  assert.deepEqual(res.interim, [100]);
  assert.equal(res.status, 201, res.head);
});

test('Content-Length: 0 on GET and DELETE', async () => {
  const get = await rawRequest(t.port, t.client.rawHead('GET', `/vaults/${vault}`, [['x-oas-version', '0.2.5'], ['Content-Length', '0'], ['Connection', 'close']]));
  assert.equal(get.status, 200, get.head);
  assert.equal(json(get).VaultId, vault);
  const id = await t.client.archiveId(vault, Buffer.from('gone soon'));
  const del = await rawRequest(t.port, t.client.rawHead('DELETE', `/vaults/${vault}/archives/${id}`, [['Content-Length', '0'], ['Connection', 'close']]));
  assert.equal(del.status, 204, del.head);
  assert.equal(del.headers['content-type'], undefined);
  assert.ok(isId(del.headers['x-oas-request-id']));
});

test('header values: latin1 bytes are taken as sent, UTF-8 bytes as UTF-8', async () => {
  const data = Buffer.from('x');
  const { etag, treeEtag } = hashBuffer(data);
  // A client that signs the characters it sends one byte each (é as the byte E9).
  const latin = t.client.rawHead('POST', `/vaults/${vault}/archives`, [
    ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['x-oas-archive-description', 'caf\u00e9'], ['Content-Length', '1'], ['Connection', 'close'],
  ]);
  const res = await rawRequest(t.port, Buffer.concat([Buffer.from(latin, 'latin1'), data]));
  assert.equal(res.status, 201, res.head);
  const meta = await t.client.get(`/vaults/${vault}/archives/${res.headers['x-oas-archive-id']}/meta`);
  assert.equal(meta.json.ArchiveDescription, 'caf\u00e9');
});

test('unknown paths: 404 NotFound; wrong verbs on known paths: 405 MethodNotAllowed; both JSON with a request id', async () => {
  for (const path of ['/', '/vault', '/vaults/x/y', `/vaults/${vault}/archives/a/b/c`, '/vaults/', '//vaults', '/health/x']) {
    assertError(await t.client.get(path), 404, 'NotFound');
  }
  for (const [method, path] of [['POST', '/vaults'], ['DELETE', '/vaults'], ['POST', `/vaults/${vault}`], ['GET', `/vaults/${vault}/archives`],
    ['PUT', `/vaults/${vault}/jobs`], ['DELETE', `/vaults/${vault}/jobs/${'A'.repeat(32)}`], ['PATCH', `/vaults/${vault}`], ['POST', '/health'], ['OPTIONS', '/vaults']] as const) {
    assertError(await t.client.request({ method, path }), 405, 'MethodNotAllowed');
  }
  const head = await t.client.request({ method: 'HEAD', path: `/vaults/${vault}` });
  assert.equal(head.status, 405);
  assert.ok(isId(head.headers['x-oas-request-id']));
});

test('malformed requests get a JSON 400 with a request id: bad escapes, garbage, bad headers', async () => {
  const badUrl = await rawRequest(t.port, t.client.rawHead('GET', '/vaults/%zz', [['Connection', 'close']]));
  assertRawError(badUrl, 400, 'InvalidArgument');
  assertRawError(await rawRequest(t.port, 'GARBAGE\r\n\r\n'), 400, 'InvalidArgument');
  assertRawError(await rawRequest(t.port, 'GET /vaults HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'), 400, 'InvalidArgument');
  assertRawError(await rawRequest(t.port, 'GET /vaults HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n'), 400, 'InvalidArgument');
  // A Content-Type fastify would call invalid does not matter: OAS ignores it.
  const data = Buffer.from('typed');
  const { etag, treeEtag } = hashBuffer(data);
  const typed = await t.client.request({ method: 'POST', path: `/vaults/${vault}/archives`, body: data, headers: { 'Content-Type': ';;', 'x-oas-content-etag': etag, 'x-oas-tree-etag': treeEtag } });
  assert.equal(typed.status, 201, typed.text);
});

test('CONNECT, a missing Host and absolute-form targets get OAS answers', async () => {
  assertRawError(await rawRequest(t.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'), 405, 'MethodNotAllowed');
  const noHost = await rawRequest(t.port, t.client.rawHead('GET', `/vaults/${vault}`, [['Connection', 'close']], { host: [] }));
  assert.equal(noHost.status, 200, noHost.head);
  const absolute = await rawRequest(t.port, t.client.rawHead('GET', `/vaults/${vault}`, [['Connection', 'close']]).replace(`GET /vaults/${vault}`, `GET http://127.0.0.1:${t.port}/vaults/${vault}`));
  assert.equal(absolute.status, 200, absolute.head);
});

test('every response carries Date and x-oas-request-id; body-less successes have no Content-Type', async () => {
  const created = await t.client.createVault('quirks-headers');
  assert.equal(created.status, 201);
  assert.equal(created.headers['content-type'], undefined);
  assert.equal(created.headers['content-length'], '0');
  const ids = new Set<string>();
  for (const res of [created, await t.client.get('/vaults'), await t.client.get('/nope'), await t.client.get('/health'), await t.client.get('/metrics')]) {
    assert.ok(isId(res.headers['x-oas-request-id']));
    assert.ok(parseRfc1123(res.headers.date) !== null);
    ids.add(String(res.headers['x-oas-request-id']));
  }
  assert.equal(ids.size, 5);
});

test('GET /health and GET /metrics need no signature', async () => {
  const health = await t.client.request({ method: 'GET', path: '/health', sign: false });
  assert.equal(health.status, 200);
  assert.equal(health.json.status, 'ok');
  await t.client.archiveId(vault, Buffer.from('metered'));
  await t.client.get('/nope');
  const res = await t.client.request({ method: 'GET', path: '/metrics', sign: false });
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  const text = res.text;
  assert.match(text, /^oas_requests_total\{operation="UploadArchive",status="201"\} \d+$/m);
  assert.match(text, /^oas_requests_total\{operation="NotFound",status="404"\} \d+$/m);
  assert.match(text, /^oas_requests_total\{operation="CreateVault",status="201"\} \d+$/m);
  assert.match(text, /^oas_bytes_received_total [1-9]\d*$/m);
  assert.match(text, /^oas_bytes_sent_total [1-9]\d*$/m);
  assert.match(text, /^oas_request_duration_seconds_bucket\{operation="UploadArchive",le="\+Inf"\} \d+$/m);
  assert.match(text, /^oas_request_duration_seconds_count\{operation="UploadArchive"\} \d+$/m);
  for (const state of ['InProgress', 'Succeeded', 'Failed']) assert.match(text, new RegExp(`^oas_jobs\\{state="${state}"\\} \\d+$`, 'm'));
});
