// Vaults, archives, uploads and the call/paging helpers against the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MIB, hashBuffer } from '../src/protocol/etag.js';
import { OASError } from '../src/protocol/errors.js';
import { OASAPI } from '../src/client/api.js';
import { OASTransportError } from '../src/client/errors.js';
import { Vault } from '../src/ease/vault.js';
import { callOk, listAllParts, listAllUploads, listAllVaults } from '../src/ease/call.js';
import { startTestServer, KEY_ID, KEY_SECRET, type TestServer } from './helpers/ease-server.js';
import { pattern } from './helpers/pattern.js';

let t: TestServer;

before(async () => {
  t = await startTestServer();
});
after(async () => {
  await t.close();
});

test('create (idempotent), get by id and by name, list, delete', async () => {
  const a = await Vault.create(t.api, 'vault-a');
  assert.equal(a.name, 'vault-a');
  assert.match(a.id, /^[0-9A-F]{32}$/);
  assert.ok(a.creationDate instanceof Date && !Number.isNaN(a.creationDate.getTime()));
  assert.equal(a.numberOfArchives, 0);
  assert.equal(a.sizeInBytes, 0);
  assert.equal((await Vault.create(t.api, 'vault-a')).id, a.id);
  assert.equal((await Vault.getById(t.api, a.id)).name, 'vault-a');
  assert.equal((await Vault.getByName(t.api, 'vault-a')).id, a.id);
  await Vault.create(t.api, 'vault-b');
  await Vault.create(t.api, 'vault-c');
  const names = (await Vault.listAll(t.api)).map((v) => v.name).sort();
  assert.deepEqual(names.filter((x) => x.startsWith('vault-')), ['vault-a', 'vault-b', 'vault-c']);

  // Paging follows the marker one page at a time.
  const paged: string[] = [];
  for await (const v of listAllVaults(t.api, { limit: 1 })) paged.push(v.VaultName);
  assert.deepEqual(paged.sort(), names);

  await Vault.deleteByName(t.api, 'vault-b');
  await (await Vault.getByName(t.api, 'vault-c')).delete();
  await assert.rejects(Vault.getByName(t.api, 'vault-b'),
    (e: unknown) => e instanceof OASError && e.code === 'VaultNotExist' && e.status === 404 && /no vault named "vault-b"/.test(e.message));
  await assert.rejects(Vault.getById(t.api, '0'.repeat(32)), (e: unknown) =>
    e instanceof OASError && e.code === 'VaultNotExist' && e.type === 'client' && typeof e.requestId === 'string');
  await assert.rejects(Vault.create(t.api, 'Bad Name!'), { code: 'InvalidVaultName' });
});

test('archives: upload, head, delete; the vault refreshes its statistics', async () => {
  const v = await Vault.create(t.api, 'archives');
  const path = join(t.dir, 'a.bin');
  const data = pattern(2 * MIB + 5);
  await writeFile(path, data);
  const { archiveId } = await v.uploadArchive(path, { description: 'desc ü' });
  const meta = await v.headArchive(archiveId);
  assert.deepEqual({ ...meta, creationDate: null }, {
    id: archiveId, description: 'desc ü', creationDate: null, size: data.length, treeEtag: hashBuffer(data).treeEtag,
  });
  await v.refresh();
  assert.equal(v.numberOfArchives, 1);
  assert.equal(v.sizeInBytes, data.length);
  await v.deleteArchive(archiveId);
  await assert.rejects(v.headArchive(archiveId), { code: 'ArchiveNotExist' });
});

test('uploads: initiate, list (all pages), list parts (all pages), cancel', async () => {
  const v = await Vault.create(t.api, 'uploads');
  const path = join(t.dir, 'u.bin');
  const data = pattern(7 * MIB);
  await writeFile(path, data);
  const u1 = await v.initiateUploader({ partSize: MIB, description: 'one' });
  const u2 = await v.initiateUploader({ size: 10 * MIB });
  assert.equal(u2.partSize, 64 * MIB);
  const listed = await v.listUploads();
  assert.deepEqual(listed.map((u) => u.id).sort(), [u1.id, u2.id].sort());
  assert.equal(listed.find((u) => u.id === u1.id)?.description, 'one');
  const paged: string[] = [];
  for await (const u of listAllUploads(t.api, v.id, { limit: 1 })) paged.push(u.MultipartUploadId);
  assert.equal(paged.length, 2);

  // Put a few parts up by hand through the low-level client, then list them 3 at a time.
  for (let i = 0; i < 7; i += 2) {
    const part = data.subarray(i * MIB, (i + 1) * MIB);
    const sums = hashBuffer(part);
    (await callOk(t.api.postMultipart(v.id, u1.id, part, `${i * MIB}-${(i + 1) * MIB - 1}`, sums.etag, sums.treeEtag))).dispose();
  }
  const parts: string[] = [];
  for await (const p of listAllParts(t.api, v.id, u1.id, { limit: 3 })) parts.push(p.RangeInBytes);
  assert.deepEqual(parts, [0, 2, 4, 6].map((i) => `${i * MIB}-${(i + 1) * MIB - 1}`));

  // The recovered uploader sends only the odd parts and completes.
  const recovered = await v.recoverUploader(u1.id);
  assert.equal(recovered.uploadedParts.length, 4);
  assert.equal(recovered.sizeCompleted, 4 * MIB);
  const result = await recovered.resume(path);
  assert.equal(result.partsReused, 4);
  assert.equal(result.parts, 7);
  assert.equal(result.treeEtag, hashBuffer(data).treeEtag);

  await v.cancelUpload(u2.id);
  assert.deepEqual(await v.listUploads(), []);
  await assert.rejects(v.recoverUploader(u2.id), { code: 'MultipartUploadNotExist' });
});

test('callOk: server errors become OASError, transport failures OASTransportError with a cause', async () => {
  const error = await callOk(t.api.getVaultDesc('F'.repeat(32))).then(() => null, (e: unknown) => e);
  assert.ok(error instanceof OASError);
  assert.equal(error.status, 404);
  assert.equal(error.code, 'VaultNotExist');
  assert.equal(error.type, 'client');
  assert.match(error.requestId ?? '', /^[0-9A-F]{32}$/);

  const wrongKey = new OASAPI('127.0.0.1', KEY_ID, `${KEY_SECRET}x`, { port: t.server.port });
  await assert.rejects(Vault.listAll(wrongKey), { code: 'SignatureDoesNotMatch', status: 403 });
  wrongKey.close();

  const nowhere = new OASAPI('127.0.0.1', KEY_ID, KEY_SECRET, { port: 1 });
  const failure = await Vault.listAll(nowhere).then(() => null, (e: unknown) => e);
  assert.ok(failure instanceof OASTransportError, String(failure));
  assert.ok(failure.cause);
  nowhere.close();
});
