import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { formatRfc1123, isId } from '@oas/sdk';
import { ROOT_ID, ROOT_SECRET, startServer, tempDir, type TestServer } from './helpers/server.js';
import { assertError } from './helpers/assert.js';
import { rawRequest } from './helpers/raw.js';
import { runCli } from './helpers/cli.js';
import { Client } from './helpers/client.js';

let t: TestServer;
let vault: string;
before(async () => {
  t = await startServer();
  vault = await t.client.vaultId('auth-vault');
});
after(async () => { await t.close(); });

test('missing or malformed Authorization: 403 AccessDenied', async () => {
  assertError(await t.client.request({ method: 'GET', path: '/vaults', sign: false }), 403, 'AccessDenied');
  for (const bad of ['Bearer abc', 'OAS', 'OAS nocolon', `OAS ${ROOT_ID}:`, `OAS :sig`, `oas ${ROOT_ID}:abc`, `OAS ${ROOT_ID} :abc`]) {
    assertError(await t.client.request({ method: 'GET', path: '/vaults', authorization: bad }), 403, 'AccessDenied');
  }
});

test('missing or unparsable Date: 403 AccessDenied', async () => {
  assertError(await t.client.request({ method: 'GET', path: '/vaults', date: null }), 403, 'AccessDenied');
  for (const date of [new Date().toISOString(), 'yesterday', 'Tue, 31 Feb 2014 12:00:00 GMT', String(Date.now())]) {
    assertError(await t.client.request({ method: 'GET', path: '/vaults', date }), 403, 'AccessDenied');
  }
});

test('unknown AccessKeyId: 403 InvalidAccessKeyId; wrong secret or altered request: 403 SignatureDoesNotMatch', async () => {
  assertError(await t.client.withKey('NOSUCHKEY', ROOT_SECRET).get('/vaults'), 403, 'InvalidAccessKeyId');
  assertError(await t.client.request({ method: 'GET', path: '/vaults', secret: 'wrong-secret' }), 403, 'SignatureDoesNotMatch');
  // Signed for one request, sent as another (query, path, x-oas header, method).
  const date = formatRfc1123();
  const head = t.client.rawHead('GET', '/vaults?limit=5', [['x-oas-version', '0.2.5'], ['Connection', 'close']], { date });
  for (const altered of [
    head.replace('GET /vaults?limit=5', 'GET /vaults?limit=6'),
    head.replace('GET /vaults?limit=5', `GET /vaults/${vault}?limit=5`),
    head.replace('x-oas-version: 0.2.5', 'x-oas-version: 0.2.6'),
    head.replace('x-oas-version: 0.2.5\r\n', 'x-oas-version: 0.2.5\r\nx-oas-extra: 1\r\n'),
    head.replace('GET /vaults', 'DELETE /vaults'),
  ]) {
    const res = await rawRequest(t.port, altered);
    assert.ok([403, 405].includes(res.status), res.head);
    if (res.status === 403) assert.equal(JSON.parse(res.body.toString()).code, 'SignatureDoesNotMatch');
  }
  assert.equal((await rawRequest(t.port, head)).status, 200);
});

test('Date more than 15 minutes off: 403 RequestTimeTooSkewed; within: accepted', async () => {
  const at = (ms: number) => formatRfc1123(Date.now() + ms);
  assertError(await t.client.request({ method: 'GET', path: '/vaults', date: at(-16 * 60_000) }), 403, 'RequestTimeTooSkewed');
  assertError(await t.client.request({ method: 'GET', path: '/vaults', date: at(16 * 60_000) }), 403, 'RequestTimeTooSkewed');
  assert.equal((await t.client.request({ method: 'GET', path: '/vaults', date: at(-14 * 60_000) })).status, 200);
  assert.equal((await t.client.request({ method: 'GET', path: '/vaults', date: at(14 * 60_000) })).status, 200);
});

test('signing follows protocol.md §2: any x-oas-version or none, mixed-case names, bare query names, raw path', async () => {
  for (const headers of [{}, { 'x-oas-version': '2014-01-01' }, { 'X-OAS-Version': '0.2.5' }] as Array<Record<string, string>>) {
    assert.equal((await t.client.request({ method: 'GET', path: `/vaults/${vault}`, headers })).status, 200);
  }
  const bare = await t.client.request({ method: 'GET', path: '/vaults?marker&limit=10' });
  assert.equal(bare.status, 200, bare.text);
  const reordered = await t.client.request({ method: 'GET', path: '/vaults?limit=10&marker=' });
  assert.equal(reordered.status, 200, reordered.text);
  // Other query parameters are not signed and are ignored.
  assert.equal((await t.client.request({ method: 'GET', path: '/vaults?foo=bar&limit=3' })).status, 200);
  // The path is signed exactly as sent (percent-escapes and all).
  const escaped = await t.client.request({ method: 'PUT', path: '/vaults/%61uth-escaped' });
  assert.equal(escaped.status, 201, escaped.text);
  const list = (await t.client.get('/vaults')).json.VaultList.map((v: { VaultName: string }) => v.VaultName);
  assert.ok(list.includes('auth-escaped'));
});

