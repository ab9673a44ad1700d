// The protocol's size limits (protocol.md §5), written once: the SDK plans uploads with
// them and the server enforces them (both import them from `@oas/sdk/protocol`).
import { MIB } from './etag.js';

export const GIB = 1024 * MIB;
/** Most parts one multipart upload may have. */
export const MAX_PARTS = 10_000;
/** Smallest part size. */
export const MIN_PART_SIZE = MIB;
/** Largest part the server accepts. */
export const MAX_PART_SIZE = 4 * GIB;
/** Largest archive (protocol.md §5: "40T archive", 4 GiB × 10,000 parts). */
export const MAX_ARCHIVE_SIZE = 40_000 * GIB;
/** The single-request upload limit (protocol.md §5, 6 GB; enforced as 6 GiB). */
export const MAX_SINGLE_UPLOAD = 6 * GIB;
/** Longest archive or job description, in bytes of UTF-8. */
export const MAX_DESCRIPTION_BYTES = 1024;

/** Whether `size` is a part size the service accepts: a multiple of 1 MiB from 1 MiB to 4 GiB. */
export function isValidPartSize(size: number): boolean {
  return Number.isSafeInteger(size) && size >= MIN_PART_SIZE && size <= MAX_PART_SIZE && size % MIB === 0;
}

/**
 * 1 MiB × 2^k: every part except the last is then a whole subtree, so the combined part
 * tree etags equal the tree etag of the whole data (protocol.md §3.4) and ranges verify.
 */
export function isPowerOfTwoMib(size: number): boolean {
  if (!Number.isSafeInteger(size) || size < MIB || size % MIB !== 0) return false;
  const mib = size / MIB;
  // mib can exceed 2^31, so no bit tricks.
  return Number.isInteger(Math.log2(mib)) && 2 ** Math.log2(mib) === mib;
}
