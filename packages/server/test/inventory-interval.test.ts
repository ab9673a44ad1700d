// --inventory-interval: statistics, inventories and vault deletion follow the periodic
// snapshot, as the hosted service's daily inventory does.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { parseRfc1123 } from '@oas/sdk';
import { startServer, type TestServer } from './helpers/server.js';
import { assertError } from './helpers/assert.js';

let t: TestServer;
before(async () => { t = await startServer({ inventoryIntervalMs: 3_600_000 }); });
after(async () => { await t.close(); });

const pause = () => new Promise((r) => setTimeout(r, 5));

test('statistics and inventory come from the last snapshot', async () => {
  const vault = await t.client.vaultId('periodic');
  const a = await t.client.archiveId(vault, Buffer.from('one'));
  const b = await t.client.archiveId(vault, Buffer.from('three'));
  let desc = (await t.client.get(`/vaults/${vault}`)).json;
  assert.equal(desc.NumberOfArchives, 0);
  assert.equal(desc.SizeInBytes, 0);
  assert.equal(desc.LastInventoryDate, '');
  await pause();
  await t.server.snapshotInventories();
  await pause();
  desc = (await t.client.get(`/vaults/${vault}`)).json;
  assert.equal(desc.NumberOfArchives, 2);
  assert.equal(desc.SizeInBytes, 8);
  assert.ok(parseRfc1123(desc.LastInventoryDate) !== null);
  const listed = (await t.client.get('/vaults')).json.VaultList.find((v: { VaultId: string }) => v.VaultId === vault);
  assert.equal(listed.NumberOfArchives, 2);

  // Written after the snapshot: not in the statistics nor in the inventory yet.
  const c = await t.client.archiveId(vault, Buffer.from('later'));
  assert.equal((await t.client.get(`/vaults/${vault}`)).json.NumberOfArchives, 2);
  const job = await t.client.waitJob(vault, await t.client.jobId(vault, { Type: 'inventory-retrieval' }));
  assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
  const inv = (await t.client.get(`/vaults/${vault}/jobs/${job.JobId}/output`)).json;
  assert.equal(inv.InventoryDate, desc.LastInventoryDate);
  assert.deepEqual(inv.ArchiveList.map((e: { ArchiveId: string }) => e.ArchiveId).sort(), [a, b].sort());

  // Deleting the vault needs a snapshot showing it empty with no write since.
  for (const id of [a, b, c]) assert.equal((await t.client.del(`/vaults/${vault}/archives/${id}`)).status, 204);
  assertError(await t.client.del(`/vaults/${vault}`), 409, 'VaultNotEmpty');
  await pause();
  await t.server.snapshotInventories();
  assert.equal((await t.client.del(`/vaults/${vault}`)).status, 204);
});

test('a vault never written to can be deleted at once', async () => {
  const vault = await t.client.vaultId('never-written');
  assert.equal((await t.client.del(`/vaults/${vault}`)).status, 204);
});

test('an inventory job before any snapshot lists nothing, with an empty InventoryDate', async () => {
  const vault = await t.client.vaultId('no-snapshot');
  await t.client.archiveId(vault, Buffer.from('x'));
  const job = await t.client.waitJob(vault, await t.client.jobId(vault, { Type: 'inventory-retrieval' }));
  const inv = (await t.client.get(`/vaults/${vault}/jobs/${job.JobId}/output`)).json;
  assert.deepEqual(inv, { VaultId: vault, InventoryDate: '', ArchiveList: [] });
});
