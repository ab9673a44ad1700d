// --key-cache: found keys are reused for the TTL, unknown keys never are, 0 asks the
// metadata store every time. Real SQLite store with a test clock, then a real server.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { keyLookup } from '../src/service/accounts.js';
import { openSqliteStore } from '../src/store/meta/sqlite.js';
import type { MetadataStore } from '../src/store/meta/types.js';
import { assertError } from './helpers/assert.js';
import { runCli } from './helpers/cli.js';
import { Client } from './helpers/client.js';
import { ManualClock } from './helpers/clock.js';
import { startServer, tempDir } from './helpers/server.js';

let dir: string;
let meta: MetadataStore;
before(async () => {
  dir = await tempDir('oas-key-cache-');
  meta = await openSqliteStore(join(dir, 'meta.sqlite'));
});
after(async () => {
  await meta.close();
  await rm(dir, { recursive: true, force: true });
});

const account = (n: number) => ({ id: String(n).padStart(32, '0'), accessKeyId: `KEY${n}`, accessKeySecret: `secret-${n}`, createdAt: 0 });

test('a found key is reused until the TTL ends, then looked up again', async () => {
  let clock = 1_000;
  const lookup = keyLookup(meta, 2_000, () => clock);
  await meta.createAccount(account(1));
  assert.equal((await lookup('KEY1'))?.accessKeySecret, 'secret-1');
  await meta.deleteAccountByKeyId('KEY1');
  clock += 1_999;
  assert.equal((await lookup('KEY1'))?.accessKeySecret, 'secret-1', 'still cached within the TTL');
  clock += 1;
  assert.equal(await lookup('KEY1'), null, 'refused once the TTL is over');
});

test('an unknown key is not cached: a key created next is found at once', async () => {
  const lookup = keyLookup(meta, 60_000, () => 0);
  assert.equal(await lookup('KEY2'), null);
  await meta.createAccount(account(2));
  assert.equal((await lookup('KEY2'))?.id, account(2).id);
});

test('TTL 0 (the default) asks the store every time', async () => {
  const lookup = keyLookup(meta, 0);
  await meta.createAccount(account(3));
  assert.equal((await lookup('KEY3'))?.accessKeyId, 'KEY3');
  await meta.deleteAccountByKeyId('KEY3');
  assert.equal(await lookup('KEY3'), null);
});

test('server with --key-cache: a key deleted by `keys delete` is refused once the TTL has passed', async () => {
  const clock = new ManualClock();
  const t = await startServer({ keyCacheMs: 1_000, clock });
  try {
    const out = await runCli(['keys', 'create', '--data-dir', t.dataDir]);
    assert.equal(out.code, 0, out.stderr);
    const id = /AccessKeyId: (\S+)/.exec(out.stdout)![1]!;
    const secret = /AccessKeySecret: (\S+)/.exec(out.stdout)![1]!;
    const other = new Client(t.port, id, secret);
    assert.equal((await other.get('/vaults')).status, 200);
    assert.equal((await runCli(['keys', 'delete', id, '--data-dir', t.dataDir])).code, 0);
    clock.advance(999);
    assert.equal((await other.get('/vaults')).status, 200, 'still cached within the TTL');
    clock.advance(1);
    assertError(await other.get('/vaults'), 403, 'InvalidAccessKeyId');
  } finally {
    await t.close();
  }
});
