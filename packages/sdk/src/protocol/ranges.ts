// Byte ranges on the wire: part Content-Range, job RetrievalByteRange, output Range.
import { MIB } from './tree-etag.js';

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

const DIGITS = /^\d{1,16}$/;

function span(a: string, b: string): ByteRange | null {
  if (!DIGITS.test(a) || !DIGITS.test(b)) return null;
  const start = Number(a);
  const end = Number(b);
  return Number.isSafeInteger(end) && start <= end ? { start, end } : null;
}

/** `start-end` (inclusive), as parts and RetrievalByteRange are written. */
export function formatRange({ start, end }: ByteRange): string {
  return `${start}-${end}`;
}

/** Parses `start-end`. */
export function parseRange(value: string | undefined): ByteRange | null {
  const m = value === undefined ? null : /^(\d+)-(\d+)$/.exec(value.trim());
  return m ? span(m[1]!, m[2]!) : null;
}

/** A part's Content-Range: `start-end` as the SDK sends it, or `bytes start-end/*|total`. */
export function parseContentRange(value: string | undefined): ByteRange | null {
  if (value === undefined) return null;
  const m = /^(?:bytes\s+)?(\d+)-(\d+)(?:\/(?:\*|\d+))?$/i.exec(value.trim());
  return m ? span(m[1]!, m[2]!) : null;
}

/** A `Range: bytes=start-end` header (one range, both ends given). */
export function parseRangeHeader(value: string | undefined): ByteRange | null {
  const m = value === undefined ? null : /^bytes=(\d+)-(\d+)$/i.exec(value.trim());
  return m ? span(m[1]!, m[2]!) : null;
}

/**
 * The alignment protocol.md §4.14/§4.16 requires of retrieval and output ranges: start on a MiB
 * boundary, end + 1 on a MiB boundary or at the end of the data, inside the data.
 */
export function isMibAligned({ start, end }: ByteRange, size: number): boolean {
  return start % MIB === 0 && end < size && ((end + 1) % MIB === 0 || end === size - 1);
}

/**
 * Glacier's "tree-hash aligned" (protocol.md §3.5): the range is exactly one node of the
 * archive's tree, i.e. it starts on a 2^k MiB boundary and spans 2^k MiB, or runs from
 * there to the end of the archive within that subtree.
 */
export function isTreeHashAligned({ start, end }: ByteRange, size: number): boolean {
  if (start % MIB !== 0 || end < start || end >= size) return false;
  for (let subtree = MIB; start % subtree === 0; subtree *= 2) {
    if (end + 1 === start + subtree) return true;
    if (end === size - 1 && start + subtree >= size) return true;
    if (subtree >= size) break;
  }
  return false;
}
