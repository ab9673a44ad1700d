// Versioned schema of the SQLite metadata store. Migrations are append-only: never edit a
// shipped one, add the next number. Each runs in its own IMMEDIATE transaction together
// with its schema_migrations row, so two processes opening the same file at once are safe
// (the second one waits on the lock, then sees the version already applied).
import type Database from 'better-sqlite3';

export interface Migration {
  version: number;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
-- One row per access key; several keys may share an account id, so vaults do not hang
-- on a key row (deleting a key never touches the account's data).
CREATE TABLE account_keys (
  access_key_id     TEXT PRIMARY KEY,
  account_id        TEXT NOT NULL,
  access_key_secret TEXT NOT NULL,
  created_at        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX account_keys_account ON account_keys (account_id);

CREATE TABLE vaults (
  id                      TEXT PRIMARY KEY,
  account_id              TEXT NOT NULL,
  name                    TEXT NOT NULL,
  created_at              INTEGER NOT NULL,
  archive_count           INTEGER NOT NULL DEFAULT 0,
  size_bytes              INTEGER NOT NULL DEFAULT 0,
  last_write_at           INTEGER,
  inventory_at            INTEGER,
  inventory_archive_count INTEGER NOT NULL DEFAULT 0,
  inventory_size_bytes    INTEGER NOT NULL DEFAULT 0,
  UNIQUE (account_id, name)
);
CREATE UNIQUE INDEX vaults_account_id ON vaults (account_id, id);

-- No foreign key to vaults: a deleted vault's soft-deleted archives (and the jobs still
-- reading them) outlive it until purge.
CREATE TABLE archives (
  id          TEXT PRIMARY KEY,
  vault_id    TEXT NOT NULL,
  description TEXT NOT NULL,
  size        INTEGER NOT NULL,
  tree_etag   TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  deleted_at  INTEGER
);
CREATE INDEX archives_live ON archives (vault_id, id) WHERE deleted_at IS NULL;
CREATE INDEX archives_deleted ON archives (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE segments (
  archive_id TEXT NOT NULL REFERENCES archives (id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  blob_key   TEXT NOT NULL,
  size       INTEGER NOT NULL,
  PRIMARY KEY (archive_id, seq)
) WITHOUT ROWID;
CREATE INDEX segments_blob ON segments (blob_key);

CREATE TABLE uploads (
  id                TEXT PRIMARY KEY,
  vault_id          TEXT NOT NULL,
  description       TEXT NOT NULL,
  part_size         INTEGER NOT NULL,
  created_at        INTEGER NOT NULL,
  archive_id        TEXT,
  completed_at      INTEGER,
  archive_size      INTEGER,
  archive_tree_etag TEXT
);
CREATE INDEX uploads_vault ON uploads (vault_id, id);
CREATE INDEX uploads_completed ON uploads (completed_at) WHERE completed_at IS NOT NULL;

CREATE TABLE parts (
  upload_id    TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
  start_byte   INTEGER NOT NULL,
  end_byte     INTEGER NOT NULL,
  content_etag TEXT NOT NULL,
  tree_etag    TEXT NOT NULL,
  blob_key     TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (upload_id, start_byte)
) WITHOUT ROWID;
CREATE INDEX parts_blob ON parts (blob_key);

CREATE TABLE jobs (
  id                TEXT PRIMARY KEY,
  vault_id          TEXT NOT NULL,
  type              TEXT NOT NULL CHECK (type IN
                      ('archive-retrieval', 'inventory-retrieval', 'pull-from-oss', 'push-to-oss')),
  description       TEXT NOT NULL,
  created_at        INTEGER NOT NULL,
  status            TEXT NOT NULL CHECK (status IN ('InProgress', 'Succeeded', 'Failed')),
  status_message    TEXT NOT NULL,
  completed_at      INTEGER,
  archive_id        TEXT NOT NULL,
  archive_size      INTEGER NOT NULL,
  archive_tree_etag TEXT NOT NULL,
  tree_etag         TEXT NOT NULL,
  retrieval_range   TEXT NOT NULL,
  inventory_size    INTEGER NOT NULL,
  oss_host          TEXT NOT NULL,
  bucket            TEXT NOT NULL,
  object            TEXT NOT NULL,
  output_key        TEXT NOT NULL,
  run_after         INTEGER NOT NULL,
  expires_at        INTEGER,
  lease_owner       TEXT,
  lease_until       INTEGER,
  attempts          INTEGER NOT NULL DEFAULT 0,
  checkpoint        TEXT NOT NULL
);
CREATE INDEX jobs_vault ON jobs (vault_id, id);
CREATE INDEX jobs_due ON jobs (run_after, id) WHERE status = 'InProgress';
CREATE INDEX jobs_expires ON jobs (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX jobs_archive ON jobs (archive_id);
CREATE INDEX jobs_output ON jobs (output_key);
`,
  },
  {
    version: 2,
    sql: `
-- The scrubber's state per archive (scrub/): last full check (0: never), what it found
-- wrong, and the lease of the node checking it now. Purging the archive drops its row.
CREATE TABLE archive_scrub (
  archive_id  TEXT PRIMARY KEY REFERENCES archives (id) ON DELETE CASCADE,
  verified_at INTEGER NOT NULL DEFAULT 0,
  damage      TEXT,
  lease_owner TEXT,
  lease_until INTEGER
) WITHOUT ROWID;
CREATE INDEX archive_scrub_due ON archive_scrub (verified_at, archive_id);
CREATE INDEX archive_scrub_damaged ON archive_scrub (archive_id) WHERE damage IS NOT NULL;
`,
  },
  {
    version: 3,
    sql: `
-- Glacier side operations (sqlite-settings.ts): vault tags, per-vault settings (notification
-- configuration, access policy) and per-account settings (data-retrieval policy), values as
-- JSON text. A vault's rows go with it.
CREATE TABLE vault_tags (
  vault_id  TEXT NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
  tag_key   TEXT NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (vault_id, tag_key)
) WITHOUT ROWID;
CREATE TABLE vault_settings (
  vault_id TEXT NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
  name     TEXT NOT NULL,
  value    TEXT NOT NULL,
  PRIMARY KEY (vault_id, name)
) WITHOUT ROWID;
CREATE TABLE account_settings (
  account_id TEXT NOT NULL,
  name       TEXT NOT NULL,
  value      TEXT NOT NULL,
  PRIMARY KEY (account_id, name)
) WITHOUT ROWID;
`,
  },
];

/** Applies every migration not yet recorded, in order. Returns the resulting version. */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL
  )`);
  const applied = db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM schema_migrations WHERE version = ?');
  const record = db.prepare<[number, number]>('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
  const newest = db.prepare<[], { v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
  const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  const current = newest.get()?.v ?? 0;
  // A file written by a newer server: refuse rather than run on a schema we do not know.
  if (current > known) {
    throw new Error(`metadata schema version ${current} is newer than this server understands (${known})`);
  }
  for (const m of migrations) {
    db.transaction(() => {
      if (applied.get(m.version)!.n > 0) return;
      db.exec(m.sql);
      record.run(m.version, Date.now());
    }).immediate();
  }
  return newest.get()?.v ?? 0;
}
