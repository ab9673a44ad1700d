import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { hashBuffer, isId, parseRfc1123 } from '@oas/sdk';
import { startServer, type TestServer } from './helpers/server.js';
import { assertError, blobFiles, eventually } from './helpers/assert.js';
import { rawRequest } from './helpers/raw.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';

let t: TestServer;
let vault: string;
before(async () => {
  t = await startServer();
  vault = await t.client.vaultId('archives');
});
after(async () => { await t.close(); });

async function archiveCount(): Promise<number> {
  return (await t.client.get(`/vaults/${vault}`)).json.NumberOfArchives;
}

test('upload archive: 201, x-oas-archive-id, Location; meta has the 5 fields (protocol.md §3.3 vector 3 MiB + 5)', async () => {
  const data = pattern(3 * 1048576 + 5);
  const res = await t.client.uploadArchive(vault, data, 'backup 2014');
  assert.equal(res.status, 201, res.text);
  const id = String(res.headers['x-oas-archive-id']);
  assert.ok(isId(id));
  assert.equal(res.headers.location, `/vaults/${vault}/archives/${id}`);
  assert.equal(res.headers['content-type'], undefined);
  assert.equal(res.headers['content-length'], '0');
  const meta = await t.client.get(`/vaults/${vault}/archives/${id}/meta`);
  assert.equal(meta.status, 200);
  assert.equal(meta.headers['content-type'], 'application/json');
  assert.deepEqual(Object.keys(meta.json).sort(), ['ArchiveDescription', 'ArchiveId', 'ArchiveSizeInBytes', 'ArchiveTreeEtag', 'CreationDate']);
  assert.equal(meta.json.ArchiveId, id);
  assert.equal(meta.json.ArchiveDescription, 'backup 2014');
  assert.equal(meta.json.ArchiveSizeInBytes, 3145733);
  assert.equal(meta.json.ArchiveTreeEtag, '2B016A0FD13C7CBC62DE133A913C2E6B');
  assert.ok(parseRfc1123(meta.json.CreationDate) !== null);
});

test('etags are compared case-insensitively; the description may be UTF-8 (sent as UTF-8 bytes)', async () => {
  const data = Buffer.from('abc');
  const res = await t.client.request({
    method: 'POST', path: `/vaults/${vault}/archives`, body: data,
    headers: { 'x-oas-content-etag': '900150983cd24fb0d6963f7d28e17f72', 'x-oas-tree-etag': '900150983cd24fb0d6963f7d28e17f72', 'x-oas-archive-description': 'Sicherung größer 中文 ✓' },
  });
  assert.equal(res.status, 201, res.text);
  const meta = await t.client.get(`/vaults/${vault}/archives/${res.headers['x-oas-archive-id']}/meta`);
  assert.equal(meta.json.ArchiveDescription, 'Sicherung größer 中文 ✓');
  assert.equal(meta.json.ArchiveTreeEtag, '900150983CD24FB0D6963F7D28E17F72');
});

test('descriptions up to 1024 bytes; longer is 400 InvalidArgument', async () => {
  assert.equal((await t.client.uploadArchive(vault, Buffer.from('x'), 'd'.repeat(1024))).status, 201);
  assertError(await t.client.uploadArchive(vault, Buffer.from('x'), 'd'.repeat(1025)), 400, 'InvalidArgument');
  assertError(await t.client.uploadArchive(vault, Buffer.from('x'), 'é'.repeat(513)), 400, 'InvalidArgument');
});

test('digest mismatch: 400 InvalidDigest (type client) and nothing is stored', async () => {
  const before = await archiveCount();
  const files = await blobFiles(t.dataDir);
  const data = pattern(2 * 1048576 + 3);
  const good = hashBuffer(data);
  const wrong = hashBuffer(Buffer.from('other'));
  assertError(await t.client.uploadArchive(vault, data, undefined, { 'x-oas-content-etag': wrong.etag }), 400, 'InvalidDigest');
  assertError(await t.client.uploadArchive(vault, data, undefined, { 'x-oas-tree-etag': wrong.treeEtag }), 400, 'InvalidDigest');
  // The wrong tree variants of protocol.md §3.3 (lower-case concatenation, raw digests) are refused.
  const two = pattern(2 * 1048576);
  assertError(await t.client.uploadArchive(vault, two, undefined, { 'x-oas-tree-etag': '675923DBF40EDD9CA6B26DE7930FFC7C' }), 400, 'InvalidDigest');
  assertError(await t.client.uploadArchive(vault, two, undefined, { 'x-oas-tree-etag': '3521F17F95E0998C3EEFE1CD7BC02E39' }), 400, 'InvalidDigest');
  assert.equal(good.size, data.length);
  assert.equal(await archiveCount(), before);
  assert.deepEqual(await blobFiles(t.dataDir), files);
});

test('missing or malformed etag headers: 400 InvalidArgument', async () => {
  const data = Buffer.from('hello');
  const { etag, treeEtag } = hashBuffer(data);
  const post = (headers: Record<string, string>) => t.client.request({ method: 'POST', path: `/vaults/${vault}/archives`, body: data, headers });
  assertError(await post({ 'x-oas-tree-etag': treeEtag }), 400, 'InvalidArgument');
  assertError(await post({ 'x-oas-content-etag': etag }), 400, 'InvalidArgument');
  assertError(await post({ 'x-oas-content-etag': 'XYZ', 'x-oas-tree-etag': treeEtag }), 400, 'InvalidArgument');
});

