// Key rotation on both metadata stores: a changed root key in the environment replaces the
// stored one (the old one stops working, the account and its vaults stay), and
// `oas-server keys rotate` gives any key a new secret.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { assertError } from './helpers/assert.js';
import { runCli, spawnCli } from './helpers/cli.js';
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

/** Starts `oas-server` with a root key from the environment, waits until it listens, stops it; returns its output. */
async function serveOnce(dataDir: string, id: string, secret: string): Promise<string> {
  const child = spawnCli(['--port', '0', '--data-dir', dataDir], { OAS_ROOT_ACCESS_KEY_ID: id, OAS_ROOT_ACCESS_KEY_SECRET: secret });
  try {
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes('"url"')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.on('close', () => reject(new Error(`server exited: ${out}`)));
    });
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    return out;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

test('the server logs a root key rotation from the environment', async () => {
  const dataDir = await tempDir();
  try {
    assert.doesNotMatch(await serveOnce(dataDir, 'LOGROOT', 'first-secret'), /root key rotated/);
    const out = await serveOnce(dataDir, 'LOGROOT2', 'second-secret');
    const line = out.split('\n').find((l) => l.includes('root key rotated'));
    assert.ok(line, out);
    const entry = JSON.parse(line);
    assert.equal(entry.level, 40);
    assert.equal(entry.accessKeyId, 'LOGROOT2');
    assert.deepEqual(entry.retiredKeys, ['LOGROOT']);
    assert.doesNotMatch(line, /second-secret|first-secret/);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
