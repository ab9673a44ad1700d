// An archive stored as an ordered list of segments (blobs): leaf digests of any MiB-aligned
// range come from the segments' stored leaves (every segment but the last is a whole number
// of MiB). Its bytes are read through store/blob/verifying-reader.ts.
import { MIB, TreeEtagBuilder, TreeHashBuilder } from '@oas/sdk';
import { BlobNotFoundError, type BlobStore } from '../store/blob/types.js';
import { MD5_LEAVES, SHA256_LEAVES, type LeafFamily } from '../store/blob/leaf-families.js';
import { spansOf } from '../store/blob/verifying-reader.js';
import { BlobDamagedError, ensureSha256Leaves, type BlobLeavesOptions } from '../backfill/blob-leaves.js';
import type { Segment } from '../store/meta/types.js';

export function totalSize(segments: Segment[]): number {
  return segments.reduce((sum, s) => sum + s.size, 0);
}

/**
 * The stored leaf digests of a family (MD5 by default, 16 bytes each) of archive bytes
 * start..end, in order and in batches. `start` must be a multiple of 1 MiB.
 */
export async function* leavesOfRange(
  blobs: BlobStore, segments: Segment[], start: number, end: number, batchLeaves = 4096, family: LeafFamily = MD5_LEAVES,
): AsyncGenerator<Buffer> {
  if (start % MIB !== 0) throw new Error('leaf ranges start on a MiB boundary');
  for (const span of spansOf(segments, start, end)) {
    if (span.offset % MIB !== 0) throw new Error(`segment ${span.segment.blobKey} does not start on a MiB boundary`);
    const first = span.from / MIB;
    const count = Math.floor(span.to / MIB) - first + 1;
    for (let i = 0; i < count; i += batchLeaves) {
      const n = Math.min(batchLeaves, count - i);
      const leaves = await blobs.readLeaves(span.segment.blobKey, first + i, n, family.name);
      if (leaves.byteLength !== n * family.digestBytes) {
        throw new Error(`blob ${span.segment.blobKey} has ${leaves.byteLength / family.digestBytes} of the ${n} ${family.name} leaf digests asked for`);
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

/**
 * The SHA-256 tree hash (Glacier's) of a MiB-aligned range from the stored SHA-256 leaves.
 * A segment stored before those leaves existed gets them first, on demand (one verified
 * read of that blob, backfill/blob-leaves.ts), so the hash is there whenever a client needs
 * it. null only when such a segment's bytes are damaged: no checksum is made from them.
 */
export async function sha256TreeOfRange(blobs: BlobStore, segments: Segment[], start: number, end: number,
  options: BlobLeavesOptions = {}): Promise<string | null> {
  for (let attempt = 0; ; attempt++) {
    const builder = new TreeHashBuilder();
    try {
      for await (const batch of leavesOfRange(blobs, segments, start, end, 4096, SHA256_LEAVES)) {
        for (let i = 0; i < batch.byteLength; i += 32) builder.push(batch.subarray(i, i + 32));
      }
      return builder.hex();
    } catch (err) {
      if (!(err instanceof BlobNotFoundError) || attempt > 0) throw err;
    }
    try {
      for (const span of spansOf(segments, start, end)) await ensureSha256Leaves(blobs, span.segment.blobKey, options);
    } catch (err) {
      if (err instanceof BlobDamagedError) return null;
      throw err;
    }
  }
}
