// Reading an archive stored as an ordered list of segments (blobs): byte ranges are
// stitched across segments, and leaf digests of any MiB-aligned range come from the
// segments' stored leaves (every segment but the last is a whole number of MiB).
import { PassThrough, type Readable } from 'node:stream';
import { MIB, TreeEtagBuilder } from '@oas/sdk';
import type { BlobStore } from '../store/blob/types.js';
import type { Segment } from '../store/meta/types.js';

export interface SegmentSpan {
  segment: Segment;
  /** First archive byte of the segment. */
  offset: number;
  /** Bytes of the segment that fall in the range, inclusive, relative to the segment. */
  from: number;
  to: number;
}

/** The pieces of segments covering archive bytes start..end (inclusive). */
export function spansOf(segments: Segment[], start: number, end: number): SegmentSpan[] {
  const out: SegmentSpan[] = [];
  let offset = 0;
  for (const segment of segments) {
    const last = offset + segment.size - 1;
    if (segment.size > 0 && last >= start && offset <= end) {
      out.push({ segment, offset, from: Math.max(start, offset) - offset, to: Math.min(end, last) - offset });
    }
    offset += segment.size;
    if (offset > end) break;
  }
  return out;
}

export function totalSize(segments: Segment[]): number {
  return segments.reduce((sum, s) => sum + s.size, 0);
}

/**
 * One stream of archive bytes start..end across segments. Each segment is piped in turn;
 * destroying the result destroys the segment being read.
 */
export function readRange(blobs: BlobStore, segments: Segment[], start: number, end: number): Readable {
  const spans = spansOf(segments, start, end);
  if (spans.length === 1) {
    const s = spans[0]!;
    return blobs.read(s.segment.blobKey, s.from, s.to);
  }
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  let current: Readable | null = null;
  let index = 0;
  const next = (): void => {
    if (out.destroyed) return;
    const s = spans[index++];
    if (!s) {
      out.end();
      return;
    }
    const src = blobs.read(s.segment.blobKey, s.from, s.to);
    current = src;
    src.once('error', (err) => out.destroy(err));
    src.once('end', next);
    src.pipe(out, { end: false });
  };
  out.once('close', () => {
    if (current && !current.destroyed) current.destroy();
  });
  next();
  return out;
}

/**
 * The stored leaf digests (16 bytes each) of archive bytes start..end, in order and in
 * batches. `start` must be a multiple of 1 MiB.
 */
export async function* leavesOfRange(blobs: BlobStore, segments: Segment[], start: number, end: number, batchLeaves = 4096): AsyncGenerator<Buffer> {
  if (start % MIB !== 0) throw new Error('leaf ranges start on a MiB boundary');
  for (const span of spansOf(segments, start, end)) {
    if (span.offset % MIB !== 0) throw new Error(`segment ${span.segment.blobKey} does not start on a MiB boundary`);
    const first = span.from / MIB;
    const count = Math.floor(span.to / MIB) - first + 1;
    for (let i = 0; i < count; i += batchLeaves) {
      const n = Math.min(batchLeaves, count - i);
      const leaves = await blobs.readLeaves(span.segment.blobKey, first + i, n);
      if (leaves.byteLength !== n * 16) {
        throw new Error(`blob ${span.segment.blobKey} has ${leaves.byteLength / 16} of the ${n} leaf digests asked for`);
      }
      yield leaves;
    }
  }
}

/** The tree etag of a MiB-aligned range from the stored leaves (no data is read). */
export async function treeEtagOfRange(blobs: BlobStore, segments: Segment[], start: number, end: number): Promise<string> {
  const builder = new TreeEtagBuilder();
  for await (const batch of leavesOfRange(blobs, segments, start, end)) {
    for (let i = 0; i < batch.byteLength; i += 16) builder.push(batch.toString('hex', i, i + 16));
  }
  return builder.digest();
}
