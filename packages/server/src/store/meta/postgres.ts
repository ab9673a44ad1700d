// The scale-out metadata store: PostgreSQL through a `pg` pool. Several server nodes share
// one database, so, unlike SQLite (one writer at a time), transactions really do run
// concurrently here. Each read-then-write takes the row locks (or an advisory lock) that
// make it behave as if it ran alone; see the comments at each method and docs/decisions.md.
// Transactions run at READ COMMITTED; a deadlock or serialization failure is retried.
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import type {
  AccountRecord, ArchiveRecord, CompleteUploadInput, CreateVaultResult, DeleteVaultResult, JobRecord,
  JobStatus, MetadataStore, Page, PartRecord, ScrubProgress, ScrubRecord, Segment, StoredSetting, UploadRecord, VaultRecord,
  VaultTag,
} from './types.js';
import { MissingParentError, StoreInvariantError } from '../errors.js';
import { PostgresScrubRows } from './postgres-scrub.js';
import { PostgresSettingsRows } from './postgres-settings.js';
import { LOCK_CREATE_VAULT, LOCK_NAMESPACE, LOCK_PURGE, migrateClient } from './postgres-schema.js';
import {
  ACCOUNT_COLS, ARCHIVE_BATCH, ARCHIVE_COLS, COMPLETED_UPLOAD_RETENTION_MS, JOB_COLS, JOB_FIELDS, PART_COLS, UPLOAD_COLS,
  VAULT_COLS, checkLimit, toPage,
} from './rows.js';

export { migratePostgres } from './postgres-schema.js';
export { COMPLETED_UPLOAD_RETENTION_MS };

const DEFAULT_POOL_SIZE = 10;
/** Bound on opening a connection or waiting for a free one in the pool. */
const CONNECT_TIMEOUT_MS = 30_000;
/** Attempts for a transaction that PostgreSQL aborted as a deadlock or serialization failure. */
const TX_ATTEMPTS = 5;
const RETRYABLE = new Set(['40P01', '40001']);

const INT8_OID = 20;

/** BIGINT columns come back as numbers (every value we store is a safe integer). */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`BIGINT value ${text} is outside the safe integer range`);
  return n;
}

/** Per-pool type parsers, so the process-global pg.types stay untouched. */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID && format !== 'binary') return parseInt8;
    return pg.types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** Job columns in bind order ($1 = id, $2 = vault id, ...). */
const JOB_COLUMNS = JOB_FIELDS.map(([, col]) => col).join(', ');
/** `col = $n` for every column but id and vault id (rewritten by finishJob). */
const JOB_SET = JOB_FIELDS.slice(2).map(([, col], i) => `${col} = $${i + 3}`).join(', ');
const jobValues = (job: JobRecord): unknown[] => JOB_FIELDS.map(([field]) => job[field]);

export interface PostgresStoreOptions {
  /** Connections in the pool (default 10). */
  poolSize?: number;
}

export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<MetadataStore> {
  return PostgresMetadataStore.open(url, opts);
}

