// Vault tags, vault settings and account settings in the SQLite store (migration 3), for the
// Glacier side operations. Adding tags is one IMMEDIATE transaction: the count against the
// limit and the writes see no other writer in between.
import type Database from 'better-sqlite3';
import type { SettingsStore, StoredSetting, VaultTag } from './types.js';

export class SqliteSettingsRows implements SettingsStore {
  private readonly s;
  private readonly addTx;

  constructor(private readonly db: Database.Database) {
    const p = <P extends unknown[] | object = unknown[], R = unknown>(sql: string) => db.prepare<P, R>(sql);
    this.s = {
      vaultExists: p<[string], { n: number }>('SELECT COUNT(*) AS n FROM vaults WHERE id = ?'),
      tags: p<[string], VaultTag>('SELECT tag_key AS key, tag_value AS value FROM vault_tags WHERE vault_id = ? ORDER BY tag_key'),
      hasTag: p<[string, string], { n: number }>('SELECT COUNT(*) AS n FROM vault_tags WHERE vault_id = ? AND tag_key = ?'),
      countTags: p<[string], { n: number }>('SELECT COUNT(*) AS n FROM vault_tags WHERE vault_id = ?'),
      putTag: p<[string, string, string]>(`INSERT INTO vault_tags (vault_id, tag_key, tag_value) VALUES (?, ?, ?)
        ON CONFLICT (vault_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value`),
      removeTag: p<[string, string]>('DELETE FROM vault_tags WHERE vault_id = ? AND tag_key = ?'),
      vaultSetting: p<[string, string], { value: string }>('SELECT value FROM vault_settings WHERE vault_id = ? AND name = ?'),
      vaultSettings: p<[string], StoredSetting>('SELECT name, value FROM vault_settings WHERE vault_id = ? ORDER BY name'),
      putVaultSetting: p<[string, string, string, string]>(`INSERT INTO vault_settings (vault_id, name, value)
        SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM vaults WHERE id = ?)
        ON CONFLICT (vault_id, name) DO UPDATE SET value = excluded.value`),
      deleteVaultSetting: p<[string, string]>('DELETE FROM vault_settings WHERE vault_id = ? AND name = ?'),
      accountSetting: p<[string, string], { value: string }>('SELECT value FROM account_settings WHERE account_id = ? AND name = ?'),
      accountSettings: p<[string], StoredSetting>('SELECT name, value FROM account_settings WHERE account_id = ? ORDER BY name'),
      putAccountSetting: p<[string, string, string]>(`INSERT INTO account_settings (account_id, name, value) VALUES (?, ?, ?)
        ON CONFLICT (account_id, name) DO UPDATE SET value = excluded.value`),
      deleteAccountSetting: p<[string, string]>('DELETE FROM account_settings WHERE account_id = ? AND name = ?'),
    };
    this.addTx = db.transaction((vaultId: string, tags: readonly VaultTag[], maxTags: number): 'ok' | 'limit' | 'missing' => {
      if (this.s.vaultExists.get(vaultId)!.n === 0) return 'missing';
      const fresh = new Set(tags.filter((t) => this.s.hasTag.get(vaultId, t.key)!.n === 0).map((t) => t.key));
      if (this.s.countTags.get(vaultId)!.n + fresh.size > maxTags) return 'limit';
      for (const t of tags) this.s.putTag.run(vaultId, t.key, t.value);
      return 'ok';
    });
  }

  async listTags(vaultId: string): Promise<VaultTag[]> {
    return this.s.tags.all(vaultId);
  }

  async addTags(vaultId: string, tags: readonly VaultTag[], maxTags: number): Promise<'ok' | 'limit' | 'missing'> {
    return this.addTx.immediate(vaultId, tags, maxTags);
  }

  async removeTags(vaultId: string, keys: readonly string[]): Promise<void> {
    this.db.transaction(() => { for (const key of keys) this.s.removeTag.run(vaultId, key); }).immediate();
  }

  async vaultSetting(vaultId: string, name: string): Promise<string | null> {
    return this.s.vaultSetting.get(vaultId, name)?.value ?? null;
  }

  async vaultSettings(vaultId: string): Promise<StoredSetting[]> {
    return this.s.vaultSettings.all(vaultId);
  }

  async putVaultSetting(vaultId: string, name: string, value: string | null): Promise<boolean> {
    if (value === null) {
      this.s.deleteVaultSetting.run(vaultId, name);
      return this.s.vaultExists.get(vaultId)!.n > 0;
    }
    return this.s.putVaultSetting.run(vaultId, name, value, vaultId).changes > 0;
  }

  async accountSetting(accountId: string, name: string): Promise<string | null> {
    return this.s.accountSetting.get(accountId, name)?.value ?? null;
  }

  async accountSettings(accountId: string): Promise<StoredSetting[]> {
    return this.s.accountSettings.all(accountId);
  }

  async putAccountSetting(accountId: string, name: string, value: string | null): Promise<void> {
    if (value === null) this.s.deleteAccountSetting.run(accountId, name);
    else this.s.putAccountSetting.run(accountId, name, value);
  }
}
