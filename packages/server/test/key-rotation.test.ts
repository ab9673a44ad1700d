// Key rotation on both metadata stores: a changed root key in the environment replaces the
// stored one (the old one stops working, the account and its vaults stay), and
// `oas-server keys rotate` gives any key a new secret.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { assertError } from './helpers/assert.js';
import { runCli } from './helpers/cli.js';
import { startPostgres, type PostgresCluster } from './helpers/postgres.js';
import { startServer, tempDir } from './helpers/server.js';

let cluster: Promise<PostgresCluster> | null = null;
after(async () => {
  if (cluster) await (await cluster).stop();
});

async function rotation(metadataUri: string, dataDir: string): Promise<void> {
  const start = async (id: string, secret: string) => {
    const t = await startServer({ dataDir, metadataUri, rootAccessKeyId: id, rootAccessKeySecret: secret });
    return { ...t, client: t.client.withKey(id, secret) };
  };

  const first = await start('ROOTID', 'secret-one');
  let vault: string;
  try {
    vault = await first.client.vaultId('kept');
  } finally {
    await first.stop();
  }

  // Same id, new secret: the old secret stops working.
  const second = await start('ROOTID', 'secret-two');
  try {
    assert.deepEqual(second.server.rootKey, { kind: 'configured', accessKeyId: 'ROOTID', created: false, updated: true, retired: [] });
    assertError(await second.client.withKey('ROOTID', 'secret-one').get('/vaults'), 403, 'SignatureDoesNotMatch');
    assert.equal((await second.client.get(`/vaults/${vault}`)).status, 200);
  } finally {
    await second.stop();
  }

  // A new id: the old key is deleted, the root account keeps its vaults.
  const third = await start('NEWROOT', 'secret-three');
  try {
    assert.deepEqual(third.server.rootKey, { kind: 'configured', accessKeyId: 'NEWROOT', created: true, updated: false, retired: ['ROOTID'] });
    assertError(await third.client.withKey('ROOTID', 'secret-two').get('/vaults'), 403, 'InvalidAccessKeyId');
    assert.equal((await third.client.get(`/vaults/${vault}`)).status, 200);
    const listed = await runCli(['keys', 'list', '--metadata', metadataUri]);
    assert.deepEqual(listed.stdout.trim().split('\n').map((l) => l.split('\t').slice(0, 2)), [['NEWROOT', 'root']]);

    // keys rotate: a new secret for another account's key, printed once; the old one stops working.
    const created = await runCli(['keys', 'create', '--metadata', metadataUri]);
    assert.equal(created.code, 0, created.stderr);
    const id = /AccessKeyId: (\S+)/.exec(created.stdout)![1]!;
    const oldSecret = /AccessKeySecret: (\S+)/.exec(created.stdout)![1]!;
    const user = third.client.withKey(id, oldSecret);
    const userVault = await user.vaultId('users-own');
    const rotated = await runCli(['keys', 'rotate', id, '--metadata', metadataUri]);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.equal(/AccessKeyId: (\S+)/.exec(rotated.stdout)![1], id);
    const newSecret = /AccessKeySecret: (\S+)/.exec(rotated.stdout)![1]!;
    assert.match(newSecret, /^[A-Za-z0-9]{40}$/);
    assert.notEqual(newSecret, oldSecret);
    assertError(await user.get('/vaults'), 403, 'SignatureDoesNotMatch');
    assert.equal((await third.client.withKey(id, newSecret).get(`/vaults/${userVault}`)).status, 200);

    const missing = await runCli(['keys', 'rotate', 'NOSUCHKEY', '--metadata', metadataUri]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no key NOSUCHKEY/);
    // The root key can be rotated too, with a warning that the environment wins at the next start.
    const root = await runCli(['keys', 'rotate', 'NEWROOT', '--metadata', metadataUri]);
    assert.equal(root.code, 0, root.stderr);
    assert.match(root.stderr, /OAS_ROOT_ACCESS_KEY_ID/);
    assertError(await third.client.get('/vaults'), 403, 'SignatureDoesNotMatch');

    // Another account's key cannot become the root key.
    await assert.rejects(start(id, 'whatever'), /another account's key/);
  } finally {
    await third.stop();
  }
}

test('root key rotation and keys rotate on SQLite', async () => {
  const dataDir = await tempDir();
  try {
    await rotation(`sqlite:${join(dataDir, 'meta.sqlite')}`, dataDir);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('root key rotation and keys rotate on PostgreSQL', async () => {
  const dataDir = await tempDir();
  try {
    cluster ??= startPostgres();
    const url = await (await cluster).createDatabase(`rotation_${process.pid}`);
    await rotation(url, dataDir);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