test('zero-byte archive: 400 InvalidArgument', async () => {
  assertError(await t.client.uploadArchive(vault, Buffer.alloc(0)), 400, 'InvalidArgument');
});

test('no Content-Length (chunked body): 411 MissingContentLength', async () => {
  const { etag, treeEtag } = hashBuffer(Buffer.from('hello'));
  const head = t.client.rawHead('POST', `/vaults/${vault}/archives`, [
    ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['Transfer-Encoding', 'chunked'], ['Connection', 'close'],
  ]);
  const res = await rawRequest(t.port, `${head}5\r\nhello\r\n0\r\n\r\n`);
  assert.equal(res.status, 411);
  assert.equal(JSON.parse(res.body.toString()).code, 'MissingContentLength');
  assert.ok(isId(res.headers['x-oas-request-id']));
});

test('a transfer coding the server does not decode (gzip, chunked): 400 InvalidArgument, nothing stored', async () => {
  const before = await archiveCount();
  const body = Buffer.from('hello');
  const { etag, treeEtag } = hashBuffer(body);
  for (const [path, coding] of [[`/vaults/${vault}/archives`, 'gzip, chunked'], [`/vaults/${vault}/jobs`, 'GZIP ,chunked'], [`/vaults/${vault}/archives`, 'identity, chunked']] as const) {
    const head = t.client.rawHead('POST', path, [
      ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['Transfer-Encoding', coding], ['Connection', 'close'],
    ]);
    const res = await rawRequest(t.port, `${head}5\r\nhello\r\n0\r\n\r\n`);
    assert.equal(res.status, 400, coding);
    const error = JSON.parse(res.body.toString());
    assert.equal(error.code, 'InvalidArgument');
    assert.match(error.message, /Transfer-Encoding .* is not supported/);
    assert.ok(isId(res.headers['x-oas-request-id']));
  }
  assert.equal(await archiveCount(), before);
});

test('single upload over 6 GiB: 400 EntityTooLarge without reading the body', async () => {
  const head = t.client.rawHead('POST', `/vaults/${vault}/archives`, [
    ['x-oas-content-etag', '0'.repeat(32)], ['x-oas-tree-etag', '0'.repeat(32)], ['Content-Length', String(6 * 1024 ** 3 + 1)],
  ]);
  const res = await rawRequest(t.port, head);
  assert.equal(res.status, 400);
  assert.equal(JSON.parse(res.body.toString()).code, 'EntityTooLarge');
  assert.equal(res.headers.connection, 'close');
});

test('a body shorter than Content-Length (client disconnects) stores nothing', async () => {
  const before = await archiveCount();
  const files = await blobFiles(t.dataDir);
  const data = pattern(3 * 1048576);
  const { etag, treeEtag } = hashBuffer(data);
  const head = t.client.rawHead('POST', `/vaults/${vault}/archives`, [
    ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['Content-Length', String(data.length)],
  ]);
  const net = await import('node:net');
  await new Promise<void>((resolve) => {
    const socket = net.connect(t.port, '127.0.0.1', () => {
      socket.write(head);
      socket.write(data.subarray(0, 1048576 + 100), () => setTimeout(() => { socket.destroy(); resolve(); }, 100));
    });
    socket.on('error', () => undefined);
  });
  // The temporary blob goes away once the server notices the disconnect.
  await eventually(async () => JSON.stringify(await blobFiles(t.dataDir)) === JSON.stringify(files));
  assert.equal(await archiveCount(), before);
});

test('delete archive: 204, then 404 ArchiveNotExist for meta and delete; ids of other vaults are unknown', async () => {
  const id = await t.client.archiveId(vault, Buffer.from('to be deleted'));
  const other = await t.client.vaultId('archives-other');
  assertError(await t.client.get(`/vaults/${other}/archives/${id}/meta`), 404, 'ArchiveNotExist');
  assertError(await t.client.del(`/vaults/${other}/archives/${id}`), 404, 'ArchiveNotExist');
  const res = await t.client.del(`/vaults/${vault}/archives/${id}`);
  assert.equal(res.status, 204);
  assert.equal(res.headers['content-type'], undefined);
  assertError(await t.client.get(`/vaults/${vault}/archives/${id}/meta`), 404, 'ArchiveNotExist');
  assertError(await t.client.del(`/vaults/${vault}/archives/${id}`), 404, 'ArchiveNotExist');
  for (const bad of ['nothex', '0'.repeat(31), 'a'.repeat(32), '..']) {
    assertError(await t.client.get(`/vaults/${vault}/archives/${bad}/meta`), 404, 'ArchiveNotExist');
    assertError(await t.client.del(`/vaults/${vault}/archives/${bad}`), 404, 'ArchiveNotExist');
  }
  assertError(await t.client.uploadArchive('0'.repeat(32), Buffer.from('x')), 404, 'VaultNotExist');
});
