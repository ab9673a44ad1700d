import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { isId, parseRfc1123 } from '@oas/sdk';
import { startServer, type TestServer } from './helpers/server.js';
import { assertError } from './helpers/assert.js';

let t: TestServer;
before(async () => { t = await startServer({ maxVaults: 12 }); });
after(async () => { await t.close(); });

test('create vault: 201, Location, x-oas-vault-id, no body, no Content-Type', async () => {
  const res = await t.client.createVault('myvault1');
  assert.equal(res.status, 201);
  const id = String(res.headers['x-oas-vault-id']);
  assert.ok(isId(id));
  assert.equal(res.headers.location, `/vaults/${id}`);
  assert.equal(res.headers['content-type'], undefined);
  assert.equal(res.headers['content-length'], '0');
  assert.ok(isId(res.headers['x-oas-request-id']));
  assert.ok(parseRfc1123(res.headers.date) !== null);
  assert.equal(res.body.length, 0);
});

test('create vault is idempotent: same name returns the same id with 201', async () => {
  const a = await t.client.createVault('same-name');
  const b = await t.client.createVault('same-name');
  assert.equal(a.status, 201);
  assert.equal(b.status, 201);
  assert.equal(a.headers['x-oas-vault-id'], b.headers['x-oas-vault-id']);
});

test('vault names: rules of protocol.md §4.1', async () => {
  for (const bad of ['ab', 'a'.repeat(64), 'Upper', '-start', 'end-', '_x_', 'has.dot', 'sp%20ace', 'é-name']) {
    const res = await t.client.request({ method: 'PUT', path: `/vaults/${encodeURIComponent(bad)}` });
    assertError(res, 400, 'InvalidVaultName');
  }
  for (const good of ['abc', 'a'.repeat(63), 'a_b-c9', '0start9']) {
    const res = await t.client.createVault(good);
    assert.equal(res.status, 201, `${good}: ${res.text}`);
    assert.equal((await t.client.del(`/vaults/${res.headers['x-oas-vault-id']}`)).status, 204);
  }
});

test('describe vault: the 6 fields with their types', async () => {
  const id = await t.client.vaultId('describe-me');
  const res = await t.client.get(`/vaults/${id}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.deepEqual(Object.keys(res.json).sort(), ['CreationDate', 'LastInventoryDate', 'NumberOfArchives', 'SizeInBytes', 'VaultId', 'VaultName']);
  assert.equal(res.json.VaultId, id);
  assert.equal(res.json.VaultName, 'describe-me');
  assert.ok(parseRfc1123(res.json.CreationDate) !== null);
  assert.equal(res.json.LastInventoryDate, '');
  assert.equal(res.json.NumberOfArchives, 0);
  assert.equal(res.json.SizeInBytes, 0);
  // Live statistics once written to.
  await t.client.archiveId(id, Buffer.from('12345'));
  await t.client.archiveId(id, Buffer.from('abc'));
  const after = (await t.client.get(`/vaults/${id}`)).json;
  assert.equal(after.NumberOfArchives, 2);
  assert.equal(after.SizeInBytes, 8);
  assert.ok(parseRfc1123(after.LastInventoryDate) !== null);
});

test('unknown or malformed vault ids answer 404 VaultNotExist', async () => {
  for (const id of ['00000000000000000000000000000001', 'not-an-id', 'abcdefabcdefabcdefabcdefabcdefab', '..%2F..%2Fetc', "x'%20OR%201=1"]) {
    assertError(await t.client.get(`/vaults/${id}`), 404, 'VaultNotExist');
    assertError(await t.client.del(`/vaults/${id}`), 404, 'VaultNotExist');
    assertError(await t.client.get(`/vaults/${id}/jobs`), 404, 'VaultNotExist');
  }
});

test('delete vault: 204 when empty, 409 VaultNotEmpty with an archive or an upload', async () => {
  const id = await t.client.vaultId('to-delete');
  const archiveId = await t.client.archiveId(id, Buffer.from('data'));
  assertError(await t.client.del(`/vaults/${id}`), 409, 'VaultNotEmpty');
  assert.equal((await t.client.del(`/vaults/${id}/archives/${archiveId}`)).status, 204);
  const up = await t.client.request({ method: 'POST', path: `/vaults/${id}/multipart-uploads`, headers: { 'x-oas-part-size': 1048576 } });
  assert.equal(up.status, 201);
  assertError(await t.client.del(`/vaults/${id}`), 409, 'VaultNotEmpty');
  assert.equal((await t.client.del(`/vaults/${id}/multipart-uploads/${up.headers['x-oas-multipart-upload-id']}`)).status, 204);
  const res = await t.client.del(`/vaults/${id}`);
  assert.equal(res.status, 204);
  assert.equal(res.headers['content-type'], undefined);
  assert.ok(isId(res.headers['x-oas-request-id']));
  assertError(await t.client.get(`/vaults/${id}`), 404, 'VaultNotExist');
});

test('list vaults: pages of at most 10 in id order, Marker inclusive, "" at the end', async () => {
  const s = await startServer();
  try {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await s.client.vaultId(`page-vault-${i}`));
    ids.sort();
    // Default and larger limits are capped at 10.
    for (const q of ['', '?limit=50', '?marker&limit=10', '?marker=&limit=1000']) {
      const res = await s.client.get(`/vaults${q}`);
      assert.equal(res.status, 200, `${q}: ${res.text}`);
      assert.deepEqual(res.json.VaultList.map((v: { VaultId: string }) => v.VaultId), ids);
      assert.equal(res.json.Marker, '');
    }
    // Page by 3 following the markers; params in either order.
    const seen: string[] = [];
    let marker = '';
    let pages = 0;
    do {
      const res = await s.client.get(pages % 2 ? `/vaults?marker=${marker}&limit=3` : `/vaults?limit=3&marker=${marker}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.VaultList.length <= 3);
      seen.push(...res.json.VaultList.map((v: { VaultId: string }) => v.VaultId));
      marker = res.json.Marker;
      if (marker) assert.equal(marker, ids[seen.length]);
      pages++;
    } while (marker);
    assert.deepEqual(seen, ids);
    assert.equal(pages, 4);
    // The vault cap: an 11th vault is refused, a repeat of an existing name is not.
    assertError(await s.client.createVault('eleventh'), 409, 'TooManyVaults');
    assert.equal((await s.client.createVault('page-vault-3')).status, 201);
  } finally {
    await s.close();
  }
});

test('list vaults: bad limit and unknown or malformed marker are 400 InvalidArgument', async () => {
  for (const q of ['?limit=0', '?limit=-1', '?limit=abc', '?limit=1.5', '?limit=%201', '?marker=nothex', '?marker=00000000000000000000000000000001', '?marker=abcdefabcdefabcdefabcdefabcdefab']) {
    assertError(await t.client.get(`/vaults${q}`), 400, 'InvalidArgument');
  }
});
