// ListJobs in AWS's order (initiation time, oldest first, ties by job id) with paging by an
// opaque marker; and the operations this server does not implement authenticate before they
// answer "not supported" (a bad signature or a foreign account id is refused as such).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateVaultCommand, GetVaultLockCommand, InitiateJobCommand, InitiateVaultLockCommand, ListJobsCommand,
  PurchaseProvisionedCapacityCommand, UploadArchiveCommand, type GlacierClient,
} from '@aws-sdk/client-glacier';
import { glacierJsClient } from './helpers/glacier-clients.js';
import { ManualClock } from './helpers/clock.js';
import { ROOT_ID, ROOT_SECRET, startServer, type TestServer } from './helpers/server.js';

let ts: TestServer;
let clock: ManualClock;
let glacier: GlacierClient;
const vaultName = 'ordered';

async function failure(p: Promise<unknown>): Promise<{ name: string; status: number; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode ?? 0 };
  }
  throw new Error('expected a failure');
}

before(async () => {
  clock = new ManualClock();
  ts = await startServer({ clock });
  glacier = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET });
  await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
});

after(async () => {
  glacier?.destroy();
  await ts?.close();
});

test('ListJobs lists by initiation time, then id, and pages with its marker', async () => {
  const archiveId = (await glacier.send(new UploadArchiveCommand({ accountId: '-', vaultName, body: Buffer.from('job target') }))).archiveId!;
  const initiate = async (type: 'archive-retrieval' | 'inventory-retrieval') => (await glacier.send(new InitiateJobCommand({
    accountId: '-', vaultName, jobParameters: type === 'archive-retrieval' ? { Type: type, ArchiveId: archiveId } : { Type: type },
  }))).jobId!;
  // Seven jobs at five instants; two instants hold two jobs each (ordered by id there).
  const instants: string[][] = [];
  for (const n of [1, 2, 1, 2, 1]) {
    const at: string[] = [];
    for (let i = 0; i < n; i++) at.push(await initiate(i % 2 === 0 ? 'archive-retrieval' : 'inventory-retrieval'));
    instants.push(at.sort());
    clock.advance(1000);
  }
  const expected = instants.flat();

  const all = await glacier.send(new ListJobsCommand({ accountId: '-', vaultName }));
  assert.deepEqual(all.JobList!.map((j) => j.JobId), expected);
  assert.equal(all.Marker, undefined);
  const dates = all.JobList!.map((j) => Date.parse(j.CreationDate!));
  assert.deepEqual([...dates].sort((a, b) => a - b), dates, 'CreationDate ascending');

  const paged: string[] = [];
  let marker: string | undefined;
  let pages = 0;
  do {
    const page = await glacier.send(new ListJobsCommand({ accountId: '-', vaultName, limit: 3, ...(marker ? { marker } : {}) }));
    assert.ok(page.JobList!.length <= 3);
    paged.push(...page.JobList!.map((j) => j.JobId!));
    marker = page.Marker;
    pages++;
  } while (marker);
  assert.equal(pages, 3);
  assert.deepEqual(paged, expected);

  // Filters apply before paging, in the same order (once every job has finished).
  for (let i = 0; i < 200; i++) {
    if ((await glacier.send(new ListJobsCommand({ accountId: '-', vaultName, completed: 'false' }))).JobList!.length === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const done = await glacier.send(new ListJobsCommand({ accountId: '-', vaultName, statuscode: 'Succeeded', limit: 4 }));
  assert.deepEqual(done.JobList!.map((j) => j.JobId), expected.slice(0, 4));
  const rest = await glacier.send(new ListJobsCommand({ accountId: '-', vaultName, statuscode: 'Succeeded', marker: done.Marker! }));
  assert.deepEqual(rest.JobList!.map((j) => j.JobId), expected.slice(4));
  assert.equal((await glacier.send(new ListJobsCommand({ accountId: '-', vaultName, statuscode: 'InProgress' }))).JobList!.length, 0);

  const bad = await failure(glacier.send(new ListJobsCommand({ accountId: '-', vaultName, marker: 'not-a-marker' })));
  assert.equal(bad.name, 'InvalidParameterValueException');
  assert.equal(bad.status, 400);
});

test('unsupported operations authenticate first: bad signature, foreign account, then "not supported"', async () => {
  const forged = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: 'not-the-secret' });
  try {
    const lock = (c: GlacierClient, accountId = '-') => c.send(new InitiateVaultLockCommand({ accountId, vaultName, policy: { Policy: '{}' } }));
    const sig = await failure(lock(forged));
    assert.equal(sig.name, 'InvalidSignatureException');
    assert.equal(sig.status, 403);
    const getSig = await failure(forged.send(new GetVaultLockCommand({ accountId: '-', vaultName })));
    assert.equal(getSig.name, 'InvalidSignatureException');
    const buySig = await failure(forged.send(new PurchaseProvisionedCapacityCommand({ accountId: '-' })));
    assert.equal(buySig.name, 'InvalidSignatureException');
    const foreign = await failure(lock(glacier, '123456789012'));
    assert.equal(foreign.name, 'AccessDeniedException');
    assert.equal(foreign.status, 403);
    const refused = await failure(lock(glacier));
    assert.equal(refused.name, 'InvalidParameterValueException');
    assert.match(refused.message, /InitiateVaultLock is not supported by this server/);
  } finally {
    forged.destroy();
  }
});
