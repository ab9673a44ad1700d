// "No room": the one question every store's failure is asked before it is answered as an
// internal error. A file system says ENOSPC or EDQUOT, SQLite SQLITE_FULL, PostgreSQL
// disk_full, an S3 server a quota or size error of its own; all of them mean the server,
// not the client, has to do something (protocol.md §6, StorageFull).
import { anyCause } from './error-causes.js';

/** Node's errno codes: no space on the device, or the user's quota is used up. */
const ERRNO_CODES = new Set(['ENOSPC', 'EDQUOT']);
/** better-sqlite3's code for "database or disk is full" (SQLite maps ENOSPC to it). */
const SQLITE_CODES = new Set(['SQLITE_FULL']);
/** PostgreSQL's SQLSTATE disk_full. */
const POSTGRES_CODES = new Set(['53100']);
/**
 * S3 error codes (the AWS SDK puts them in `name`): a user or bucket quota (radosgw, AWS),
 * an object larger than the backend takes, and MinIO's minimum free drive threshold and
 * bucket quota.
 */
const S3_CODES = new Set(['QuotaExceeded', 'EntityTooLarge', 'XMinioStorageFull', 'XMinioAdminBucketQuotaExceeded', 'InsufficientStorage']);
/** HTTP 507 Insufficient Storage from an S3 server, whatever its code. */
const INSUFFICIENT_STORAGE = 507;

function isFullItself(err: object): boolean {
  const e = err as { code?: unknown; name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: unknown } };
  if (typeof e.code === 'string' && (ERRNO_CODES.has(e.code) || SQLITE_CODES.has(e.code) || POSTGRES_CODES.has(e.code))) return true;
  // S3 errors: the AWS SDK's ServiceException (name and Code) with the response status.
  if (e.$metadata !== undefined) {
    if (e.$metadata.httpStatusCode === INSUFFICIENT_STORAGE) return true;
    if (typeof e.name === 'string' && S3_CODES.has(e.name)) return true;
    if (typeof e.Code === 'string' && S3_CODES.has(e.Code)) return true;
  }
  return err instanceof StorageFullError;
}

/** Whether `err`, or an error it wraps (`cause`, AggregateError), says the storage is full. */
export function isStorageFull(err: unknown): boolean {
  return anyCause(err, isFullItself);
}

/**
 * The server refuses a write because storage is (nearly) full: the free-space reserve a
 * new upload would cross (service/space.ts), or a store's own "no room" turned into words.
 */
export class StorageFullError extends Error {
  override readonly name = 'StorageFullError';
}
