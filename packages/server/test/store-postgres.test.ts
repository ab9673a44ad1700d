// The PostgreSQL metadata store: the shared contract against a private throwaway cluster
// (a fresh database per contract test), plus what only a shared server shows: several
// stores (pools, as on several nodes) migrating, claiming, creating and deleting at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { MIB, newId } from '@oas/sdk';
import { migratePostgres, openPostgresStore, PostgresMetadataStore } from '../src/store/meta/postgres.js';
import { MIGRATIONS } from '../src/store/meta/postgres-schema.js';
import type { JobRecord, MetadataStore, PartRecord, VaultRecord } from '../src/store/meta/types.js';
import { metadataStoreContract } from './store-contract.js';
import { startPostgres, type PostgresCluster } from './helpers/postgres.js';

const T0 = 1_700_000_000_000;

// One cluster for the whole file, started on first use (the contract's tests open stores
// before any before() hook of ours could run) and stopped after every test.
let cluster: Promise<PostgresCluster> | null = null;
const getCluster = () => (cluster ??= startPostgres());
after(async () => {
  if (cluster) await (await cluster).stop();
});

let dbCounter = 0;
/** A fresh, empty database on the shared cluster. */
async function freshDb(prefix = 'db'): Promise<{ url: string; drop(): Promise<void> }> {
  const c = await getCluster();
  const name = `${prefix}_${process.pid}_${++dbCounter}`;
  const url = await c.createDatabase(name);
  return { url, drop: () => c.dropDatabase(name) };
}

metadataStoreContract('postgres', async () => {
  const { url, drop } = await freshDb('contract');
  return { store: await openPostgresStore(url, { poolSize: 4 }), cleanup: drop, reopen: () => openPostgresStore(url, { poolSize: 4 }) };
});

function vaultRec(accountId: string, name: string, over: Partial<VaultRecord> = {}): VaultRecord {
  return {
    id: newId(), accountId, name, createdAt: T0, archiveCount: 0, sizeBytes: 0, lastWriteAt: null,
    inventoryAt: null, inventoryArchiveCount: 0, inventorySizeBytes: 0, ...over,
  };
}

function jobRec(vaultId: string, over: Partial<JobRecord> = {}): JobRecord {
  return {
    id: newId(), vaultId, type: 'inventory-retrieval', description: '', createdAt: T0, status: 'InProgress',
    statusMessage: '', completedAt: null, archiveId: '', archiveSize: -1, archiveTreeEtag: '', treeEtag: '',
    retrievalRange: '', inventorySize: -1, ossHost: '', bucket: '', object: '', outputKey: '', runAfter: T0,
    expiresAt: null, leaseOwner: null, leaseUntil: null, attempts: 0, checkpoint: '', ...over,
  };
}

function partRec(uploadId: string, start: number, end: number, over: Partial<PartRecord> = {}): PartRecord {
  return { uploadId, start, end, contentEtag: newId(), treeEtag: newId(), blobKey: newId(), createdAt: T0, ...over };
}

async function newVault(store: MetadataStore): Promise<VaultRecord> {
  const r = await store.createVault(vaultRec(newId(), 'v-' + newId().toLowerCase()), 10);
  assert.equal(r.kind, 'created');
  return (r as { vault: VaultRecord }).vault;
}

/** Runs `fn` with `n` stores (separate pools, like separate nodes) on one fresh database. */
async function withStores(n: number, fn: (stores: MetadataStore[], url: string) => Promise<void>, poolSize = 4): Promise<void> {
  const { url, drop } = await freshDb('pg');
  const stores: MetadataStore[] = [];
  try {
    for (let i = 0; i < n; i++) stores.push(await openPostgresStore(url, { poolSize }));
    await fn(stores, url);
  } finally {
    for (const s of stores) await s.close();
    await drop();
  }
}

async function query<R extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

