// `oas-server keys create --aws`: an AWS-shaped key (AKIA + 16 base32 characters, a
// 40-character secret) that signs Glacier requests; `keys rotate` keeps the id and the
// secret's shape; --aws with another keys command is bad usage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { ListVaultsCommand } from '@aws-sdk/client-glacier';
import { generateKeyPair } from '../src/service/accounts.js';
import { runCli } from './helpers/cli.js';
import { glacierJsClient } from './helpers/glacier-clients.js';
import { startServer, tempDir } from './helpers/server.js';

const AWS_ID = /^AKIA[A-Z2-7]{16}$/;
const SECRET = /^[A-Za-z0-9]{40}$/;

function keyOf(stdout: string): { id: string; secret: string } {
  const id = /AccessKeyId: (\S+)/.exec(stdout)?.[1];
  const secret = /AccessKeySecret: (\S+)/.exec(stdout)?.[1];
  assert.ok(id && secret, stdout);
  return { id, secret };
}

test('generated key shapes', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const aws = generateKeyPair('aws');
    assert.match(aws.accessKeyId, AWS_ID);
    assert.match(aws.accessKeySecret, SECRET);
    ids.add(aws.accessKeyId);
    const oas = generateKeyPair();
    assert.match(oas.accessKeyId, /^OAS[A-Z0-9]{17}$/);
    assert.match(oas.accessKeySecret, SECRET);
  }
  assert.equal(ids.size, 200, 'random ids');
});

test('keys create --aws makes a key that signs Glacier requests; rotate keeps its shape', { timeout: 60_000 }, async () => {
  const dataDir = await tempDir();
  try {
    const created = await runCli(['keys', 'create', '--aws', '--data-dir', dataDir]);
    assert.equal(created.code, 0, created.stderr);
    const key = keyOf(created.stdout);
    assert.match(key.id, AWS_ID);
    assert.match(key.secret, SECRET);
    const list = await runCli(['keys', 'list', '--data-dir', dataDir]);
    assert.match(list.stdout, new RegExp(`^${key.id}\\t[0-9A-F]{32}\\t\\d{12}\\t`, 'm'));

    const rotated = await runCli(['keys', 'rotate', key.id, '--data-dir', dataDir]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const next = keyOf(rotated.stdout);
    assert.equal(next.id, key.id);
    assert.match(next.secret, SECRET);
    assert.notEqual(next.secret, key.secret);

    const bad = await runCli(['keys', 'list', '--aws', '--data-dir', dataDir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--aws goes with keys create only/);

    const t = await startServer({ dataDir });
    const glacier = glacierJsClient({ port: t.port, accessKeyId: next.id, secretAccessKey: next.secret });
    const stale = glacierJsClient({ port: t.port, accessKeyId: key.id, secretAccessKey: key.secret });
    try {
      assert.deepEqual((await glacier.send(new ListVaultsCommand({ accountId: '-' }))).VaultList, []);
      await assert.rejects(stale.send(new ListVaultsCommand({ accountId: '-' })), { name: 'InvalidSignatureException' });
    } finally {
      glacier.destroy();
      stale.destroy();
      await t.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
