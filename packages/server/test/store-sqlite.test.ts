// The SQLite metadata store: the shared contract, plus what only a file-backed SQLite has
// (pragmas, migrations, real concurrency between connections in different threads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { newId } from '@oas/sdk';
import { SqliteMetadataStore, openSqliteStore } from '../src/store/meta/sqlite.js';
import { MIGRATIONS } from '../src/store/meta/sqlite-schema.js';
import { metadataStoreContract } from './store-contract.js';

async function tempFile(): Promise<{ file: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'oas-sqlite-'));
  return { file: join(dir, 'meta.db'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

metadataStoreContract('sqlite', async () => {
  const { file, cleanup } = await tempFile();
  return { store: await openSqliteStore(file), cleanup, reopen: () => openSqliteStore(file) };
});

test('sqlite: WAL, synchronous FULL, foreign keys, busy timeout', async () => {
  const { file, cleanup } = await tempFile();
  const store = (await openSqliteStore(file)) as SqliteMetadataStore;
  try {
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(store.db.pragma('synchronous', { simple: true }), 2);
    assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
    assert.ok(Number(store.db.pragma('busy_timeout', { simple: true })) >= 1000);
  } finally {
    await store.close();
    await cleanup();
  }
});

test('sqlite: migrations are recorded once, however often the file is opened', async () => {
  const { file, cleanup } = await tempFile();
  try {
    const stores = await Promise.all([openSqliteStore(file), openSqliteStore(file)]);
    const third = (await openSqliteStore(file)) as SqliteMetadataStore;
    const rows = third.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[];
    assert.deepEqual(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
    for (const s of [...stores, third]) await s.close();
  } finally {
    await cleanup();
  }
});

test('sqlite: a file from a newer schema is refused', async () => {
  const { file, cleanup } = await tempFile();
  try {
    await (await openSqliteStore(file)).close();
    const db = new Database(file);
    db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(9999, 0);
    db.close();
    await assert.rejects(openSqliteStore(file), /newer/);
  } finally {
    await cleanup();
  }
});

test('sqlite: listings and the job queue use their indexes', async () => {
  const { file, cleanup } = await tempFile();
  const store = (await openSqliteStore(file)) as SqliteMetadataStore;
  try {
    const plan = (sql: string) => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[])
      .map((r) => r.detail).join(' | ');
    const queries: Array<[string, RegExp]> = [
      ["SELECT * FROM vaults WHERE account_id = 'a' AND id >= '' ORDER BY id LIMIT 11", /vaults_account_id/],
      ["SELECT * FROM archives WHERE vault_id = 'v' AND deleted_at IS NULL AND id > '' AND created_at < 5 ORDER BY id LIMIT 1000", /archives_live/],
      ["SELECT * FROM uploads WHERE vault_id = 'v' AND id >= '' AND completed_at IS NULL ORDER BY id LIMIT 51", /uploads_vault/],
      ["SELECT * FROM parts WHERE upload_id = 'u' AND start_byte >= 0 ORDER BY start_byte LIMIT 51", /PRIMARY KEY|sqlite_autoindex_parts/],
      ["SELECT * FROM jobs WHERE vault_id = 'v' AND id >= '' AND (expires_at IS NULL OR expires_at > 5) ORDER BY id LIMIT 51", /jobs_vault/],
      ["SELECT id FROM jobs WHERE status = 'InProgress' AND run_after <= 5 AND (lease_until IS NULL OR lease_until <= 5) ORDER BY run_after, id LIMIT 4", /jobs_due/],
      ["SELECT 1 FROM segments WHERE blob_key = 'k'", /segments_blob/],
    ];
    for (const [sql, index] of queries) {
      const p = plan(sql);
      assert.match(p, index, sql);
      assert.doesNotMatch(p, /TEMP B-TREE/, `no sort step: ${sql}`);
    }
  } finally {
    await store.close();
    await cleanup();
  }
});

// Two threads, two connections, one file: claims really do overlap in time here, which a
// single thread (where better-sqlite3 runs each call to completion) cannot show.
test('sqlite: claimers in two threads never get the same job', async (t) => {
  const { file, cleanup } = await tempFile();
  const store = await openSqliteStore(file);
  try {
    const created = await store.createVault({
      id: newId(), accountId: newId(), name: 'queue', createdAt: 0, archiveCount: 0, sizeBytes: 0, lastWriteAt: null,
      inventoryAt: null, inventoryArchiveCount: 0, inventorySizeBytes: 0,
    }, 10);
    assert.equal(created.kind, 'created');
    const vaultId = (created as { vault: { id: string } }).vault.id;
    const total = 600;
    for (let i = 0; i < total; i++) {
      await store.createJob({
        id: newId(), vaultId, type: 'inventory-retrieval', description: '', createdAt: 0, status: 'InProgress',
        statusMessage: '', completedAt: null, archiveId: '', archiveSize: -1, archiveTreeEtag: '', treeEtag: '',
        retrievalRange: '', inventorySize: -1, ossHost: '', bucket: '', object: '', outputKey: '', runAfter: i % 5,
        expiresAt: null, leaseOwner: null, leaseUntil: null, attempts: 0, checkpoint: '',
      });
    }
    const moduleUrl = new URL('../src/store/meta/sqlite.js', import.meta.url).href;
    // The worker registers tsx itself (workers do not inherit --import hooks on Node 20).
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      (async () => {
        (await import('tsx/esm/api')).register();
        const { openSqliteStore } = await import(workerData.moduleUrl);
        const store = await openSqliteStore(workerData.file);
        // Start together (tsx start-up takes far longer than the claims themselves).
        parentPort.postMessage('ready');
        await new Promise((go) => parentPort.once('message', go));
        const ids = [];
        for (let round = 0; round <= workerData.total; round++) {
          const got = await store.claimJobs(workerData.owner, 10, 1000, 2);
          if (got.length === 0) break;
          for (const j of got) ids.push(j.id);
        }
        await store.close();
        parentPort.postMessage(ids);
      })().catch((err) => { throw err; });`;
    const start = (owner: string) => {
      const worker = new Worker(code, { eval: true, workerData: { moduleUrl, file, owner, total } });
      const ready = new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      });
      const done = ready.then(() => new Promise<string[]>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      }));
      return { worker, ready, done };
    };
    const workers = [start('w1'), start('w2')];
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.worker.postMessage('go');
    const [a, b] = await Promise.all(workers.map((w) => w.done));
    const all = [...a!, ...b!];
    assert.equal(new Set(all).size, all.length, 'no job claimed twice');
    assert.equal(all.length, total, 'every job claimed');
    t.diagnostic(`claims per thread: ${a!.length} / ${b!.length}`);
    const counts = await store.countJobsByStatus();
    assert.equal(counts.InProgress, total);
  } finally {
    await store.close();
    await cleanup();
  }
});
