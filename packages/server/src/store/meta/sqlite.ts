// The embedded metadata store: one SQLite file through better-sqlite3. Every call runs
// synchronously inside the process (better-sqlite3 is blocking and fast for these small
// statements); every read-then-write runs in an IMMEDIATE transaction so that several
// connections (or processes) on the same file never interleave between read and write.
import Database from 'better-sqlite3';
import type {
  AccountRecord, ArchiveRecord, CompleteUploadInput, CreateVaultResult, DeleteVaultResult, JobRecord,
  JobStatus, MetadataStore, Page, ScrubProgress, ScrubRecord, PartRecord, Segment, StoredSetting, UploadRecord, VaultRecord,
  VaultTag,
} from './types.js';
import { MissingParentError, StoreInvariantError } from '../errors.js';
import {
  ACCOUNT_COLS, ARCHIVE_BATCH, ARCHIVE_COLS, COMPLETED_UPLOAD_RETENTION_MS, JOB_COLS, JOB_FIELDS, PART_COLS, UPLOAD_COLS,
  VAULT_COLS, checkLimit, toPage,
} from './rows.js';
import { migrate } from './sqlite-schema.js';
import { SqliteScrubRows } from './sqlite-scrub.js';
import { SqliteSettingsRows } from './sqlite-settings.js';

export { COMPLETED_UPLOAD_RETENTION_MS };

/** How long a connection waits for another one's write lock before failing. */
const BUSY_TIMEOUT_MS = 10_000;

// Named parameters are the record field names, so records bind directly.
const JOB_COLUMNS = JOB_FIELDS.map(([, col]) => col).join(', ');
/** `col = @field` for every job column but id and vault id (rewritten by rewriteJob). */
const JOB_SET = JOB_FIELDS.slice(2).map(([field, col]) => `${col} = @${field}`).join(', ');

export async function openSqliteStore(file: string): Promise<MetadataStore> {
  return SqliteMetadataStore.open(file);
}

