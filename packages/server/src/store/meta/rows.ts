// What the SQLite and PostgreSQL metadata stores share: the same tables and columns in
// both (see the two schema files), so which column holds which record field, and the
// paging helpers, are written once here. Statements and placeholders stay per dialect.
import type { AccountRecord, ArchiveRecord, JobRecord, Page, PartRecord, UploadRecord, VaultRecord } from './types.js';

/** Rows fetched per query by iterateArchives (bounds memory for huge vaults). */
export const ARCHIVE_BATCH = 1000;
/** How long purge keeps a completed upload's row, so a repeated complete finds its archive. */
export const COMPLETED_UPLOAD_RETENTION_MS = 24 * 60 * 60 * 1000;

export function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`listing limit must be a positive integer, got ${limit}`);
}

/** Rows fetched with LIMIT limit+1: the extra row only tells where the next page starts. */
export function toPage<T>(rows: T[], limit: number, key: (row: T) => string): Page<T> {
  if (rows.length <= limit) return { items: rows, next: null };
  return { items: rows.slice(0, limit), next: key(rows[limit]!) };
}

/** Record fields and the columns that hold them. */
export type FieldColumns<R> = readonly (readonly [keyof R & string, string])[];

const ACCOUNT_FIELDS: FieldColumns<AccountRecord> = [
  ['id', 'account_id'], ['accessKeyId', 'access_key_id'], ['accessKeySecret', 'access_key_secret'], ['createdAt', 'created_at'],
];
const VAULT_FIELDS: FieldColumns<VaultRecord> = [
  ['id', 'id'], ['accountId', 'account_id'], ['name', 'name'], ['createdAt', 'created_at'], ['archiveCount', 'archive_count'],
  ['sizeBytes', 'size_bytes'], ['lastWriteAt', 'last_write_at'], ['inventoryAt', 'inventory_at'],
  ['inventoryArchiveCount', 'inventory_archive_count'], ['inventorySizeBytes', 'inventory_size_bytes'],
];
const ARCHIVE_FIELDS: FieldColumns<ArchiveRecord> = [
  ['id', 'id'], ['vaultId', 'vault_id'], ['description', 'description'], ['size', 'size'], ['treeEtag', 'tree_etag'],
  ['createdAt', 'created_at'], ['deletedAt', 'deleted_at'],
];
const UPLOAD_FIELDS: FieldColumns<UploadRecord> = [
  ['id', 'id'], ['vaultId', 'vault_id'], ['description', 'description'], ['partSize', 'part_size'], ['createdAt', 'created_at'],
  ['archiveId', 'archive_id'], ['completedAt', 'completed_at'], ['archiveSize', 'archive_size'],
  ['archiveTreeEtag', 'archive_tree_etag'],
];
const PART_FIELDS: FieldColumns<PartRecord> = [
  ['uploadId', 'upload_id'], ['start', 'start_byte'], ['end', 'end_byte'], ['contentEtag', 'content_etag'],
  ['treeEtag', 'tree_etag'], ['blobKey', 'blob_key'], ['createdAt', 'created_at'],
];
/** Job record fields and their columns; id and vault id first (the stores bind them first). */
export const JOB_FIELDS: FieldColumns<JobRecord> = [
  ['id', 'id'], ['vaultId', 'vault_id'], ['type', 'type'], ['description', 'description'], ['createdAt', 'created_at'],
  ['status', 'status'], ['statusMessage', 'status_message'], ['completedAt', 'completed_at'], ['archiveId', 'archive_id'],
  ['archiveSize', 'archive_size'], ['archiveTreeEtag', 'archive_tree_etag'], ['treeEtag', 'tree_etag'],
  ['retrievalRange', 'retrieval_range'], ['inventorySize', 'inventory_size'], ['ossHost', 'oss_host'],
  ['bucket', 'bucket'], ['object', 'object'], ['outputKey', 'output_key'], ['runAfter', 'run_after'],
  ['expiresAt', 'expires_at'], ['leaseOwner', 'lease_owner'], ['leaseUntil', 'lease_until'], ['attempts', 'attempts'],
  ['checkpoint', 'checkpoint'],
];

/**
 * A SELECT / RETURNING list with every column aliased to its record field (quoted, so the
 * case survives in both dialects), so rows come back as records.
 */
function selectList<R>(fields: FieldColumns<R>): string {
  return fields.map(([field, col]) => (field === col ? col : `${col} AS "${field}"`)).join(', ');
}

export const ACCOUNT_COLS = selectList(ACCOUNT_FIELDS);
export const VAULT_COLS = selectList(VAULT_FIELDS);
export const ARCHIVE_COLS = selectList(ARCHIVE_FIELDS);
export const UPLOAD_COLS = selectList(UPLOAD_FIELDS);
export const PART_COLS = selectList(PART_FIELDS);
export const JOB_COLS = selectList(JOB_FIELDS);
