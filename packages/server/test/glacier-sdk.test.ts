// The Glacier front end end to end through @aws-sdk/client-glacier (a real client, pointed at
// an in-process server on port 0): vaults, single and multipart uploads with 1 MiB and 4 MiB
// parts, retrieval jobs whole and ranged, job output whole and ranged with its tree hash,
// JSON inventory, deletes, and the errors clients match on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateVaultCommand, DeleteArchiveCommand, DeleteVaultCommand,
  DescribeJobCommand, DescribeVaultCommand, GetJobOutputCommand, InitiateJobCommand, InitiateMultipartUploadCommand,
  ListJobsCommand, ListMultipartUploadsCommand, ListPartsCommand, ListVaultsCommand, UploadArchiveCommand,
  UploadMultipartPartCommand, waitUntilVaultExists, type GlacierClient,
} from '@aws-sdk/client-glacier';
import { treeHash } from '@oas/sdk';
import { awsAccountIdOf } from '../src/util/aws-identity.js';
import { ROOT_ACCOUNT_ID } from '../src/service/accounts.js';
import { glacierJsClient } from './helpers/glacier-clients.js';
import { ROOT_ID, ROOT_SECRET, startServer, type TestServer } from './helpers/server.js';

const MIB = 1024 * 1024;
let ts: TestServer;
let glacier: GlacierClient;
const ACCOUNT = awsAccountIdOf(ROOT_ACCOUNT_ID);

/** Deterministic bytes (no two MiB alike). */
function data(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed + (i >> 20) * 7) & 0xff;
  return out;
}

async function bytesOf(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Describes the job until it completes (the job engine polls every 100 ms in tests); bounded. */
async function waitJob(vaultName: string, jobId: string) {
  for (let i = 0; i < 300; i++) {
    const job = await glacier.send(new DescribeJobCommand({ accountId: '-', vaultName, jobId }));
    if (job.Completed) return job;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${jobId} did not complete`);
}

before(async () => {
  ts = await startServer();
  glacier = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET });
});

after(async () => {
  glacier?.destroy();
  await ts?.close();
});

test('create, describe and list vaults; Location names the 12-digit account', async () => {
  const created = await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: 'Photos.2024' }));
  assert.equal(created.location, `/${ACCOUNT}/vaults/Photos.2024`);
  await waitUntilVaultExists({ client: glacier, maxWaitTime: 10 }, { accountId: '-', vaultName: 'Photos.2024' });
  const again = await glacier.send(new CreateVaultCommand({ accountId: ACCOUNT, vaultName: 'Photos.2024' }));
  assert.equal(again.location, created.location);
  const d = await glacier.send(new DescribeVaultCommand({ accountId: '-', vaultName: 'Photos.2024' }));
  assert.equal(d.VaultARN, `arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/Photos.2024`);
  assert.equal(d.VaultName, 'Photos.2024');
  assert.equal(d.NumberOfArchives, 0);
  assert.match(d.CreationDate!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  for (const n of ['b-vault', 'a-vault', 'c_vault']) await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: n }));
  const page1 = await glacier.send(new ListVaultsCommand({ accountId: '-', limit: 2 }));
  assert.deepEqual(page1.VaultList!.map((v) => v.VaultName), ['Photos.2024', 'a-vault']);
  assert.equal(page1.Marker, `arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/b-vault`);
  const page2 = await glacier.send(new ListVaultsCommand({ accountId: '-', limit: 2, marker: page1.Marker! }));
  assert.deepEqual(page2.VaultList!.map((v) => v.VaultName), ['b-vault', 'c_vault']);
  assert.equal(page2.Marker, undefined);
});
