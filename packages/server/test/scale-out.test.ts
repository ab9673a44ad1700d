// Scale-out plumbing: backend options and URIs, `oas-server migrate` and `keys` on
// PostgreSQL, migrations of several nodes at once, the root key race, and the orphan
// sweep that replaces the start-up sweep when stores are shared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, parseServeArgs, resolveOptions } from '../src/config.js';
import { OrphanSweeper, startupCleanup } from '../src/maintenance.js';
import { ROOT_ACCOUNT_ID, ensureRootKey } from '../src/service/accounts.js';
import { describeMetadata, parseBlobsUri, parseMetadataUri, redactUri } from '../src/store/open.js';
import { openFileBlobStore } from '../src/store/blob/file.js';
import type { BlobStore } from '../src/store/blob/types.js';
import { migratePostgres, openPostgresStore } from '../src/store/meta/postgres.js';
import { MIGRATIONS } from '../src/store/meta/postgres-schema.js';
import { openSqliteStore } from '../src/store/meta/sqlite.js';
import { startPostgres } from './helpers/postgres.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/server.js';

const opts = resolveOptions({}, {});

test('backend options: flags, OAS_* and AWS_* environment, help', () => {
  const o = parseServeArgs(['--metadata', 'postgres://oas@db/oas', '--blobs', 's3://archive/prod', '--s3-force-path-style',
    '--pg-pool-size', '20', '--job-lease', '5s'], {
    OAS_S3_ENDPOINT: 'http://127.0.0.1:9000', AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', AWS_REGION: 'eu-west-1',
  }).options;
  assert.equal(o.metadataUri, 'postgres://oas@db/oas');
  assert.equal(o.blobsUri, 's3://archive/prod');
  assert.equal(o.s3ForcePathStyle, true);
  assert.equal(o.pgPoolSize, 20);
  assert.equal(o.jobLeaseMs, 5000);
  assert.equal(o.s3Endpoint, 'http://127.0.0.1:9000');
  assert.deepEqual([o.s3AccessKeyId, o.s3SecretAccessKey, o.s3Region], ['AK', 'SK', 'eu-west-1']);
  // OAS_* wins over AWS_*, flags over both.
  const p = parseServeArgs(['--s3-region', 'r-flag'], { OAS_S3_ACCESS_KEY_ID: 'oas', AWS_ACCESS_KEY_ID: 'aws', OAS_S3_REGION: 'r-env', OAS_S3_FORCE_PATH_STYLE: 'false' }).options;
  assert.equal(p.s3AccessKeyId, 'oas');
  assert.equal(p.s3Region, 'r-flag');
  assert.equal(p.s3ForcePathStyle, false);
  for (const [args, env] of [
    [['--pg-pool-size', '0'], {}], [['--job-lease', '100ms'], {}], [[], { OAS_S3_FORCE_PATH_STYLE: 'maybe' }], [['--s3-force-path-style=yes'], {}],
  ] as Array<[string[], NodeJS.ProcessEnv]>) {
    assert.throws(() => parseServeArgs(args, env), ConfigError, args.join(' '));
  }
});

test('metadata and blobs URIs', () => {
  assert.deepEqual(parseMetadataUri(undefined, { dataDir: '/srv/oas', pgPoolSize: 3 }), { kind: 'sqlite', path: '/srv/oas/meta.sqlite' });
  assert.deepEqual(parseMetadataUri('sqlite:/x/m.db', opts), { kind: 'sqlite', path: '/x/m.db' });
  assert.deepEqual(parseMetadataUri('sqlite:///x/m.db', opts), { kind: 'sqlite', path: '/x/m.db' });
  assert.deepEqual(parseMetadataUri('postgresql://u:pw@h:5433/d', { dataDir: '.', pgPoolSize: 7 }), { kind: 'postgres', url: 'postgresql://u:pw@h:5433/d', poolSize: 7 });
  assert.equal(describeMetadata({ kind: 'postgres', url: 'postgres://u:secret@h/d', poolSize: 1 }), 'postgres://u:***@h/d');
  assert.equal(redactUri('postgres://u@h/d'), 'postgres://u@h/d');
  for (const bad of ['mysql://h/d', 'sqlite:', 'postgres://', '/plain/path']) {
    assert.throws(() => parseMetadataUri(bad, opts), ConfigError, bad);
  }
  assert.deepEqual(parseBlobsUri(undefined, { ...opts, dataDir: '/srv/oas' }), { kind: 'file', dir: '/srv/oas/blobs' });
  assert.deepEqual(parseBlobsUri('file:/b', opts), { kind: 'file', dir: '/b' });
  const s3 = parseBlobsUri('s3://my-bucket', { ...opts, s3Prefix: 'nodes/', s3Endpoint: 'https://oss.example', s3AccessKeyId: 'a', s3SecretAccessKey: 'b' });
  assert.deepEqual(s3, {
    kind: 's3', bucket: 'my-bucket', prefix: 'nodes/', endpoint: 'https://oss.example', region: undefined,
    accessKeyId: 'a', secretAccessKey: 'b', forcePathStyle: false,
  });
  assert.equal((parseBlobsUri('s3://b-1/x/y', opts) as { prefix: string }).prefix, 'x/y/');
  assert.equal((parseBlobsUri('s3://b-1/x?region=cn&path-style=1', opts) as { region: string }).region, 'cn');
  for (const bad of ['s3://', 's3://UPPER', 's3://b-1/../x', 's3://b-1?color=red', 's3://b-1?endpoint=ftp://x', 'gs://b', 's3://b-1?path-style=maybe']) {
    assert.throws(() => parseBlobsUri(bad, opts), ConfigError, bad);
  }
  assert.throws(() => parseBlobsUri('s3://b-1', { ...opts, s3AccessKeyId: 'only-id' }), ConfigError);
  assert.throws(() => parseBlobsUri('s3://b-1/a', { ...opts, s3Prefix: 'b' }), ConfigError);
});

