// The scrub rows of the SQLite store (the archive_scrub table, migration 2). A claim is one
// UPDATE statement, atomic on its own, so a server and `oas-server scrub` on the same file
// never lease one archive twice.
import type Database from 'better-sqlite3';
import { ARCHIVE_COLS } from './rows.js';
import type { ArchiveRecord, ScrubProgress, ScrubRecord, ScrubStore } from './types.js';

/** Vault filter: a JSON array of ids, or null for every vault. */
const IN_VAULTS = '(@vaults IS NULL OR a.vault_id IN (SELECT value FROM json_each(@vaults)))';
const SCRUB_COLS = 's.archive_id AS archiveId, a.vault_id AS vaultId, a.size AS size, s.verified_at AS verifiedAt, s.damage AS damage';

const vaultsParam = (vaultIds?: readonly string[]) => (vaultIds ? JSON.stringify(vaultIds) : null);

export class SqliteScrubRows implements ScrubStore {
  private readonly s;

  constructor(db: Database.Database) {
    const p = <P extends unknown[] | object = unknown[], R = unknown>(sql: string) => db.prepare<P, R>(sql);
    this.s = {
      enroll: p<[]>(`INSERT INTO archive_scrub (archive_id)
        SELECT a.id FROM archives a
        WHERE a.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM archive_scrub s WHERE s.archive_id = a.id)`),
      claim: p<[{ owner: string; now: number; leaseUntil: number; dueBefore: number; vaults: string | null }], { id: string }>(`
        UPDATE archive_scrub SET lease_owner = @owner, lease_until = @leaseUntil
        WHERE archive_id = (SELECT s.archive_id FROM archive_scrub s JOIN archives a ON a.id = s.archive_id
          WHERE s.verified_at < @dueBefore AND (s.lease_until IS NULL OR s.lease_until <= @now)
            AND a.deleted_at IS NULL AND ${IN_VAULTS}
          ORDER BY s.verified_at, s.archive_id LIMIT 1)
        RETURNING archive_id AS id`),
      archive: p<[string], ArchiveRecord>(`SELECT ${ARCHIVE_COLS} FROM archives WHERE id = ?`),
      renew: p<[number, string, string]>('UPDATE archive_scrub SET lease_until = ? WHERE archive_id = ? AND lease_owner = ?'),
      record: p<[number, string | null, string, string]>(`UPDATE archive_scrub
        SET verified_at = ?, damage = ?, lease_owner = NULL, lease_until = NULL WHERE archive_id = ? AND lease_owner = ?`),
      release: p<[string, string]>(`UPDATE archive_scrub SET lease_owner = NULL, lease_until = NULL
        WHERE archive_id = ? AND lease_owner = ?`),
      get: p<[string], ScrubRecord>(`SELECT ${SCRUB_COLS} FROM archive_scrub s JOIN archives a ON a.id = s.archive_id
        WHERE s.archive_id = ?`),
      damaged: p<[{ limit: number; vaults: string | null }], ScrubRecord>(`SELECT ${SCRUB_COLS}
        FROM archive_scrub s JOIN archives a ON a.id = s.archive_id
        WHERE s.damage IS NOT NULL AND a.deleted_at IS NULL AND ${IN_VAULTS}
        ORDER BY s.archive_id LIMIT @limit`),
      progress: p<[{ since: number; vaults: string | null }], ScrubProgress>(`SELECT
          COUNT(*) AS archives, COALESCE(SUM(a.size), 0) AS bytes,
          COALESCE(SUM(CASE WHEN s.verified_at >= @since THEN 1 ELSE 0 END), 0) AS verified,
          COALESCE(SUM(CASE WHEN s.verified_at >= @since THEN a.size ELSE 0 END), 0) AS verifiedBytes,
          COALESCE(SUM(CASE WHEN s.damage IS NOT NULL THEN 1 ELSE 0 END), 0) AS damaged,
          MIN(COALESCE(s.verified_at, 0)) AS oldestVerifiedAt
        FROM archives a LEFT JOIN archive_scrub s ON s.archive_id = a.id
        WHERE a.deleted_at IS NULL AND ${IN_VAULTS}`),
      vaultsNamed: p<[string], { id: string }>('SELECT id FROM vaults WHERE name = ? ORDER BY id'),
    };
  }

  async enroll(): Promise<number> {
    return this.s.enroll.run().changes;
  }

  async claim(owner: string, now: number, leaseUntil: number, dueBefore: number, vaultIds?: readonly string[]): Promise<ArchiveRecord | null> {
    const row = this.s.claim.get({ owner, now, leaseUntil, dueBefore, vaults: vaultsParam(vaultIds) });
    return row ? this.s.archive.get(row.id) ?? null : null;
  }

  async renew(archiveId: string, owner: string, leaseUntil: number): Promise<boolean> {
    return this.s.renew.run(leaseUntil, archiveId, owner).changes === 1;
  }

  async finish(archiveId: string, owner: string, result: { verifiedAt: number; damage: string | null } | null): Promise<boolean> {
    const run = result
      ? this.s.record.run(result.verifiedAt, result.damage, archiveId, owner)
      : this.s.release.run(archiveId, owner);
    return run.changes === 1;
  }

  async get(archiveId: string): Promise<ScrubRecord | null> {
    return this.s.get.get(archiveId) ?? null;
  }

  async damaged(limit: number, vaultIds?: readonly string[]): Promise<ScrubRecord[]> {
    return this.s.damaged.all({ limit, vaults: vaultsParam(vaultIds) });
  }

  async progress(since: number, vaultIds?: readonly string[]): Promise<ScrubProgress> {
    return this.s.progress.get({ since, vaults: vaultsParam(vaultIds) })!;
  }

  vaultIdsNamed(name: string): string[] {
    return this.s.vaultsNamed.all(name).map((r) => r.id);
  }
}
