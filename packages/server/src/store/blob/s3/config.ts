// The S3 blob store's options and limits, and how it reads the errors of S3-compatible
// services (each answers the same condition a little differently).
import { MIB } from '@oas/sdk';
import { KNOWN_LEAF_FAMILIES } from '../leaf-families.js';

/** Families other than MD5, which keep their leaves under leaves-<family>/. */
export const OTHER_FAMILIES = KNOWN_LEAF_FAMILIES.filter((f) => f.name !== 'md5').map((f) => f.name);

export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix of everything this store writes; a `/` is appended when missing. */
  prefix?: string;
  /** `http(s)://host:port` of an S3-compatible service; AWS itself when omitted. */
  endpoint?: string;
  region: string;
  /** Both or neither; without them the SDK's default credential chain is used. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** `endpoint/bucket/key` addressing (Ceph, MinIO); Aliyun OSS needs it off. */
  forcePathStyle?: boolean;
  /** Bytes per multipart part (5 MiB .. 5 GiB), default 16 MiB; also the single-PUT limit. */
  partSize?: number;
  /** Parts uploaded at once per writer, default 4. A writer holds at most queueSize + 1 parts. */
  queueSize?: number;
  /** Sockets per agent, default 64. */
  maxSockets?: number;
  /**
   * Longest wait, default 5 min, for the answer to a request (a part upload included) and,
   * on reads, for the next bytes while the consumer is waiting for them. A paused consumer
   * is never timed out. A stalled or full service (radosgw blocks writes to a full pool)
   * thus fails the operation instead of hanging it.
   */
  requestTimeoutMs?: number;
  /** How long an unfinished write must have shown no sign of life before it is removed; default 1 h. */
  leftoverAgeMs?: number;
  /** The clock the leftover rule compares service timestamps against (tests shift it). */
  now?: () => number;
}

export const DEFAULT_PART_SIZE = 16 * MIB;
export const MIN_PART_SIZE = 5 * MIB;
export const MAX_PART_SIZE = 5 * 1024 * MIB;
export const MAX_PARTS = 10_000;
export const DEFAULT_QUEUE_SIZE = 4;
export const DEFAULT_MAX_SOCKETS = 64;
export const DEFAULT_LEFTOVER_AGE_MS = 3_600_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
/** x-amz-meta-blob-size on the leaves object. */
export const SIZE_META = 'blob-size';

/** The folder of a family's leaf objects. */
export function leavesDir(family: string): string {
  return family === 'md5' ? 'leaves/' : `leaves-${family}/`;
}

export type ErrorShape = { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | null | undefined;

export function statusOf(err: unknown): number | undefined {
  return (err as ErrorShape)?.$metadata?.httpStatusCode;
}

/** A missing object (not a missing bucket or upload). HEAD answers carry no error code, only 404. */
export function isNotFound(err: unknown): boolean {
  const name = (err as ErrorShape)?.name;
  if (name === 'NoSuchKey' || name === 'NotFound') return true;
  return statusOf(err) === 404 && name !== 'NoSuchBucket' && name !== 'NoSuchUpload';
}

export function isNoSuchUpload(err: unknown): boolean {
  return (err as ErrorShape)?.name === 'NoSuchUpload';
}

export function isUnsupported(err: unknown): boolean {
  const name = (err as ErrorShape)?.name;
  const status = statusOf(err);
  return name === 'NotImplemented' || name === 'MethodNotAllowed' || status === 501 || status === 405;
}

export function isRangeNotSatisfiable(err: unknown): boolean {
  return statusOf(err) === 416 || (err as ErrorShape)?.name === 'InvalidRange';
}

/** `bytes <first>-<last>/<total>` of a 206 answer; total is undefined when the service sends `*`. */
export function parseContentRange(value: string | undefined): { first: number; total: number | undefined } | null {
  const m = value === undefined ? null : /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(value.trim());
  return m ? { first: Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) } : null;
}

export function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
  return value;
}
