// Vault tags, vault settings and account settings in the PostgreSQL store (migration 3), for
// the Glacier side operations. Adding tags locks the vault row first, so concurrent adds on
// several nodes count against the limit one after the other (and a concurrent DeleteVault
// waits or is waited for).
import type pg from 'pg';
import type { SettingsStore, StoredSetting, VaultTag } from './types.js';

/** A foreign-key violation: the vault was deleted between the check and the insert. */
const FK_VIOLATION = '23503';

export class PostgresSettingsRows implements SettingsStore {
  constructor(private readonly pool: pg.Pool) {}

  private async rows<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.pool.query<R>(text, values)).rows;
  }

  async listTags(vaultId: string): Promise<VaultTag[]> {
    return this.rows<VaultTag>('SELECT tag_key AS key, tag_value AS value FROM vault_tags WHERE vault_id = $1 ORDER BY tag_key', [vaultId]);
  }

  async addTags(vaultId: string, given: readonly VaultTag[], maxTags: number): Promise<'ok' | 'limit' | 'missing'> {
    // One row per key (the last value wins): an upsert may not touch a row twice.
    const tags = [...new Map(given.map((t) => [t.key, t])).values()];
    const c = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      try {
        const vault = await c.query('SELECT 1 FROM vaults WHERE id = $1 FOR UPDATE', [vaultId]);
        let outcome: 'ok' | 'limit' | 'missing' = 'ok';
        if (vault.rowCount === 0) outcome = 'missing';
        else {
          const keys = tags.map((t) => t.key);
          const { rows } = await c.query<{ total: number; kept: number }>(`SELECT COUNT(*)::int AS total,
              COUNT(*) FILTER (WHERE tag_key = ANY ($2::text[]))::int AS kept
            FROM vault_tags WHERE vault_id = $1`, [vaultId, keys]);
          const fresh = keys.length - rows[0]!.kept;
          if (rows[0]!.total + fresh > maxTags) outcome = 'limit';
          else if (tags.length > 0) {
            await c.query(`INSERT INTO vault_tags (vault_id, tag_key, tag_value)
              SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t (k, v)
              ON CONFLICT (vault_id, tag_key) DO UPDATE SET tag_value = EXCLUDED.tag_value`,
            [vaultId, keys, tags.map((t) => t.value)]);
          }
        }
        await c.query('COMMIT');
        return outcome;
      } catch (err) {
        await c.query('ROLLBACK').catch((e: Error) => { broken = e; });
        throw err;
      }
    } finally {
      c.release(broken);
    }
  }

  async removeTags(vaultId: string, keys: readonly string[]): Promise<void> {
    await this.pool.query('DELETE FROM vault_tags WHERE vault_id = $1 AND tag_key = ANY ($2::text[])', [vaultId, [...keys]]);
  }

  async vaultSetting(vaultId: string, name: string): Promise<string | null> {
    const [row] = await this.rows<{ value: string }>('SELECT value FROM vault_settings WHERE vault_id = $1 AND name = $2', [vaultId, name]);
    return row?.value ?? null;
  }

  async vaultSettings(vaultId: string): Promise<StoredSetting[]> {
    return this.rows<StoredSetting>('SELECT name, value FROM vault_settings WHERE vault_id = $1 ORDER BY name', [vaultId]);
  }

  async putVaultSetting(vaultId: string, name: string, value: string | null): Promise<boolean> {
    if (value === null) {
      await this.pool.query('DELETE FROM vault_settings WHERE vault_id = $1 AND name = $2', [vaultId, name]);
      return (await this.rows('SELECT 1 FROM vaults WHERE id = $1', [vaultId])).length > 0;
    }
    try {
      const res = await this.pool.query(`INSERT INTO vault_settings (vault_id, name, value)
        SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM vaults WHERE id = $1)
        ON CONFLICT (vault_id, name) DO UPDATE SET value = EXCLUDED.value`, [vaultId, name, value]);
      return (res.rowCount ?? 0) > 0;
    } catch (err) {
      if ((err as { code?: string }).code === FK_VIOLATION) return false;
      throw err;
    }
  }

  async accountSetting(accountId: string, name: string): Promise<string | null> {
    const [row] = await this.rows<{ value: string }>('SELECT value FROM account_settings WHERE account_id = $1 AND name = $2', [accountId, name]);
    return row?.value ?? null;
  }

  async accountSettings(accountId: string): Promise<StoredSetting[]> {
    return this.rows<StoredSetting>('SELECT name, value FROM account_settings WHERE account_id = $1 ORDER BY name', [accountId]);
  }

  async putAccountSetting(accountId: string, name: string, value: string | null): Promise<void> {
    if (value === null) await this.pool.query('DELETE FROM account_settings WHERE account_id = $1 AND name = $2', [accountId, name]);
    else {
      await this.pool.query(`INSERT INTO account_settings (account_id, name, value) VALUES ($1, $2, $3)
        ON CONFLICT (account_id, name) DO UPDATE SET value = EXCLUDED.value`, [accountId, name, value]);
    }
  }
}