test('oas-server migrate and keys on PostgreSQL; several nodes migrating at once', { timeout: 120_000 }, async (t) => {
  const cluster = await startPostgres();
  t.after(() => cluster.stop());
  const url = await cluster.createDatabase('scale_cli');
  const env = { OAS_METADATA: url };
  const migrated = await runCli(['migrate'], env);
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.match(migrated.stdout, /postgres:\/\/postgres@127\.0\.0\.1:\d+\/scale_cli: schema version \d+/);
  assert.equal((await runCli(['migrate', '--metadata', url])).code, 0);
  assert.equal((await runCli(['migrate', '--help'])).code, 0);
  const created = await runCli(['keys', 'create', '--metadata', url]);
  assert.equal(created.code, 0, created.stderr);
  const id = /AccessKeyId: (\S+)/.exec(created.stdout)![1]!;
  assert.match((await runCli(['keys', 'list'], env)).stdout, new RegExp(id));
  assert.equal((await runCli(['keys', 'delete', id], env)).code, 0);
  assert.doesNotMatch((await runCli(['keys', 'list'], env)).stdout, new RegExp(id));
  const bad = await runCli(['migrate', '--metadata', 'mysql://x'], {});
  assert.equal(bad.code, 2);

  // Eight nodes open one fresh database at the same moment: one migrates, the others wait.
  const fresh = await cluster.createDatabase('scale_race');
  const results = await Promise.all([
    // Each migrate call answers the newest schema version.
    ...Array.from({ length: 4 }, async () => ((await migratePostgres(fresh)) === MIGRATIONS.at(-1)!.version ? 1 : 0)),
    ...Array.from({ length: 4 }, async () => {
      const store = await openPostgresStore(fresh, { poolSize: 2 });
      try {
        // The same root key from the environment on every node: exactly one row.
        return (await ensureRootKey(store, 'RACEKEY', 'race-secret')).kind === 'configured' ? 1 : 0;
      } finally {
        await store.close();
      }
    }),
  ]);
  assert.deepEqual(results, [1, 1, 1, 1, 1, 1, 1, 1]);
  const check = await openPostgresStore(fresh, { poolSize: 1 });
  try {
    assert.deepEqual((await check.listAccounts()).map((a) => [a.accessKeyId, a.id]), [['RACEKEY', ROOT_ACCOUNT_ID]]);
    // Nodes generating a root key at once on an empty database end with one key.
    await check.deleteAccountByKeyId('RACEKEY');
    const kinds = await Promise.all(Array.from({ length: 6 }, () => ensureRootKey(check, undefined, undefined)));
    const roots = (await check.listAccounts()).filter((a) => a.id === ROOT_ACCOUNT_ID);
    assert.equal(roots.length, 1);
    const generated = kinds.filter((k) => k.kind === 'generated');
    assert.equal(generated.length, 1);
    assert.equal(generated[0]!.kind === 'generated' && generated[0]!.account.accessKeyId, roots[0]!.accessKeyId);
  } finally {
    await check.close();
  }
});

test('shared stores: no start-up orphan sweep; the orphan sweeper deletes only what stayed unreferenced for its grace', async (t) => {
  const dir = await tempDir('oas-sweep-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const meta = await openSqliteStore(join(dir, 'meta.sqlite'));
  const blobs = await openFileBlobStore(join(dir, 'blobs'));
  t.after(async () => {
    await meta.close();
    await blobs.close();
  });
  const put = async (store: BlobStore, bytes: string) => {
    const w = await store.create();
    w.stream.end(Buffer.from(bytes));
    await new Promise((r) => w.stream.once('finish', r));
    const { createHash } = await import('node:crypto');
    await w.commit(createHash('md5').update(bytes).digest());
    return w.key;
  };
  const orphan = await put(blobs, 'nobody refers to me');
  const adopted = await put(blobs, 'referenced later');
  // Shared mode: start-up leaves the unreferenced blobs alone (another node may be about to use them).
  assert.deepEqual(await startupCleanup(meta, blobs, Date.now(), { shared: true }), { leftovers: 0, orphans: 0, purged: 0 });
  assert.notEqual(await blobs.size(orphan), null);

  const sweeper = new OrphanSweeper(meta, blobs, 60_000);
  const t0 = 1_000_000;
  assert.equal(await sweeper.sweep(t0), 0); // both marked
  // The other "node" commits its metadata for one of them.
  const vault = await meta.createVault({ id: 'A'.repeat(32), accountId: ROOT_ACCOUNT_ID, name: 'v', createdAt: 0, archiveCount: 0, sizeBytes: 0, lastWriteAt: null, inventoryAt: null, inventoryArchiveCount: 0, inventorySizeBytes: 0 }, 10);
  assert.equal(vault.kind, 'created');
  await meta.insertArchive({ id: 'B'.repeat(32), vaultId: 'A'.repeat(32), description: '', size: 16, treeEtag: 'X', createdAt: 0, deletedAt: null },
    [{ blobKey: adopted, size: 16 }]);
  assert.equal(await sweeper.sweep(t0 + 30_000), 0); // too early for the orphan
  const late = await put(blobs, 'a write that just committed');
  assert.equal(await sweeper.sweep(t0 + 60_000), 1); // the orphan, after its grace
  assert.equal(await blobs.size(orphan), null);
  assert.notEqual(await blobs.size(adopted), null);
  assert.notEqual(await blobs.size(late), null, 'a blob first seen unreferenced now is only marked');
  assert.equal(await sweeper.sweep(t0 + 130_000), 1);
  assert.equal(await blobs.size(late), null);
});
