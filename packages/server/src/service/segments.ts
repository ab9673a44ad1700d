// An archive stored as an ordered list of segments (blobs): leaf digests of any MiB-aligned
// range come from the segments' stored leaves (every segment but the last is a whole number
// of MiB). Its bytes are read through store/blob/verifying-reader.ts.
import { MIB, TreeEtagBuilder } from '@oas/sdk';
import type { BlobStore } from '../store/blob/types.js';
import { spansOf } from '../store/blob/verifying-reader.js';
import type { Segment } from '../store/meta/types.js';

export function totalSize(segments: Segment[]): number {
  return segments.reduce((sum, s) => sum + s.size, 0);
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