test('auth errors are JSON with a request id, and unauthenticated requests never reach the data', async () => {
  const res = await t.client.request({ method: 'DELETE', path: `/vaults/${vault}`, sign: false });
  assertError(res, 403, 'AccessDenied');
  assert.equal((await t.client.get(`/vaults/${vault}`)).status, 200);
});

test('accounts are isolated: a key from `keys create` sees none of the first account\'s vaults', async () => {
  const out = await runCli(['keys', 'create', '--data-dir', t.dataDir]);
  assert.equal(out.code, 0, out.stderr);
  const id = /AccessKeyId: (\S+)/.exec(out.stdout)![1]!;
  const secret = /AccessKeySecret: (\S+)/.exec(out.stdout)![1]!;
  const other = new Client(t.port, id, secret);
  const archive = await t.client.archiveId(vault, Buffer.from('private'));
  assert.deepEqual((await other.get('/vaults')).json.VaultList, []);
  assertError(await other.get(`/vaults/${vault}`), 404, 'VaultNotExist');
  assertError(await other.del(`/vaults/${vault}`), 404, 'VaultNotExist');
  assertError(await other.uploadArchive(vault, Buffer.from('x')), 404, 'VaultNotExist');
  assertError(await other.get(`/vaults/${vault}/archives/${archive}/meta`), 404, 'VaultNotExist');
  assertError(await other.del(`/vaults/${vault}/archives/${archive}`), 404, 'VaultNotExist');
  assertError(await other.createJob(vault, { Type: 'inventory-retrieval' }), 404, 'VaultNotExist');
  assertError(await other.get(`/vaults/${vault}/multipart-uploads`), 404, 'VaultNotExist');
  // Same vault name, a different vault.
  const mine = await other.vaultId('auth-vault');
  assert.notEqual(mine, vault);
  assert.ok(isId(mine));
  assert.equal((await t.client.get(`/vaults/${vault}/archives/${archive}/meta`)).status, 200);
  // A deleted key no longer works.
  const del = await runCli(['keys', 'delete', id, '--data-dir', t.dataDir]);
  assert.equal(del.code, 0, del.stderr);
  assertError(await other.get('/vaults'), 403, 'InvalidAccessKeyId');
});

test('root key from the environment: created, and its secret updated when it changes', async () => {
  const dataDir = await tempDir();
  const first = await startServer({ dataDir, rootAccessKeyId: 'ROOTID', rootAccessKeySecret: 'secret-one' });
  let v: string;
  try {
    v = await first.client.withKey('ROOTID', 'secret-one').vaultId('kept');
  } finally {
    await first.stop();
  }
  const second = await startServer({ dataDir, rootAccessKeyId: 'ROOTID', rootAccessKeySecret: 'secret-two' });
  try {
    assert.equal(second.server.rootKey.kind, 'configured');
    const c = second.client.withKey('ROOTID', 'secret-two');
    assertError(await c.request({ method: 'GET', path: '/vaults', secret: 'secret-one' }), 403, 'SignatureDoesNotMatch');
    assert.equal((await c.get(`/vaults/${v}`)).status, 200);
  } finally {
    await second.close();
  }
});

test('no root key configured on first start: one is generated (and only once)', async () => {
  const dataDir = await tempDir();
  const first = await startServer({ dataDir, rootAccessKeyId: undefined, rootAccessKeySecret: undefined });
  const key = first.server.rootKey.kind === 'generated' ? first.server.rootKey.account : null;
  try {
    assert.ok(key);
    const c = new Client(first.port, key.accessKeyId, key.accessKeySecret);
    assert.equal((await c.createVault('generated')).status, 201);
  } finally {
    await first.stop();
  }
  const second = await startServer({ dataDir, rootAccessKeyId: undefined, rootAccessKeySecret: undefined });
  try {
    assert.equal(second.server.rootKey.kind, 'existing');
    const c2 = new Client(second.port, key!.accessKeyId, key!.accessKeySecret);
    assert.equal((await c2.get('/vaults')).json.VaultList.length, 1);
  } finally {
    await second.close();
  }
});