function prepareAll(db: Database.Database) {
  const p = <P extends unknown[] | object = unknown[], R = unknown>(sql: string) => db.prepare<P, R>(sql);
  type Id = [string];
  return {
    insertKey: p<[AccountRecord]>(`INSERT INTO account_keys (access_key_id, account_id, access_key_secret, created_at)
      VALUES (@accessKeyId, @id, @accessKeySecret, @createdAt)`),
    keyById: p<Id, AccountRecord>(`SELECT ${ACCOUNT_COLS} FROM account_keys WHERE access_key_id = ?`),
    allKeys: p<[], AccountRecord>(`SELECT ${ACCOUNT_COLS} FROM account_keys ORDER BY created_at, access_key_id`),
    deleteKey: p<Id>('DELETE FROM account_keys WHERE access_key_id = ?'),
    updateSecret: p<[string, string]>('UPDATE account_keys SET access_key_secret = ? WHERE access_key_id = ?'),

    vault: p<[string, string], VaultRecord>(`SELECT ${VAULT_COLS} FROM vaults WHERE account_id = ? AND id = ?`),
    vaultByName: p<[string, string], VaultRecord>(`SELECT ${VAULT_COLS} FROM vaults WHERE account_id = ? AND name = ?`),
    vaultNamePage: p<[string, string, number], VaultRecord>(`SELECT ${VAULT_COLS} FROM vaults
      WHERE account_id = ? AND name >= ? ORDER BY name LIMIT ?`),
    vaultCount: p<Id, { n: number }>('SELECT COUNT(*) AS n FROM vaults WHERE account_id = ?'),
    vaultPage: p<[string, string, number], VaultRecord>(`SELECT ${VAULT_COLS} FROM vaults
      WHERE account_id = ? AND id >= ? ORDER BY id LIMIT ?`),
    insertVault: p<[VaultRecord]>(`INSERT INTO vaults (id, account_id, name, created_at, archive_count, size_bytes,
        last_write_at, inventory_at, inventory_archive_count, inventory_size_bytes)
      VALUES (@id, @accountId, @name, @createdAt, 0, 0, NULL, @inventoryAt, @inventoryArchiveCount, @inventorySizeBytes)`),
    hasLiveArchive: p<Id, { n: number }>(`SELECT EXISTS (SELECT 1 FROM archives WHERE vault_id = ? AND deleted_at IS NULL) AS n`),
    hasOpenUpload: p<Id, { n: number }>(`SELECT EXISTS (SELECT 1 FROM uploads WHERE vault_id = ? AND completed_at IS NULL) AS n`),
    deleteVaultUploads: p<Id>('DELETE FROM uploads WHERE vault_id = ?'),
    deleteVault: p<Id>('DELETE FROM vaults WHERE id = ?'),
    snapshot: p<[number]>(`UPDATE vaults SET inventory_at = ?, inventory_archive_count = archive_count,
      inventory_size_bytes = size_bytes`),
    countArchiveIn: p<[{ vaultId: string; size: number; at: number }]>(`UPDATE vaults
      SET archive_count = archive_count + 1, size_bytes = size_bytes + @size, last_write_at = @at WHERE id = @vaultId`),
    countArchiveOut: p<[{ vaultId: string; size: number; at: number }]>(`UPDATE vaults
      SET archive_count = archive_count - 1, size_bytes = size_bytes - @size, last_write_at = @at WHERE id = @vaultId`),

    insertArchive: p<[ArchiveRecord]>(`INSERT INTO archives (id, vault_id, description, size, tree_etag, created_at, deleted_at)
      VALUES (@id, @vaultId, @description, @size, @treeEtag, @createdAt, @deletedAt)`),
    insertSegment: p<[string, number, string, number]>(
      'INSERT INTO segments (archive_id, seq, blob_key, size) VALUES (?, ?, ?, ?)'),
    liveArchive: p<[string, string], ArchiveRecord>(`SELECT ${ARCHIVE_COLS} FROM archives
      WHERE vault_id = ? AND id = ? AND deleted_at IS NULL`),
    anyArchive: p<Id, ArchiveRecord>(`SELECT ${ARCHIVE_COLS} FROM archives WHERE id = ?`),
    segments: p<Id, Segment>('SELECT blob_key AS blobKey, size FROM segments WHERE archive_id = ? ORDER BY seq'),
    markDeleted: p<[number, string]>('UPDATE archives SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL'),
    archiveBatch: p<[string, string, number, number], ArchiveRecord>(`SELECT ${ARCHIVE_COLS} FROM archives
      WHERE vault_id = ? AND deleted_at IS NULL AND id > ? AND created_at < ? ORDER BY id LIMIT ?`),

    insertUpload: p<[UploadRecord]>(`INSERT INTO uploads (id, vault_id, description, part_size, created_at,
        archive_id, completed_at, archive_size, archive_tree_etag)
      SELECT @id, @vaultId, @description, @partSize, @createdAt, NULL, NULL, NULL, NULL
      WHERE EXISTS (SELECT 1 FROM vaults WHERE id = @vaultId)`),
    upload: p<[string, string], UploadRecord>(`SELECT ${UPLOAD_COLS} FROM uploads WHERE vault_id = ? AND id = ?`),
    openUpload: p<Id, UploadRecord>(`SELECT ${UPLOAD_COLS} FROM uploads WHERE id = ? AND completed_at IS NULL`),
    uploadPage: p<[string, string, number], UploadRecord>(`SELECT ${UPLOAD_COLS} FROM uploads
      WHERE vault_id = ? AND id >= ? AND completed_at IS NULL ORDER BY id LIMIT ?`),
    markCompleted: p<[{ id: string; archiveId: string; completedAt: number; archiveSize: number; archiveTreeEtag: string }]>(
      `UPDATE uploads SET archive_id = @archiveId, completed_at = @completedAt, archive_size = @archiveSize,
        archive_tree_etag = @archiveTreeEtag WHERE id = @id AND completed_at IS NULL`),
    deleteUpload: p<Id>('DELETE FROM uploads WHERE id = ?'),
    deleteOldUploads: p<[number]>('DELETE FROM uploads WHERE completed_at IS NOT NULL AND completed_at <= ?'),

    part: p<[string, number], PartRecord>(`SELECT ${PART_COLS} FROM parts WHERE upload_id = ? AND start_byte = ?`),
    upsertPart: p<[PartRecord]>(`INSERT INTO parts (upload_id, start_byte, end_byte, content_etag, tree_etag, blob_key, created_at)
      VALUES (@uploadId, @start, @end, @contentEtag, @treeEtag, @blobKey, @createdAt)
      ON CONFLICT (upload_id, start_byte) DO UPDATE SET end_byte = excluded.end_byte,
        content_etag = excluded.content_etag, tree_etag = excluded.tree_etag, blob_key = excluded.blob_key,
        created_at = excluded.created_at`),
    partPage: p<[string, number, number], PartRecord>(`SELECT ${PART_COLS} FROM parts
      WHERE upload_id = ? AND start_byte >= ? ORDER BY start_byte LIMIT ?`),
    allParts: p<Id, PartRecord>(`SELECT ${PART_COLS} FROM parts WHERE upload_id = ? ORDER BY start_byte`),
    deleteParts: p<Id>('DELETE FROM parts WHERE upload_id = ?'),

    insertJob: p<[JobRecord]>(`INSERT INTO jobs (${JOB_COLUMNS})
      SELECT ${JOB_FIELDS.map(([field]) => `@${field}`).join(', ')}
      WHERE EXISTS (SELECT 1 FROM vaults WHERE id = @vaultId)`),
    job: p<[string, string, number], JobRecord>(`SELECT ${JOB_COLS} FROM jobs
      WHERE vault_id = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?)`),
    leasedJob: p<[string, string], JobRecord>(`SELECT ${JOB_COLS} FROM jobs WHERE id = ? AND lease_owner = ?`),
    jobPage: p<[string, string, number, number], JobRecord>(`SELECT ${JOB_COLS} FROM jobs
      WHERE vault_id = ? AND id >= ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY id LIMIT ?`),
    // One statement picks and leases the jobs; the IMMEDIATE transaction around it keeps
    // other connections out between the pick and the update.
    claim: p<[{ owner: string; now: number; leaseUntil: number; max: number }], JobRecord>(`UPDATE jobs
      SET lease_owner = @owner, lease_until = @leaseUntil, attempts = attempts + 1
      WHERE id IN (SELECT id FROM jobs
        WHERE status = 'InProgress' AND run_after <= @now AND (lease_until IS NULL OR lease_until <= @now)
          AND (expires_at IS NULL OR expires_at > @now)
        ORDER BY run_after, id LIMIT @max)
      RETURNING ${JOB_COLS}`),
    renew: p<[number, string, string]>(`UPDATE jobs SET lease_until = ?
      WHERE id = ? AND lease_owner = ? AND status = 'InProgress'`),
    checkpoint: p<[string, string, string]>(`UPDATE jobs SET checkpoint = ?
      WHERE id = ? AND lease_owner = ? AND status = 'InProgress'`),
    rewriteJob: p<[JobRecord & { ownerCheck: string }]>(`UPDATE jobs SET ${JOB_SET}
      WHERE id = @id AND lease_owner = @ownerCheck`),
    jobCounts: p<[], { status: JobStatus; n: number }>('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status'),

    referenced: p<[{ key: string }], { r: number }>(`SELECT
      EXISTS (SELECT 1 FROM segments WHERE blob_key = @key)
      OR EXISTS (SELECT 1 FROM parts WHERE blob_key = @key)
      OR EXISTS (SELECT 1 FROM jobs WHERE output_key = @key) AS r`),
    expiredJobs: p<[number], { id: string; outputKey: string }>(`SELECT id, output_key AS outputKey FROM jobs
      WHERE expires_at IS NOT NULL AND expires_at <= ?`),
    deleteExpiredJobs: p<[number]>('DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?'),
    // Deleted archives that no remaining (unexpired) job reads any more.
    purgeableArchives: p<[], { id: string }>(`SELECT a.id FROM archives a
      WHERE a.deleted_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.archive_id = a.id)`),
    deleteSegments: p<Id>('DELETE FROM segments WHERE archive_id = ?'),
    deleteArchive: p<Id>('DELETE FROM archives WHERE id = ?'),
  };
}

