// Store failures that a later attempt may not meet: the network to an S3 service or to
// PostgreSQL, a service that is busy or restarting, a process out of file descriptors.
// Damaged data, a missing object, a full disk or a refused request are not: repeating
// them changes nothing (isStorageFull answers the full disk first).
import { isTransientNetworkError } from '@oas/sdk/protocol';
import { anyCause } from './error-causes.js';

/** HTTP statuses of an S3 service that is overloaded, restarting or behind a failing proxy. */
const S3_STATUSES = new Set([429, 500, 502, 503, 504]);
/** S3 error codes (the AWS SDK's `name`) of the same, and its own request timeout. */
const S3_NAMES = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'TimeoutError']);
/** PostgreSQL SQLSTATEs: too many connections, shutting down, serialization failure, deadlock. */
const POSTGRES_CODES = new Set(['53300', '57P01', '57P02', '57P03', '40001', '40P01']);
/** Out of file descriptors, or a resource busy for a moment. */
const ERRNO_CODES = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY']);

function isTransientItself(e: object): boolean {
  if (isTransientNetworkError(e)) return true;
  const { code, name, $metadata } = e as { code?: unknown; name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  if (typeof code === 'string') {
    // PostgreSQL's connection exceptions are class 08.
    if (ERRNO_CODES.has(code) || POSTGRES_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (typeof name === 'string' && S3_NAMES.has(name)) return true;
  return typeof $metadata?.httpStatusCode === 'number' && S3_STATUSES.has($metadata.httpStatusCode);
}

/** Whether `err`, or an error it wraps, is a store failure worth another attempt later. */
export function isTransientStoreError(err: unknown): boolean {
  return anyCause(err, isTransientItself);
}
