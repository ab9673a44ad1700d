// Versioned schema of the PostgreSQL metadata store. Migrations are append-only: never edit
// a shipped one, add the next number. The same tables as the SQLite store, with:
// - BIGINT for every size, offset, counter and millisecond time (parsed back to numbers,
//   see postgres.ts), INTEGER where SQLite's values are small (attempts, seq);
// - COLLATE "C" on every text key that is paged or compared with >= / >, so ordering is
//   byte-wise like SQLite's BINARY whatever the database's default collation is.
// Several nodes may start against one fresh database at once: migrate() holds a
// session-level advisory lock for the whole run, so exactly one of them applies each
// migration and the others wait, then find it recorded.
import type { ClientBase } from 'pg';
import pg from 'pg';

export interface Migration {
  version: number;
  sql: string;
}

/** Advisory lock keys (two-int form): [OAS namespace, purpose]. */
export const LOCK_NAMESPACE = 0x0a5_0a5;
export const LOCK_MIGRATE = 1;
export const LOCK_CREATE_VAULT = 2;
export const LOCK_PURGE = 3;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE account_keys (
  access_key_id     TEXT COLLATE "C" PRIMARY KEY,
  account_id        TEXT COLLATE "C" NOT NULL,
  access_key_secret TEXT NOT NULL,
  created_at        BIGINT NOT NULL
);
CREATE INDEX account_keys_account ON account_keys (account_id);

CREATE TABLE vaults (
  id                      TEXT COLLATE "C" PRIMARY KEY,
  account_id              TEXT COLLATE "C" NOT NULL,
  name                    TEXT COLLATE "C" NOT NULL,
  created_at              BIGINT NOT NULL,
  archive_count           BIGINT NOT NULL DEFAULT 0,
  size_bytes              BIGINT NOT NULL DEFAULT 0,
  last_write_at           BIGINT,
  inventory_at            BIGINT,
  inventory_archive_count BIGINT NOT NULL DEFAULT 0,
  inventory_size_bytes    BIGINT NOT NULL DEFAULT 0,
  UNIQUE (account_id, name)
);
CREATE UNIQUE INDEX vaults_account_id ON vaults (account_id, id);