export class SqliteMetadataStore implements MetadataStore {
  /** The connection, for diagnostics and tests only; the service goes through the interface. */
  readonly db: Database.Database;
  private readonly s: ReturnType<typeof prepareAll>;
  readonly scrub: SqliteScrubRows;
  readonly settings: SqliteSettingsRows;
  private readonly tx: ReturnType<SqliteMetadataStore['makeTransactions']>;
  private closed = false;

  /** Opens (creating if needed) and migrates the file. */
  static open(file: string): SqliteMetadataStore {
    const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('journal_mode = WAL');
      // FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db);
      return new SqliteMetadataStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  constructor(db: Database.Database) {
    this.db = db;
    this.s = prepareAll(db);
    this.scrub = new SqliteScrubRows(db);
    this.settings = new SqliteSettingsRows(db);
    this.tx = this.makeTransactions();
  }

  /** Transaction wrappers, built once like the statements; callers use `.immediate`. */
  private makeTransactions() {
    const t = <A extends unknown[], R>(fn: (...args: A) => R) => this.db.transaction((...args: A) => fn.apply(this, args));
    return {
      createVault: t(this.txCreateVault),
      deleteVault: t(this.txDeleteVault),
      insertArchive: t(this.addArchive),
      deleteArchive: t(this.txDeleteArchive),
      putPart: t(this.txPutPart),
      complete: t(this.txComplete),
      deleteUpload: t(this.txDeleteUpload),
      claim: t((a: { owner: string; now: number; leaseUntil: number; max: number }) => this.s.claim.all(a)),
      finishJob: t(this.txFinishJob),
      purge: t(this.txPurge),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  // Accounts -------------------------------------------------------------------------------

  async createAccount(account: AccountRecord): Promise<void> {
    this.s.insertKey.run(account);
  }

  async getAccountByKeyId(accessKeyId: string): Promise<AccountRecord | null> {
    return this.s.keyById.get(accessKeyId) ?? null;
  }

  async listAccounts(): Promise<AccountRecord[]> {
    return this.s.allKeys.all();
  }

  async deleteAccountByKeyId(accessKeyId: string): Promise<boolean> {
    return this.s.deleteKey.run(accessKeyId).changes > 0;
  }

  async updateAccountSecret(accessKeyId: string, accessKeySecret: string): Promise<boolean> {
    return this.s.updateSecret.run(accessKeySecret, accessKeyId).changes > 0;
  }

  // Vaults ---------------------------------------------------------------------------------

  private txCreateVault(vault: VaultRecord, maxVaults: number): CreateVaultResult {
    const existing = this.s.vaultByName.get(vault.accountId, vault.name);
    if (existing) return { kind: 'exists', vault: existing };
    if (this.s.vaultCount.get(vault.accountId)!.n >= maxVaults) return { kind: 'limit' };
    this.s.insertVault.run(vault);
    return { kind: 'created', vault: this.s.vault.get(vault.accountId, vault.id)! };
  }

  async createVault(vault: VaultRecord, maxVaults: number): Promise<CreateVaultResult> {
    return this.tx.createVault.immediate(vault, maxVaults);
  }

  async getVault(accountId: string, vaultId: string): Promise<VaultRecord | null> {
    return this.s.vault.get(accountId, vaultId) ?? null;
  }

  async getVaultByName(accountId: string, name: string): Promise<VaultRecord | null> {
    return this.s.vaultByName.get(accountId, name) ?? null;
  }

  async listVaultsByName(accountId: string, fromName: string | null, limit: number): Promise<Page<VaultRecord>> {
    checkLimit(limit);
    return toPage(this.s.vaultNamePage.all(accountId, fromName ?? '', limit + 1), limit, (v) => v.name);
  }

  async listVaults(accountId: string, fromId: string | null, limit: number): Promise<Page<VaultRecord>> {
    checkLimit(limit);
    return toPage(this.s.vaultPage.all(accountId, fromId ?? '', limit + 1), limit, (v) => v.id);
  }

  private txDeleteVault(accountId: string, vaultId: string): DeleteVaultResult {
    const vault = this.s.vault.get(accountId, vaultId);
    if (!vault) return 'missing';
    if (vault.archiveCount > 0 || this.s.hasLiveArchive.get(vaultId)!.n) return 'not-empty';
    if (this.s.hasOpenUpload.get(vaultId)!.n) return 'not-empty';
    // Only completed uploads remain (their parts became segments); their rows go with the
    // vault. Deleted archives and jobs stay until purge releases their blobs.
    this.s.deleteVaultUploads.run(vaultId);
    this.s.deleteVault.run(vaultId);
    return 'deleted';
  }

  async deleteVault(accountId: string, vaultId: string): Promise<DeleteVaultResult> {
    return this.tx.deleteVault.immediate(accountId, vaultId);
  }

  async snapshotInventories(at: number): Promise<void> {
    this.s.snapshot.run(at);
  }

  // Archives -------------------------------------------------------------------------------

  /** Inserts archive + segments and counts them in the vault; call inside a transaction. */
  private addArchive(archive: ArchiveRecord, segments: Segment[]): void {
    const total = segments.reduce((sum, s) => sum + s.size, 0);
    if (total !== archive.size) {
      throw new StoreInvariantError(`archive ${archive.id}: segments hold ${total} bytes, the archive says ${archive.size}`);
    }
    this.s.insertArchive.run({ ...archive, deletedAt: null });
    segments.forEach((seg, i) => this.s.insertSegment.run(archive.id, i, seg.blobKey, seg.size));
    const counted = this.s.countArchiveIn.run({ vaultId: archive.vaultId, size: archive.size, at: archive.createdAt });
    // The vault was deleted while the bytes streamed in: refuse (rolls back) so the caller
    // drops its blobs instead of leaving an archive nobody can list.
    if (counted.changes !== 1) throw new MissingParentError('vault', archive.vaultId);
  }

  async insertArchive(archive: ArchiveRecord, segments: Segment[]): Promise<void> {
    this.tx.insertArchive.immediate(archive, segments);
  }

  async getArchive(vaultId: string, archiveId: string): Promise<ArchiveRecord | null> {
    return this.s.liveArchive.get(vaultId, archiveId) ?? null;
  }

  async getArchiveAnyState(archiveId: string): Promise<ArchiveRecord | null> {
    return this.s.anyArchive.get(archiveId) ?? null;
  }

  async getSegments(archiveId: string): Promise<Segment[]> {
    return this.s.segments.all(archiveId);
  }

  private txDeleteArchive(vaultId: string, archiveId: string, at: number): boolean {
    const archive = this.s.liveArchive.get(vaultId, archiveId);
    if (!archive) return false;
    this.s.markDeleted.run(at, archiveId);
    this.s.countArchiveOut.run({ vaultId, size: archive.size, at });
    return true;
  }

  async deleteArchive(vaultId: string, archiveId: string, at: number): Promise<boolean> {
    return this.tx.deleteArchive.immediate(vaultId, archiveId, at);
  }

  async *iterateArchives(vaultId: string, createdBefore?: number): AsyncIterable<ArchiveRecord> {
    const before = createdBefore ?? Number.MAX_SAFE_INTEGER;
    let after = '';
    for (;;) {
      // Each batch is its own short read; the cursor is the last id, so writes between
      // batches neither repeat nor skip surviving archives.
      const rows = this.s.archiveBatch.all(vaultId, after, before, ARCHIVE_BATCH);
      for (const row of rows) yield row;
      if (rows.length < ARCHIVE_BATCH) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  // Multipart uploads ----------------------------------------------------------------------

  async createUpload(upload: UploadRecord): Promise<void> {
    if (this.s.insertUpload.run(upload).changes !== 1) throw new MissingParentError('vault', upload.vaultId);
  }

  async getUpload(vaultId: string, uploadId: string): Promise<UploadRecord | null> {
    return this.s.upload.get(vaultId, uploadId) ?? null;
  }

  async listUploads(vaultId: string, fromId: string | null, limit: number): Promise<Page<UploadRecord>> {
    checkLimit(limit);
    return toPage(this.s.uploadPage.all(vaultId, fromId ?? '', limit + 1), limit, (u) => u.id);
  }

  private txPutPart(part: PartRecord): { replaced: PartRecord | null } | 'missing' {
    if (!this.s.openUpload.get(part.uploadId)) return 'missing';
    const old = this.s.part.get(part.uploadId, part.start);
    this.s.upsertPart.run(part);
    // The same blob stored again is not a replacement: its blob is still referenced.
    return { replaced: old && old.blobKey !== part.blobKey ? old : null };
  }

  async putPart(part: PartRecord): Promise<{ replaced: PartRecord | null } | 'missing'> {
    return this.tx.putPart.immediate(part);
  }

  async listParts(uploadId: string, fromStart: number | null, limit: number): Promise<Page<PartRecord>> {
    checkLimit(limit);
    return toPage(this.s.partPage.all(uploadId, fromStart ?? 0, limit + 1), limit, (p) => String(p.start));
  }

  async allParts(uploadId: string): Promise<PartRecord[]> {
    return this.s.allParts.all(uploadId);
  }

  private txComplete({ upload, archive, parts }: CompleteUploadInput): 'ok' | 'missing' {
    const open = this.s.openUpload.get(upload.id);
    if (!open || open.vaultId !== upload.vaultId) return 'missing';
    if (archive.vaultId !== upload.vaultId) throw new StoreInvariantError(`archive ${archive.id} is not in the upload's vault`);
    // The caller chose these parts from an earlier read; a part replaced since then has a
    // blob the caller is about to delete, so the archive must not be built on stale parts.
    const current = this.s.allParts.all(upload.id);
    const same = current.length === parts.length && current.every((c, i) =>
      c.start === parts[i]!.start && c.end === parts[i]!.end && c.blobKey === parts[i]!.blobKey);
    if (!same) throw new StoreInvariantError(`upload ${upload.id}: its parts changed during complete; read them again`);
    let next = 0;
    for (const p of parts) {
      if (p.start !== next || p.end < p.start) throw new StoreInvariantError(`upload ${upload.id}: parts are not contiguous at ${next}`);
      next = p.end + 1;
    }
    this.addArchive(archive, parts.map((p) => ({ blobKey: p.blobKey, size: p.end - p.start + 1 })));
    this.s.markCompleted.run({
      id: upload.id,
      archiveId: archive.id,
      completedAt: upload.completedAt ?? archive.createdAt,
      archiveSize: archive.size,
      archiveTreeEtag: archive.treeEtag,
    });
    // The blobs now belong to the archive's segments: the part rows go, the bytes stay.
    this.s.deleteParts.run(upload.id);
    return 'ok';
  }

  async completeUpload(input: CompleteUploadInput): Promise<'ok' | 'missing'> {
    return this.tx.complete.immediate(input);
  }

  private txDeleteUpload(vaultId: string, uploadId: string): PartRecord[] | 'missing' {
    const open = this.s.openUpload.get(uploadId);
    if (!open || open.vaultId !== vaultId) return 'missing';
    const parts = this.s.allParts.all(uploadId);
    this.s.deleteParts.run(uploadId);
    this.s.deleteUpload.run(uploadId);
    return parts;
  }

  async deleteUpload(vaultId: string, uploadId: string): Promise<PartRecord[] | 'missing'> {
    return this.tx.deleteUpload.immediate(vaultId, uploadId);
  }

  // Jobs -----------------------------------------------------------------------------------

  async createJob(job: JobRecord): Promise<void> {
    if (this.s.insertJob.run(job).changes !== 1) throw new MissingParentError('vault', job.vaultId);
  }

  async getJob(vaultId: string, jobId: string, now: number): Promise<JobRecord | null> {
    return this.s.job.get(vaultId, jobId, now) ?? null;
  }

  async listJobs(vaultId: string, fromId: string | null, limit: number, now: number): Promise<Page<JobRecord>> {
    checkLimit(limit);
    return toPage(this.s.jobPage.all(vaultId, fromId ?? '', now, limit + 1), limit, (j) => j.id);
  }

  async claimJobs(owner: string, now: number, leaseUntil: number, max: number): Promise<JobRecord[]> {
    if (max < 1) return [];
    const claimed = this.tx.claim.immediate({ owner, now, leaseUntil, max });
    // RETURNING gives no order guarantee; hand them out due-first like the pick.
    return claimed.sort((a, b) => a.runAfter - b.runAfter || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async renewLease(jobId: string, owner: string, leaseUntil: number): Promise<boolean> {
    return this.s.renew.run(leaseUntil, jobId, owner).changes === 1;
  }

  async saveCheckpoint(jobId: string, owner: string, checkpoint: string): Promise<boolean> {
    return this.s.checkpoint.run(checkpoint, jobId, owner).changes === 1;
  }

  private txFinishJob(jobId: string, owner: string, fields: Partial<JobRecord>): boolean {
    const job = this.s.leasedJob.get(jobId, owner);
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
    return this.s.rewriteJob.run({ ...merged, ownerCheck: owner }).changes === 1;
  }

  async finishJob(jobId: string, owner: string, fields: Partial<JobRecord>): Promise<boolean> {
    return this.tx.finishJob.immediate(jobId, owner, fields);
  }

  async countJobsByStatus(): Promise<Record<JobStatus, number>> {
    const counts: Record<JobStatus, number> = { InProgress: 0, Succeeded: 0, Failed: 0 };
    for (const row of this.s.jobCounts.all()) counts[row.status] = row.n;
    return counts;
  }

  // Vaults by name (the --vault option of scrub and backfill) ------------------------------

  async vaultIdsNamed(name: string): Promise<string[]> {
    return this.scrub.vaultIdsNamed(name);
  }

  // Garbage collection ---------------------------------------------------------------------

  async isBlobReferenced(blobKey: string): Promise<boolean> {
    return this.s.referenced.get({ key: blobKey })!.r !== 0;
  }

  private txPurge(now: number): string[] {
    const candidates = new Set<string>();
    for (const job of this.s.expiredJobs.all(now)) if (job.outputKey) candidates.add(job.outputKey);
    this.s.deleteExpiredJobs.run(now);
    for (const { id } of this.s.purgeableArchives.all()) {
      for (const seg of this.s.segments.all(id)) candidates.add(seg.blobKey);
      this.s.deleteSegments.run(id);
      this.s.deleteArchive.run(id);
    }
    this.s.deleteOldUploads.run(now - COMPLETED_UPLOAD_RETENTION_MS);
    // Hand out only keys nothing else still points at (never a blob still in use).
    return [...candidates].filter((key) => this.s.referenced.get({ key })!.r === 0);
  }

  async purge(now: number): Promise<string[]> {
    return this.tx.purge.immediate(now);
  }
}
