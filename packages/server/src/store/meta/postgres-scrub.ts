// The scrub rows of the PostgreSQL store (the archive_scrub table, migration 2). Claims work
// like job claims: FOR UPDATE SKIP LOCKED spreads concurrent claimers over different
// archives, and READ COMMITTED re-checks the lease once a row is locked, so each archive
// goes to one node.
import type pg from 'pg';
import { ARCHIVE_COLS } from './rows.js';
import type { ArchiveRecord, ScrubProgress, ScrubRecord, ScrubStore } from './types.js';

const SCRUB_COLS = 's.archive_id AS "archiveId", a.vault_id AS "vaultId", a.size AS size, s.verified_at AS "verifiedAt", s.damage AS damage';
/** Vault filter on parameter $n: a text array, or null for every vault. */
const inVaults = (n: number) => `($${n}::text[] IS NULL OR a.vault_id = ANY ($${n}::text[]))`;
const vaultsParam = (vaultIds?: readonly string[]) => (vaultIds ? [...vaultIds] : null);

export class PostgresScrubRows implements ScrubStore {
  constructor(private readonly pool: pg.Pool) {}

  private async rows<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.pool.query<R>(text, values)).rows;
  }

  async enroll(): Promise<number> {
    const res = await this.pool.query(`INSERT INTO archive_scrub (archive_id)
      SELECT a.id FROM archives a
      WHERE a.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM archive_scrub s WHERE s.archive_id = a.id)
      ON CONFLICT (archive_id) DO NOTHING`);
    return res.rowCount ?? 0;
  }

  async claim(owner: string, now: number, leaseUntil: number, dueBefore: number, vaultIds?: readonly string[]): Promise<ArchiveRecord | null> {
    const [row] = await this.rows<ArchiveRecord>(`WITH picked AS (
        SELECT s.archive_id FROM archive_scrub s JOIN archives a ON a.id = s.archive_id
        WHERE s.verified_at < $4 AND (s.lease_until IS NULL OR s.lease_until <= $2)
          AND a.deleted_at IS NULL AND ${inVaults(5)}
        ORDER BY s.verified_at, s.archive_id
        LIMIT 1
        FOR UPDATE OF s SKIP LOCKED
      ), leased AS (
        UPDATE archive_scrub SET lease_owner = $1, lease_until = $3
        FROM picked WHERE archive_scrub.archive_id = picked.archive_id
        RETURNING archive_scrub.archive_id
      )
      SELECT ${ARCHIVE_COLS} FROM archives WHERE id = (SELECT archive_id FROM leased)`,
    [owner, now, leaseUntil, dueBefore, vaultsParam(vaultIds)]);
    return row ?? null;
  }

  async renew(archiveId: string, owner: string, leaseUntil: number): Promise<boolean> {
    const res = await this.pool.query('UPDATE archive_scrub SET lease_until = $1 WHERE archive_id = $2 AND lease_owner = $3',
      [leaseUntil, archiveId, owner]);
    return res.rowCount === 1;
  }

  async finish(archiveId: string, owner: string, result: { verifiedAt: number; damage: string | null } | null): Promise<boolean> {
    const res = result
      ? await this.pool.query(`UPDATE archive_scrub SET verified_at = $1, damage = $2, lease_owner = NULL, lease_until = NULL
          WHERE archive_id = $3 AND lease_owner = $4`, [result.verifiedAt, result.damage, archiveId, owner])
      : await this.pool.query(`UPDATE archive_scrub SET lease_owner = NULL, lease_until = NULL
          WHERE archive_id = $1 AND lease_owner = $2`, [archiveId, owner]);
    return res.rowCount === 1;
  }

  async get(archiveId: string): Promise<ScrubRecord | null> {
    const [row] = await this.rows<ScrubRecord>(`SELECT ${SCRUB_COLS} FROM archive_scrub s JOIN archives a ON a.id = s.archive_id
      WHERE s.archive_id = $1`, [archiveId]);
    return row ?? null;
  }

  damaged(limit: number, vaultIds?: readonly string[]): Promise<ScrubRecord[]> {
    return this.rows<ScrubRecord>(`SELECT ${SCRUB_COLS} FROM archive_scrub s JOIN archives a ON a.id = s.archive_id
      WHERE s.damage IS NOT NULL AND a.deleted_at IS NULL AND ${inVaults(2)}
      ORDER BY s.archive_id LIMIT $1`, [limit, vaultsParam(vaultIds)]);
  }

  async progress(since: number, vaultIds?: readonly string[]): Promise<ScrubProgress> {
    const [row] = await this.rows<ScrubProgress>(`SELECT
        COUNT(*)::bigint AS archives, COALESCE(SUM(a.size), 0)::bigint AS bytes,
        COUNT(*) FILTER (WHERE s.verified_at >= $1)::bigint AS verified,
        COALESCE(SUM(a.size) FILTER (WHERE s.verified_at >= $1), 0)::bigint AS "verifiedBytes",
        COUNT(*) FILTER (WHERE s.damage IS NOT NULL)::bigint AS damaged,
        MIN(COALESCE(s.verified_at, 0))::bigint AS "oldestVerifiedAt"
      FROM archives a LEFT JOIN archive_scrub s ON s.archive_id = a.id
      WHERE a.deleted_at IS NULL AND ${inVaults(2)}`, [since, vaultsParam(vaultIds)]);
    return row!;
  }

  async vaultIdsNamed(name: string): Promise<string[]> {
    return (await this.rows<{ id: string }>('SELECT id FROM vaults WHERE name = $1 ORDER BY id', [name])).map((r) => r.id);
  }
}
