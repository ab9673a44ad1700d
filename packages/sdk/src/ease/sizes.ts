// Part and piece sizes (protocol.md §5, §3.5) and splitting a size into inclusive ranges.
import { MIB } from '../protocol/etag.js';
import { MAX_ARCHIVE_SIZE, MAX_PARTS, isPowerOfTwoMib, isValidPartSize } from '../protocol/limits.js';
import type { ByteRange } from '../protocol/ranges.js';

export { GIB, MAX_PARTS, MAX_ARCHIVE_SIZE, MAX_PART_SIZE, MAX_SINGLE_UPLOAD, isPowerOfTwoMib, isValidPartSize } from '../protocol/limits.js';
export const DEFAULT_PART_SIZE = 64 * MIB;
/** At or below this, uploadArchive sends one request instead of a multipart upload. */
export const DEFAULT_SINGLE_UPLOAD_THRESHOLD = 64 * MIB;
/** Most pieces a download is split into, and their default size (protocol.md §3.5). */
export const MAX_PIECES = 10_000;
export const DEFAULT_PIECE_SIZE = 32 * MIB;

export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1 && value % 1024 === 0) {
    value /= 1024;
    unit++;
  }
  return `${value} ${units[unit]}`;
}

function checkSize(what: string, size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`${what} must be a non-negative integer, got ${size}`);
}

/**
 * The part size for an archive of `size` bytes: `requested` if given (a multiple of 1 MiB
 * from 1 MiB to 4 GiB needing at most 10,000 parts), otherwise 64 MiB doubled until
 * 10,000 parts suffice. Sizes of 1 MiB × 2^k make every part a whole subtree of the
 * archive's tree (protocol.md §3.4); other multiples of 1 MiB (e.g. 96 MiB) work as well, the
 * uploader then builds the archive's tree etag from the parts' leaf hashes.
 * `size` undefined (a stream of unknown length) gives the requested or default size.
 */
export function calcPartSize(size: number | undefined, requested?: number): number {
  if (size !== undefined) {
    checkSize('archive size', size);
    if (size > MAX_ARCHIVE_SIZE) {
      throw new RangeError(`archive of ${size} bytes is larger than the ${formatSize(MAX_ARCHIVE_SIZE)} limit (10,000 parts of 4 GiB)`);
    }
  }
  if (requested !== undefined) {
    if (!isValidPartSize(requested)) {
      throw new RangeError(`part size must be a multiple of 1 MiB from 1 MiB to 4 GiB (e.g. 32M, 64M, 96M), got ${requested}`);
    }
    if (size !== undefined && Math.ceil(size / requested) > MAX_PARTS) {
      throw new RangeError(`part size ${formatSize(requested)} would need ${Math.ceil(size / requested)} parts for ${size} bytes; ` +
        `at most ${MAX_PARTS} are allowed (use ${formatSize(calcPartSize(size))} or more)`);
    }
    return requested;
  }
  let partSize = DEFAULT_PART_SIZE;
  if (size !== undefined) while (Math.ceil(size / partSize) > MAX_PARTS) partSize *= 2;
  return partSize;
}

/**
 * The download piece size for `size` bytes of job output: `requested` if given (1 MiB × 2^k,
 * so piece tree etags combine into the job's TreeEtag), else 32 MiB doubled until there
 * are at most 10,000 pieces.
 */
export function calcPieceSize(size: number, requested?: number): number {
  checkSize('output size', size);
  if (requested !== undefined) {
    if (!isPowerOfTwoMib(requested)) throw new RangeError(`piece size must be 1 MiB × 2^k, got ${requested}`);
    return requested;
  }
  let pieceSize = DEFAULT_PIECE_SIZE;
  while (Math.ceil(size / pieceSize) > MAX_PIECES) pieceSize *= 2;
  return pieceSize;
}

/** Inclusive ranges of `chunk` bytes covering `offset … offset + size − 1`; the last may be shorter. */
export function splitRanges(size: number, chunk: number, offset = 0): ByteRange[] {
  checkSize('size', size);
  if (!Number.isSafeInteger(chunk) || chunk <= 0) throw new RangeError(`chunk size must be a positive integer, got ${chunk}`);
  const out: ByteRange[] = [];
  for (let start = 0; start < size; start += chunk) {
    out.push({ start: offset + start, end: offset + Math.min(start + chunk, size) - 1 });
  }
  return out;
}

/** Bytes in an inclusive range. */
export function rangeLength({ start, end }: ByteRange): number {
  return end - start + 1;
}