describe('postgres-specific', () => {
  before(async () => { await getCluster(); });

  test('postgres: migrations run once when many stores open a fresh database at once', async () => {
    const { url, drop } = await freshDb('migrate');
    const stores: MetadataStore[] = [];
    try {
      // Eight "nodes" starting together, plus the migrate command, all on an empty database.
      const opened = await Promise.all([
        ...Array.from({ length: 8 }, () => openPostgresStore(url, { poolSize: 1 })),
        migratePostgres(url),
      ]);
      const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
      assert.equal(opened.pop(), latest, 'migratePostgres returns the schema version');
      stores.push(...(opened as MetadataStore[]));
      const rows = await query<{ version: number }>(url, 'SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
      // Every store works on the one schema.
      const v = await newVault(stores[3]!);
      for (const s of stores) assert.equal((await s.getVault(v.accountId, v.id))?.id, v.id);
      assert.equal(await migratePostgres(url), latest, 'migrating again is a no-op');
      // No migration lock is left behind.
      const locks = await query<{ n: number }>(url, `SELECT COUNT(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
      assert.equal(locks[0]!.n, 0);
    } finally {
      for (const s of stores) await s.close();
      await drop();
    }
  });

  test('postgres: a database from a newer schema is refused', async () => {
    const { url, drop } = await freshDb('newer');
    try {
      await (await openPostgresStore(url)).close();
      await query(url, 'INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)');
      await assert.rejects(openPostgresStore(url), /newer/);
      await assert.rejects(migratePostgres(url), /newer/);
    } finally {
      await drop();
    }
  });

  test('postgres: claimers on two pools never get the same job, over many rounds', () => withStores(2, async ([a, b]) => {
    const v = await newVault(a!);
    const rounds = 25;
    const perRound = 40;
    let total = 0;
    for (let round = 0; round < rounds; round++) {
      const now = T0 + round * 10_000;
      const jobs = Array.from({ length: perRound }, (_, i) => jobRec(v.id, { runAfter: now - (i % 5) }));
      for (const j of jobs) await a!.createJob(j);
      total += jobs.length;
      const seen = new Map<string, string>();
      const claimer = async (s: MetadataStore, owner: string) => {
        for (let i = 0; i <= perRound; i++) { // bounded: a broken claim must fail, not spin
          const got = await s.claimJobs(owner, now, now + 5000, 3);
          if (got.length === 0) return;
          for (const j of got) {
            assert.equal(seen.get(j.id), undefined, `round ${round}: job ${j.id} claimed by ${seen.get(j.id)} and ${owner}`);
            seen.set(j.id, owner);
            assert.deepEqual([j.leaseOwner, j.leaseUntil, j.attempts], [owner, now + 5000, 1]);
          }
        }
        assert.fail('claims never ran out');
      };
      // Four claimers per pool, all at once: more claimers than connections, so claims
      // overlap in the server rather than queueing in one pool.
      await Promise.all(['a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'b3', 'b4']
        .map((owner) => claimer(owner.startsWith('a') ? a! : b!, owner)));
      assert.equal(seen.size, perRound, `round ${round}: every job claimed`);
      // Finish this round's jobs so the next round starts with an empty queue.
      for (const [id, owner] of seen) {
        assert.equal(await (owner.startsWith('a') ? a! : b!).finishJob(id, owner, {
          status: 'Succeeded', completedAt: now, expiresAt: now + 1,
        }), true);
      }
    }
    assert.deepEqual(await b!.countJobsByStatus(), { InProgress: 0, Succeeded: total, Failed: 0 });
  }));

  test('postgres: an expired lease lets another node claim; the old owner is locked out', () => withStores(2, async ([a, b]) => {
    const v = await newVault(a!);
    const job = jobRec(v.id);
    await a!.createJob(job);
    const [mine] = await a!.claimJobs('node-a', T0, T0 + 100, 5);
    assert.equal(mine!.id, job.id);
    assert.equal(await a!.saveCheckpoint(job.id, 'node-a', '{"step":1}'), true);
    assert.deepEqual(await b!.claimJobs('node-b', T0 + 99, T0 + 1000, 5), [], 'lease still held');

    const [taken] = await b!.claimJobs('node-b', T0 + 100, T0 + 1000, 5);
    assert.deepEqual([taken!.id, taken!.leaseOwner, taken!.leaseUntil, taken!.attempts, taken!.checkpoint],
      [job.id, 'node-b', T0 + 1000, 2, '{"step":1}'], 'taken over with the checkpoint');
    assert.equal(await a!.renewLease(job.id, 'node-a', T0 + 2000), false);
    assert.equal(await a!.saveCheckpoint(job.id, 'node-a', '{"step":2}'), false);
    assert.equal(await a!.finishJob(job.id, 'node-a', { status: 'Failed' }), false);
    assert.equal(await b!.finishJob(job.id, 'node-b', { status: 'Succeeded', completedAt: T0 + 500 }), true);
    const done = await a!.getJob(v.id, job.id, T0);
    assert.deepEqual([done!.status, done!.checkpoint, done!.leaseOwner, done!.attempts], ['Succeeded', '{"step":1}', null, 2]);
  }));

  test('postgres: createVault keeps maxVaults and unique names under concurrent creators', () => withStores(3, async (stores) => {
    for (let round = 0; round < 10; round++) {
      const acct = newId();
      // Nine distinct names at once, limit 4: exactly four are created.
      const results = await Promise.all(Array.from({ length: 9 }, (_, i) =>
        stores[i % 3]!.createVault(vaultRec(acct, `n${i}`), 4)));
      assert.equal(results.filter((r) => r.kind === 'created').length, 4, `round ${round}`);
      assert.equal(results.filter((r) => r.kind === 'limit').length, 5);
      assert.equal((await stores[0]!.listVaults(acct, null, 100)).items.length, 4);
      // One name six times at once: one creation, five answers with that same vault.
      const other = newId();
      const same = await Promise.all(Array.from({ length: 6 }, (_, i) =>
        stores[i % 3]!.createVault(vaultRec(other, 'same'), 4)));
      const created = same.filter((r) => r.kind === 'created');
      assert.equal(created.length, 1);
      const id = (created[0] as { vault: VaultRecord }).vault.id;
      for (const r of same) assert.equal((r as { vault: VaultRecord }).vault.id, id);
    }
  }));

  test('postgres: deleteVault racing an archive insert never leaves an orphan', () => withStores(2, async ([a, b]) => {
    for (let round = 0; round < 20; round++) {
      const v = await newVault(a!);
      const archive = {
        id: newId(), vaultId: v.id, description: '', size: 5, treeEtag: newId(), createdAt: T0, deletedAt: null,
      };
      const [del, ins] = await Promise.allSettled([
        b!.deleteVault(v.accountId, v.id),
        a!.insertArchive(archive, [{ blobKey: newId(), size: 5 }]),
      ]);
      assert.equal(del.status, 'fulfilled');
      if (del.status === 'fulfilled' && del.value === 'deleted') {
        assert.equal(ins.status, 'rejected', `round ${round}: insert into a deleted vault must fail`);
        assert.equal(await a!.getArchiveAnyState(archive.id), null);
      } else {
        assert.equal(del.status === 'fulfilled' && del.value, 'not-empty');
        assert.equal(ins.status, 'fulfilled');
        assert.equal((await a!.getVault(v.accountId, v.id))!.archiveCount, 1);
      }
    }
  }));

  test('postgres: concurrent putPart of one range reports each replaced blob exactly once', () => withStores(2, async ([a, b]) => {
    const v = await newVault(a!);
    for (let round = 0; round < 20; round++) {
      const upload = {
        id: newId(), vaultId: v.id, description: '', partSize: MIB, createdAt: T0, archiveId: null, completedAt: null,
        archiveSize: null, archiveTreeEtag: null,
      };
      await a!.createUpload(upload);
      const p1 = partRec(upload.id, 0, MIB - 1);
      const p2 = partRec(upload.id, 0, MIB - 1);
      const [r1, r2] = await Promise.all([a!.putPart(p1), b!.putPart(p2)]);
      const replaced = [r1, r2].map((r) => (r as { replaced: PartRecord | null }).replaced);
      const [kept] = await a!.allParts(upload.id);
      const lost = kept!.blobKey === p1.blobKey ? p2 : p1;
      assert.deepEqual(replaced.filter((r) => r !== null), [lost], `round ${round}: the overwritten part, once`);
      assert.equal(await a!.isBlobReferenced(lost.blobKey), false);
    }
  }));

  test('postgres: data and exact numbers survive a reopen (BIGINT sizes past 2^32)', async () => {
    const { url, drop } = await freshDb('reopen');
    try {
      const first = await openPostgresStore(url);
      const v = await newVault(first);
      const big = 5 * 1024 ** 4 + 123; // 5 TiB and change
      const archive = {
        id: newId(), vaultId: v.id, description: 'caf\u00e9 \u5f52\u6863 \u{1F4E6}', size: big, treeEtag: newId(),
        createdAt: T0, deletedAt: null,
      };
      const segments = [{ blobKey: newId(), size: big - 1 }, { blobKey: newId(), size: 1 }];
      await first.insertArchive(archive, segments);
      const upload = {
        id: newId(), vaultId: v.id, description: 'mp', partSize: 4 * 1024 ** 3, createdAt: T0 + 1, archiveId: null,
        completedAt: null, archiveSize: null, archiveTreeEtag: null,
      };
      await first.createUpload(upload);
      const part = partRec(upload.id, 4 * 1024 ** 3, 8 * 1024 ** 3 - 1);
      await first.putPart(part);
      const job = jobRec(v.id, {
        type: 'archive-retrieval', archiveId: archive.id, archiveSize: big, retrievalRange: `0-${big - 1}`,
        runAfter: T0 + 7, checkpoint: '{"at":1}',
      });
      await first.createJob(job);
      const acct = { id: newId(), accessKeyId: 'AK' + newId(), accessKeySecret: 's\u00e9cret', createdAt: T0 };
      await first.createAccount(acct);
      await first.close();

      const second = await openPostgresStore(url);
      try {
        const vault = await second.getVault(v.accountId, v.id);
        assert.deepEqual(vault, { ...v, archiveCount: 1, sizeBytes: big, lastWriteAt: T0 });
        assert.equal(typeof vault!.sizeBytes, 'number');
        assert.deepEqual(await second.getArchive(v.id, archive.id), archive);
        assert.deepEqual(await second.getSegments(archive.id), segments);
        assert.deepEqual(await second.getUpload(v.id, upload.id), upload);
        assert.deepEqual(await second.allParts(upload.id), [part]);
        assert.deepEqual(await second.getJob(v.id, job.id, T0), job);
        assert.deepEqual(await second.getAccountByKeyId(acct.accessKeyId), acct);
        assert.deepEqual(await second.countJobsByStatus(), { InProgress: 1, Succeeded: 0, Failed: 0 });
        const rows = await query<{ n: number }>(url, 'SELECT COUNT(*)::int AS n FROM schema_migrations');
        assert.equal(rows[0]!.n, MIGRATIONS.length, 'reopening did not migrate again');
      } finally {
        await second.close();
      }
    } finally {
      await drop();
    }
  });

  test('postgres: a BIGINT beyond the safe integer range is an error, not a rounded number', () => withStores(1, async ([s], url) => {
    const v = await newVault(s!);
    await query(url, 'UPDATE vaults SET size_bytes = 9007199254740993 WHERE id = $1', [v.id]);
    await assert.rejects(s!.getVault(v.accountId, v.id), RangeError);
  }));

  test('postgres: listings, the job queue and blob lookups can use their indexes', () => withStores(1, async ([s]) => {
    const pool = (s as PostgresMetadataStore).pool;
    const client = await pool.connect();
    try {
      // Empty tables: make the planner show what it can use rather than what is cheapest.
      await client.query('SET enable_seqscan = off');
      const plan = async (sql: string) =>
        (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`)).rows.map((r) => r['QUERY PLAN']).join(' | ');
      const queries: Array<[string, RegExp]> = [
        ["SELECT * FROM vaults WHERE account_id = 'a' AND id >= '' ORDER BY id LIMIT 11", /vaults_account_id/],
        ["SELECT * FROM archives WHERE vault_id = 'v' AND deleted_at IS NULL AND id > '' AND created_at < 5 ORDER BY id LIMIT 1000", /archives_live/],
        ["SELECT * FROM uploads WHERE vault_id = 'v' AND id >= '' AND completed_at IS NULL ORDER BY id LIMIT 51", /uploads_vault/],
        ["SELECT * FROM parts WHERE upload_id = 'u' AND start_byte >= 0 ORDER BY start_byte LIMIT 51", /parts_pkey/],
        ["SELECT * FROM jobs WHERE vault_id = 'v' AND id >= '' AND (expires_at IS NULL OR expires_at > 5) ORDER BY id LIMIT 51", /jobs_vault/],
        ["SELECT id FROM jobs WHERE status = 'InProgress' AND run_after <= 5 AND (lease_until IS NULL OR lease_until <= 5) ORDER BY run_after, id LIMIT 4", /jobs_due/],
        ["SELECT 1 FROM segments WHERE blob_key = 'k'", /segments_blob/],
        ["SELECT 1 FROM parts WHERE blob_key = 'k'", /parts_blob/],
        ["SELECT 1 FROM jobs WHERE output_key = 'k'", /jobs_output/],
      ];
      for (const [sql, index] of queries) {
        const p = await plan(sql);
        assert.match(p, index, sql);
        assert.doesNotMatch(p, /\bSort\b/, `no sort step: ${sql}`);
      }
    } finally {
      client.release();
    }
  }));
});