/** Something that runs queries: the pool (autocommit) or a client inside a transaction. */
interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export class PostgresMetadataStore implements MetadataStore {
  /** The pool, for diagnostics and tests only; the service goes through the interface. */
  readonly pool: pg.Pool;
  private closed = false;

  /** Connects, migrates (under the migration advisory lock) and returns the store. */
  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresMetadataStore> {
    const max = opts.poolSize ?? DEFAULT_POOL_SIZE;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`poolSize must be a positive integer, got ${max}`);
    const pool = new pg.Pool({
      connectionString: url, max, types: TYPES, application_name: 'oas-server',
      // Fail rather than hang when the server is unreachable or the pool stays exhausted.
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    // An idle connection that breaks (server restart, network) is dropped by the pool; the
    // event must have a listener or it would crash the process.
    pool.on('error', () => {});
    try {
      const client = await pool.connect();
      try {
        await migrateClient(client);
      } finally {
        // Closed, not reused: whatever happened, no session-level migration lock can stay
        // behind on a pooled connection and block other nodes.
        client.release(true);
      }
      return new PostgresMetadataStore(pool);
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
  }

  readonly scrub: PostgresScrubRows;
  readonly settings: PostgresSettingsRows;

  constructor(pool: pg.Pool) {
    this.pool = pool;
    this.scrub = new PostgresScrubRows(pool);
    this.settings = new PostgresSettingsRows(pool);
  }

  private async rows<R extends QueryResultRow>(text: string, values: unknown[] = [], q: Queryable = this.pool): Promise<R[]> {
    return (await q.query<R>(text, values)).rows;
  }

  private async one<R extends QueryResultRow>(text: string, values: unknown[] = [], q: Queryable = this.pool): Promise<R | null> {
    return (await q.query<R>(text, values)).rows[0] ?? null;
  }

  private async changes(text: string, values: unknown[] = [], q: Queryable = this.pool): Promise<number> {
    return (await q.query(text, values)).rowCount ?? 0;
  }

  /**
   * Runs `fn` in one transaction on one pooled connection. An error rolls back; a deadlock
   * or serialization failure (which PostgreSQL resolves by aborting one side) runs `fn`
   * again from the start, which is safe because all its effects were rolled back.
   */
  private async tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const c = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await c.query('BEGIN');
        const result = await fn(c);
        await c.query('COMMIT');
        return result;
      } catch (err) {
        await c.query('ROLLBACK').catch((e: Error) => { broken = e; });
        const code = (err as { code?: string }).code;
        if (!(code && RETRYABLE.has(code) && attempt < TX_ATTEMPTS)) throw err;
      } finally {
        // A connection that could not even roll back is destroyed, not reused.
        c.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  // Accounts -------------------------------------------------------------------------------

  async createAccount(account: AccountRecord): Promise<void> {
    await this.pool.query(`INSERT INTO account_keys (access_key_id, account_id, access_key_secret, created_at)
      VALUES ($1, $2, $3, $4)`, [account.accessKeyId, account.id, account.accessKeySecret, account.createdAt]);
  }

  async getAccountByKeyId(accessKeyId: string): Promise<AccountRecord | null> {
    return this.one<AccountRecord>(`SELECT ${ACCOUNT_COLS} FROM account_keys WHERE access_key_id = $1`, [accessKeyId]);
  }

  async listAccounts(): Promise<AccountRecord[]> {
    return this.rows<AccountRecord>(`SELECT ${ACCOUNT_COLS} FROM account_keys ORDER BY created_at, access_key_id`);
  }

  async deleteAccountByKeyId(accessKeyId: string): Promise<boolean> {
    return (await this.changes('DELETE FROM account_keys WHERE access_key_id = $1', [accessKeyId])) > 0;
  }

  async updateAccountSecret(accessKeyId: string, accessKeySecret: string): Promise<boolean> {
    return (await this.changes('UPDATE account_keys SET access_key_secret = $1 WHERE access_key_id = $2',
      [accessKeySecret, accessKeyId])) > 0;
  }

  // Vaults ---------------------------------------------------------------------------------

  async createVault(vault: VaultRecord, maxVaults: number): Promise<CreateVaultResult> {
    return this.tx(async (c) => {
      // One creator per account at a time (any node): the name check, the count against
      // maxVaults and the insert then see every earlier creation. A hash collision between
      // two accounts only makes them wait for each other.
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_NAMESPACE + LOCK_CREATE_VAULT, vault.accountId]);
      const existing = await this.one<VaultRecord>(`SELECT ${VAULT_COLS} FROM vaults WHERE account_id = $1 AND name = $2`,
        [vault.accountId, vault.name], c);
      if (existing) return { kind: 'exists', vault: existing };
      const count = await this.one<{ n: number }>('SELECT COUNT(*) AS n FROM vaults WHERE account_id = $1', [vault.accountId], c);
      if (count!.n >= maxVaults) return { kind: 'limit' };
      const created = await this.one<VaultRecord>(`INSERT INTO vaults (id, account_id, name, created_at, archive_count,
          size_bytes, last_write_at, inventory_at, inventory_archive_count, inventory_size_bytes)
        VALUES ($1, $2, $3, $4, 0, 0, NULL, $5, $6, $7) RETURNING ${VAULT_COLS}`,
      [vault.id, vault.accountId, vault.name, vault.createdAt, vault.inventoryAt, vault.inventoryArchiveCount,
        vault.inventorySizeBytes], c);
      return { kind: 'created', vault: created! };
    });
  }

  async getVault(accountId: string, vaultId: string): Promise<VaultRecord | null> {
    return this.one<VaultRecord>(`SELECT ${VAULT_COLS} FROM vaults WHERE account_id = $1 AND id = $2`, [accountId, vaultId]);
  }

  async getVaultByName(accountId: string, name: string): Promise<VaultRecord | null> {
    return this.one<VaultRecord>(`SELECT ${VAULT_COLS} FROM vaults WHERE account_id = $1 AND name = $2`, [accountId, name]);
  }

  async listVaultsByName(accountId: string, fromName: string | null, limit: number): Promise<Page<VaultRecord>> {
    checkLimit(limit);
    const rows = await this.rows<VaultRecord>(`SELECT ${VAULT_COLS} FROM vaults
      WHERE account_id = $1 AND name >= $2 ORDER BY name LIMIT $3`, [accountId, fromName ?? '', limit + 1]);
    return toPage(rows, limit, (v) => v.name);
  }

  async listVaults(accountId: string, fromId: string | null, limit: number): Promise<Page<VaultRecord>> {
    checkLimit(limit);
    const rows = await this.rows<VaultRecord>(`SELECT ${VAULT_COLS} FROM vaults
      WHERE account_id = $1 AND id >= $2 ORDER BY id LIMIT $3`, [accountId, fromId ?? '', limit + 1]);
    return toPage(rows, limit, (v) => v.id);
  }

  async deleteVault(accountId: string, vaultId: string): Promise<DeleteVaultResult> {
    return this.tx(async (c) => {
      // FOR UPDATE waits for any transaction counting an archive in (it updates this row)
      // or creating an upload or job (they hold FOR KEY SHARE on it), and blocks new ones
      // until we commit; after the wait this reads the latest counters.
      const vault = await this.one<VaultRecord>(`SELECT ${VAULT_COLS} FROM vaults WHERE account_id = $1 AND id = $2
        FOR UPDATE`, [accountId, vaultId], c);
      if (!vault) return 'missing';
      if (vault.archiveCount > 0) return 'not-empty';
      const busy = await this.one<{ archive: boolean; upload: boolean }>(`SELECT
          EXISTS (SELECT 1 FROM archives WHERE vault_id = $1 AND deleted_at IS NULL) AS archive,
          EXISTS (SELECT 1 FROM uploads WHERE vault_id = $1 AND completed_at IS NULL) AS upload`, [vaultId], c);
      if (busy!.archive || busy!.upload) return 'not-empty';
      // Only completed uploads remain (their parts became segments); their rows go with the
      // vault. Deleted archives and jobs stay until purge releases their blobs.
      await c.query('DELETE FROM uploads WHERE vault_id = $1', [vaultId]);
      await c.query('DELETE FROM vaults WHERE id = $1', [vaultId]);
      return 'deleted';
    });
  }

  async snapshotInventories(at: number): Promise<void> {
    await this.pool.query(`UPDATE vaults SET inventory_at = $1, inventory_archive_count = archive_count,
      inventory_size_bytes = size_bytes`, [at]);
  }

  // Archives -------------------------------------------------------------------------------

  /** Counts the archive into its vault, then inserts it with its segments; call inside tx. */
  private async addArchive(c: PoolClient, archive: ArchiveRecord, segments: Segment[]): Promise<void> {
    const total = segments.reduce((sum, s) => sum + s.size, 0);
    if (total !== archive.size) {
      throw new StoreInvariantError(`archive ${archive.id}: segments hold ${total} bytes, the archive says ${archive.size}`);
    }
    // The counter update comes first: it locks the vault row, so a concurrent deleteVault
    // either waits for this transaction (then sees the archive) or has already deleted the
    // vault (then nothing is updated and we refuse, rolling back, so the caller drops its
    // blobs instead of leaving an archive nobody can list).
    const counted = await this.changes(`UPDATE vaults SET archive_count = archive_count + 1, size_bytes = size_bytes + $2,
      last_write_at = $3 WHERE id = $1`, [archive.vaultId, archive.size, archive.createdAt], c);
    if (counted !== 1) throw new MissingParentError('vault', archive.vaultId);
    await c.query(`INSERT INTO archives (id, vault_id, description, size, tree_etag, created_at, deleted_at)
      VALUES ($1, $2, $3, $4, $5, $6, NULL)`,
    [archive.id, archive.vaultId, archive.description, archive.size, archive.treeEtag, archive.createdAt]);
    if (segments.length > 0) {
      await c.query(`INSERT INTO segments (archive_id, seq, blob_key, size)
        SELECT $1, s.ord - 1, s.blob_key, s.size FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS s (blob_key, size, ord)`,
      [archive.id, segments.map((s) => s.blobKey), segments.map((s) => s.size)]);
    }
  }

  async insertArchive(archive: ArchiveRecord, segments: Segment[]): Promise<void> {
    await this.tx((c) => this.addArchive(c, archive, segments));
  }

  async getArchive(vaultId: string, archiveId: string): Promise<ArchiveRecord | null> {
    return this.one<ArchiveRecord>(`SELECT ${ARCHIVE_COLS} FROM archives
      WHERE vault_id = $1 AND id = $2 AND deleted_at IS NULL`, [vaultId, archiveId]);
  }

  async getArchiveAnyState(archiveId: string): Promise<ArchiveRecord | null> {
    return this.one<ArchiveRecord>(`SELECT ${ARCHIVE_COLS} FROM archives WHERE id = $1`, [archiveId]);
  }

  async getSegments(archiveId: string): Promise<Segment[]> {
    return this.rows<Segment>('SELECT blob_key AS "blobKey", size FROM segments WHERE archive_id = $1 ORDER BY seq', [archiveId]);
  }

  async deleteArchive(vaultId: string, archiveId: string, at: number): Promise<boolean> {
    // One statement: the row lock taken by the archive update makes a concurrent second
    // delete re-check deleted_at and match nothing, so the counters move exactly once.
    const row = await this.one<{ n: number }>(`WITH gone AS (
        UPDATE archives SET deleted_at = $3 WHERE vault_id = $1 AND id = $2 AND deleted_at IS NULL
        RETURNING vault_id, size
      ), counted AS (
        UPDATE vaults v SET archive_count = v.archive_count - 1, size_bytes = v.size_bytes - gone.size, last_write_at = $3
        FROM gone WHERE v.id = gone.vault_id
      )
      SELECT COUNT(*) AS n FROM gone`, [vaultId, archiveId, at]);
    return row!.n > 0;
  }

  async *iterateArchives(vaultId: string, createdBefore?: number): AsyncIterable<ArchiveRecord> {
    const before = createdBefore ?? Number.MAX_SAFE_INTEGER;
    let after = '';
    for (;;) {
      // Keyset pagination: each batch is its own short query (no transaction or cursor held
      // open across the caller's awaits); the cursor is the last id, so writes between
      // batches neither repeat nor skip surviving archives.
      const rows = await this.rows<ArchiveRecord>(`SELECT ${ARCHIVE_COLS} FROM archives
        WHERE vault_id = $1 AND deleted_at IS NULL AND id > $2 AND created_at < $3 ORDER BY id LIMIT $4`,
      [vaultId, after, before, ARCHIVE_BATCH]);
      for (const row of rows) yield row;
      if (rows.length < ARCHIVE_BATCH) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  // Multipart uploads ----------------------------------------------------------------------

  async createUpload(upload: UploadRecord): Promise<void> {
    // FOR KEY SHARE on the vault: a concurrent deleteVault waits for us (and then sees the
    // open upload), or has deleted the vault already (and we insert nothing).
    const n = await this.changes(`WITH v AS (SELECT id FROM vaults WHERE id = $2 FOR KEY SHARE)
      INSERT INTO uploads (id, vault_id, description, part_size, created_at, archive_id, completed_at, archive_size,
        archive_tree_etag)
      SELECT $1, v.id, $3, $4, $5, NULL, NULL, NULL, NULL FROM v`,
    [upload.id, upload.vaultId, upload.description, upload.partSize, upload.createdAt]);
    if (n !== 1) throw new MissingParentError('vault', upload.vaultId);
  }

  async getUpload(vaultId: string, uploadId: string): Promise<UploadRecord | null> {
    return this.one<UploadRecord>(`SELECT ${UPLOAD_COLS} FROM uploads WHERE vault_id = $1 AND id = $2`, [vaultId, uploadId]);
  }

  async listUploads(vaultId: string, fromId: string | null, limit: number): Promise<Page<UploadRecord>> {
    checkLimit(limit);
    const rows = await this.rows<UploadRecord>(`SELECT ${UPLOAD_COLS} FROM uploads
      WHERE vault_id = $1 AND id >= $2 AND completed_at IS NULL ORDER BY id LIMIT $3`, [vaultId, fromId ?? '', limit + 1]);
    return toPage(rows, limit, (u) => u.id);
  }

  /** Locks an open upload's row for the rest of the transaction; null if gone or completed. */
  private lockOpenUpload(c: PoolClient, uploadId: string): Promise<UploadRecord | null> {
    return this.one<UploadRecord>(`SELECT ${UPLOAD_COLS} FROM uploads WHERE id = $1 AND completed_at IS NULL FOR UPDATE`,
      [uploadId], c);
  }

  private allPartsOn(q: Queryable, uploadId: string): Promise<PartRecord[]> {
    return this.rows<PartRecord>(`SELECT ${PART_COLS} FROM parts WHERE upload_id = $1 ORDER BY start_byte`, [uploadId], q);
  }

  async putPart(part: PartRecord): Promise<{ replaced: PartRecord | null } | 'missing'> {
    return this.tx(async (c) => {
      // The upload row lock orders putPart against complete, abort and other putParts of
      // the same upload, so the part read below is the one the upsert replaces (two
      // concurrent uploads of one range each report the other's blob exactly once).
      if (!(await this.lockOpenUpload(c, part.uploadId))) return 'missing';
      const old = await this.one<PartRecord>(`SELECT ${PART_COLS} FROM parts WHERE upload_id = $1 AND start_byte = $2`,
        [part.uploadId, part.start], c);
      await c.query(`INSERT INTO parts (upload_id, start_byte, end_byte, content_etag, tree_etag, blob_key, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (upload_id, start_byte) DO UPDATE SET end_byte = excluded.end_byte,
          content_etag = excluded.content_etag, tree_etag = excluded.tree_etag, blob_key = excluded.blob_key,
          created_at = excluded.created_at`,
      [part.uploadId, part.start, part.end, part.contentEtag, part.treeEtag, part.blobKey, part.createdAt]);
      // The same blob stored again is not a replacement: its blob is still referenced.
      return { replaced: old && old.blobKey !== part.blobKey ? old : null };
    });
  }

  async listParts(uploadId: string, fromStart: number | null, limit: number): Promise<Page<PartRecord>> {
    checkLimit(limit);
    const rows = await this.rows<PartRecord>(`SELECT ${PART_COLS} FROM parts
      WHERE upload_id = $1 AND start_byte >= $2 ORDER BY start_byte LIMIT $3`, [uploadId, fromStart ?? 0, limit + 1]);
    return toPage(rows, limit, (p) => String(p.start));
  }

  async allParts(uploadId: string): Promise<PartRecord[]> {
    return this.allPartsOn(this.pool, uploadId);
  }

  async completeUpload({ upload, archive, parts }: CompleteUploadInput): Promise<'ok' | 'missing'> {
    return this.tx(async (c) => {
      const open = await this.lockOpenUpload(c, upload.id);
      if (!open || open.vaultId !== upload.vaultId) return 'missing';
      if (archive.vaultId !== upload.vaultId) throw new StoreInvariantError(`archive ${archive.id} is not in the upload's vault`);
      // The caller chose these parts from an earlier read; a part replaced since then has a
      // blob the caller is about to delete, so the archive must not be built on stale parts.
      const current = await this.allPartsOn(c, upload.id);
      const same = current.length === parts.length && current.every((p, i) =>
        p.start === parts[i]!.start && p.end === parts[i]!.end && p.blobKey === parts[i]!.blobKey);
      if (!same) throw new StoreInvariantError(`upload ${upload.id}: its parts changed during complete; read them again`);
      let next = 0;
      for (const p of parts) {
        if (p.start !== next || p.end < p.start) throw new StoreInvariantError(`upload ${upload.id}: parts are not contiguous at ${next}`);
        next = p.end + 1;
      }
      await this.addArchive(c, archive, parts.map((p) => ({ blobKey: p.blobKey, size: p.end - p.start + 1 })));
      await c.query(`UPDATE uploads SET archive_id = $2, completed_at = $3, archive_size = $4, archive_tree_etag = $5
        WHERE id = $1 AND completed_at IS NULL`,
      [upload.id, archive.id, upload.completedAt ?? archive.createdAt, archive.size, archive.treeEtag]);
      // The blobs now belong to the archive's segments: the part rows go, the bytes stay.
      await c.query('DELETE FROM parts WHERE upload_id = $1', [upload.id]);
      return 'ok';
    });
  }

  async deleteUpload(vaultId: string, uploadId: string): Promise<PartRecord[] | 'missing'> {
    return this.tx(async (c) => {
      const open = await this.lockOpenUpload(c, uploadId);
      if (!open || open.vaultId !== vaultId) return 'missing';
      const parts = await this.allPartsOn(c, uploadId);
      await c.query('DELETE FROM parts WHERE upload_id = $1', [uploadId]);
      await c.query('DELETE FROM uploads WHERE id = $1', [uploadId]);
      return parts;
    });
  }

  // Jobs -----------------------------------------------------------------------------------

  async createJob(job: JobRecord): Promise<void> {
    // $2 is the vault id; FOR KEY SHARE as in createUpload.
    const n = await this.changes(`WITH v AS (SELECT id FROM vaults WHERE id = $2 FOR KEY SHARE)
      INSERT INTO jobs (${JOB_COLUMNS})
      SELECT $1, v.id, ${JOB_FIELDS.slice(2).map((_, i) => `$${i + 3}`).join(', ')} FROM v`, jobValues(job));
    if (n !== 1) throw new MissingParentError('vault', job.vaultId);
  }

  async getJob(vaultId: string, jobId: string, now: number): Promise<JobRecord | null> {
    return this.one<JobRecord>(`SELECT ${JOB_COLS} FROM jobs
      WHERE vault_id = $1 AND id = $2 AND (expires_at IS NULL OR expires_at > $3)`, [vaultId, jobId, now]);
  }

  async listJobs(vaultId: string, fromId: string | null, limit: number, now: number): Promise<Page<JobRecord>> {
    checkLimit(limit);
    const rows = await this.rows<JobRecord>(`SELECT ${JOB_COLS} FROM jobs
      WHERE vault_id = $1 AND id >= $2 AND (expires_at IS NULL OR expires_at > $3) ORDER BY id LIMIT $4`,
    [vaultId, fromId ?? '', now, limit + 1]);
    return toPage(rows, limit, (j) => j.id);
  }

  async claimJobs(owner: string, now: number, leaseUntil: number, max: number): Promise<JobRecord[]> {
    if (max < 1) return [];
    // One statement. FOR UPDATE SKIP LOCKED: rows another claimer is leasing right now are
    // skipped instead of waited for; a row whose claim committed after our snapshot is
    // re-checked against the WHERE clause once locked (READ COMMITTED re-evaluation), sees
    // the fresh lease and drops out. So each job goes to one claimer, and claimers on
    // several nodes spread over the queue instead of queueing behind each other.
    const claimed = await this.rows<JobRecord>(`WITH picked AS (
        SELECT id AS picked_id FROM jobs
        WHERE status = 'InProgress' AND run_after <= $2 AND (lease_until IS NULL OR lease_until <= $2)
          AND (expires_at IS NULL OR expires_at > $2)
        ORDER BY run_after, id
        LIMIT $4
        FOR UPDATE SKIP LOCKED
      )
      UPDATE jobs SET lease_owner = $1, lease_until = $3, attempts = attempts + 1
      FROM picked WHERE jobs.id = picked.picked_id
      RETURNING ${JOB_COLS}`, [owner, now, leaseUntil, max]);
    // RETURNING gives no order guarantee; hand them out due-first like the pick.
    return claimed.sort((a, b) => a.runAfter - b.runAfter || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async renewLease(jobId: string, owner: string, leaseUntil: number): Promise<boolean> {
    return (await this.changes(`UPDATE jobs SET lease_until = $1
      WHERE id = $2 AND lease_owner = $3 AND status = 'InProgress'`, [leaseUntil, jobId, owner])) === 1;
  }

  async saveCheckpoint(jobId: string, owner: string, checkpoint: string): Promise<boolean> {
    return (await this.changes(`UPDATE jobs SET checkpoint = $1
      WHERE id = $2 AND lease_owner = $3 AND status = 'InProgress'`, [checkpoint, jobId, owner])) === 1;
  }

  async finishJob(jobId: string, owner: string, fields: Partial<JobRecord>): Promise<boolean> {
    return this.tx(async (c) => {
      const job = await this.one<JobRecord>(`SELECT ${JOB_COLS} FROM jobs WHERE id = $1 AND lease_owner = $2 FOR UPDATE`,
        [jobId, owner], c);
      if (!job) return false;
      const merged: JobRecord = { ...job };
      for (const [k, v] of Object.entries(fields)) {
        if (v !== undefined && k in job) (merged as unknown as Record<string, unknown>)[k] = v;
      }
      merged.id = job.id;
      merged.vaultId = job.vaultId;
      // Finishing releases the lease (a job put back to InProgress can then be claimed again
      // once due) unless the caller sets the lease fields itself.
      if (!('leaseOwner' in fields)) merged.leaseOwner = null;
      if (!('leaseUntil' in fields)) merged.leaseUntil = null;
      const ownerParam = JOB_FIELDS.length + 1;
      return (await this.changes(`UPDATE jobs SET ${JOB_SET} WHERE id = $1 AND vault_id = $2 AND lease_owner = $${ownerParam}`,
        [...jobValues(merged), owner], c)) === 1;
    });
  }

  async countJobsByStatus(): Promise<Record<JobStatus, number>> {
    const counts: Record<JobStatus, number> = { InProgress: 0, Succeeded: 0, Failed: 0 };
    for (const row of await this.rows<{ status: JobStatus; n: number }>('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status')) {
      counts[row.status] = row.n;
    }
    return counts;
  }

  // Vaults by name (the --vault option of scrub and backfill) ------------------------------

  async vaultIdsNamed(name: string): Promise<string[]> {
    return this.scrub.vaultIdsNamed(name);
  }

  // Garbage collection ---------------------------------------------------------------------

  async isBlobReferenced(blobKey: string): Promise<boolean> {
    const row = await this.one<{ r: boolean }>(`SELECT
      EXISTS (SELECT 1 FROM segments WHERE blob_key = $1)
      OR EXISTS (SELECT 1 FROM parts WHERE blob_key = $1)
      OR EXISTS (SELECT 1 FROM jobs WHERE output_key = $1) AS r`, [blobKey]);
    return row!.r;
  }

  async purge(now: number): Promise<string[]> {
    return this.tx(async (c) => {
      // One purge at a time across all nodes (each node runs maintenance on its own timer);
      // a second one waits, then finds nothing left to do.
      await c.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, LOCK_PURGE]);
      const candidates = new Set<string>();
      const expired = await this.rows<{ outputKey: string }>(`DELETE FROM jobs
        WHERE expires_at IS NOT NULL AND expires_at <= $1 RETURNING output_key AS "outputKey"`, [now], c);
      for (const job of expired) if (job.outputKey) candidates.add(job.outputKey);
      // Deleted archives that no remaining (unexpired) job reads any more; locked so that
      // the segments read and the rows deleted are the same set.
      const ids = (await this.rows<{ id: string }>(`SELECT a.id FROM archives a
        WHERE a.deleted_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.archive_id = a.id)
        ORDER BY a.id FOR UPDATE`, [], c)).map((r) => r.id);
      if (ids.length > 0) {
        const segs = await this.rows<{ blobKey: string }>(`DELETE FROM segments WHERE archive_id = ANY ($1::text[])
          RETURNING blob_key AS "blobKey"`, [ids], c);
        for (const s of segs) candidates.add(s.blobKey);
        await c.query('DELETE FROM archives WHERE id = ANY ($1::text[])', [ids]);
      }
      await c.query('DELETE FROM uploads WHERE completed_at IS NOT NULL AND completed_at <= $1',
        [now - COMPLETED_UPLOAD_RETENTION_MS]);
      if (candidates.size === 0) return [];
      // Hand out only keys nothing else still points at (never a blob still in use).
      const free = await this.rows<{ key: string }>(`SELECT k.key FROM unnest($1::text[]) WITH ORDINALITY AS k (key, ord)
        WHERE NOT EXISTS (SELECT 1 FROM segments WHERE blob_key = k.key)
          AND NOT EXISTS (SELECT 1 FROM parts WHERE blob_key = k.key)
          AND NOT EXISTS (SELECT 1 FROM jobs WHERE output_key = k.key)
        ORDER BY k.ord`, [[...candidates]], c);
      return free.map((r) => r.key);
    });
  }
}