-- No foreign key to vaults: a deleted vault's soft-deleted archives (and the jobs still
-- reading them) outlive it until purge.
CREATE TABLE archives (
  id          TEXT COLLATE "C" PRIMARY KEY,
  vault_id    TEXT COLLATE "C" NOT NULL,
  description TEXT NOT NULL,
  size        BIGINT NOT NULL,
  tree_etag   TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  deleted_at  BIGINT
);
CREATE INDEX archives_live ON archives (vault_id, id) WHERE deleted_at IS NULL;
CREATE INDEX archives_deleted ON archives (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE segments (
  archive_id TEXT COLLATE "C" NOT NULL REFERENCES archives (id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  blob_key   TEXT COLLATE "C" NOT NULL,
  size       BIGINT NOT NULL,
  PRIMARY KEY (archive_id, seq)
);
CREATE INDEX segments_blob ON segments (blob_key);

CREATE TABLE uploads (
  id                TEXT COLLATE "C" PRIMARY KEY,
  vault_id          TEXT COLLATE "C" NOT NULL,
  description       TEXT NOT NULL,
  part_size         BIGINT NOT NULL,
  created_at        BIGINT NOT NULL,
  archive_id        TEXT COLLATE "C",
  completed_at      BIGINT,
  archive_size      BIGINT,
  archive_tree_etag TEXT
);
CREATE INDEX uploads_vault ON uploads (vault_id, id);
CREATE INDEX uploads_completed ON uploads (completed_at) WHERE completed_at IS NOT NULL;

CREATE TABLE parts (
  upload_id    TEXT COLLATE "C" NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
  start_byte   BIGINT NOT NULL,
  end_byte     BIGINT NOT NULL,
  content_etag TEXT NOT NULL,
  tree_etag    TEXT NOT NULL,
  blob_key     TEXT COLLATE "C" NOT NULL,
  created_at   BIGINT NOT NULL,
  PRIMARY KEY (upload_id, start_byte)
);
CREATE INDEX parts_blob ON parts (blob_key);

CREATE TABLE jobs (
  id                TEXT COLLATE "C" PRIMARY KEY,
  vault_id          TEXT COLLATE "C" NOT NULL,
  type              TEXT NOT NULL CHECK (type IN
                      ('archive-retrieval', 'inventory-retrieval', 'pull-from-oss', 'push-to-oss')),
  description       TEXT NOT NULL,
  created_at        BIGINT NOT NULL,
  status            TEXT NOT NULL CHECK (status IN ('InProgress', 'Succeeded', 'Failed')),
  status_message    TEXT NOT NULL,
  completed_at      BIGINT,
  archive_id        TEXT COLLATE "C" NOT NULL,
  archive_size      BIGINT NOT NULL,
  archive_tree_etag TEXT NOT NULL,
  tree_etag         TEXT NOT NULL,
  retrieval_range   TEXT NOT NULL,
  inventory_size    BIGINT NOT NULL,
  oss_host          TEXT NOT NULL,
  bucket            TEXT NOT NULL,
  object            TEXT NOT NULL,
  output_key        TEXT COLLATE "C" NOT NULL,
  run_after         BIGINT NOT NULL,
  expires_at        BIGINT,
  lease_owner       TEXT,
  lease_until       BIGINT,
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
  archive_id  TEXT COLLATE "C" PRIMARY KEY REFERENCES archives (id) ON DELETE CASCADE,
  verified_at BIGINT NOT NULL DEFAULT 0,
  damage      TEXT,
  lease_owner TEXT,
  lease_until BIGINT
);
CREATE INDEX archive_scrub_due ON archive_scrub (verified_at, archive_id);
CREATE INDEX archive_scrub_damaged ON archive_scrub (archive_id) WHERE damage IS NOT NULL;
`,
  },
  {
    version: 3,
    sql: `
-- Glacier side operations (postgres-settings.ts): vault tags, per-vault settings (notification
-- configuration, access policy) and per-account settings (data-retrieval policy), values as
-- JSON text. A vault's rows go with it.
CREATE TABLE vault_tags (
  vault_id  TEXT COLLATE "C" NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
  tag_key   TEXT COLLATE "C" NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (vault_id, tag_key)
);
CREATE TABLE vault_settings (
  vault_id TEXT COLLATE "C" NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
  name     TEXT COLLATE "C" NOT NULL,
  value    TEXT NOT NULL,
  PRIMARY KEY (vault_id, name)
);
CREATE TABLE account_settings (
  account_id TEXT COLLATE "C" NOT NULL,
  name       TEXT COLLATE "C" NOT NULL,
  value      TEXT NOT NULL,
  PRIMARY KEY (account_id, name)
);
`,
  },
];

/**
 * Applies every migration not yet recorded, in order, on this connection, under the
 * migration advisory lock. Returns the resulting version. Refuses a database written by a
 * newer server.
 */
export async function migrateClient(client: ClientBase, migrations: readonly Migration[] = MIGRATIONS): Promise<number> {
  await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_NAMESPACE, LOCK_MIGRATE]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      applied_at BIGINT NOT NULL
    )`);
    const newest = async () =>
      (await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')).rows[0]?.v ?? 0;
    const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
    const current = await newest();
    if (current > known) {
      throw new Error(`metadata schema version ${current} is newer than this server understands (${known})`);
    }
    for (const m of migrations) {
      // Each migration commits together with its schema_migrations row (DDL is transactional
      // in PostgreSQL): a crash mid-way leaves the previous version, never half of one.
      await client.query('BEGIN');
      try {
        const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
        if (done.rowCount === 0) {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [m.version, Date.now()]);
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    }
    return await newest();
  } finally {
    // Released explicitly; a dropped connection releases it too.
    await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, LOCK_MIGRATE]).catch(() => {});
  }
}

/** Migrates the database at `url` on a connection of its own (`oas-server migrate`). */
export async function migratePostgres(url: string, migrations: readonly Migration[] = MIGRATIONS): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await migrateClient(client, migrations);
  } finally {
    await client.end();
  }
}
