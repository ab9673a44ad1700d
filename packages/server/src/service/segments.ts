// An archive stored as an ordered list of segments (blobs): leaf digests of any MiB-aligned
// range come from the segments' stored leaves (every segment but the last is a whole number
// of MiB). Its bytes are read through store/blob/verifying-reader.ts.
import { MIB, TreeEtagBuilder, TreeHashBuilder } from '@oas/sdk';
import { BlobNotFoundError, type BlobStore } from '../store/blob/types.js';
import { MD5_LEAVES, SHA256_LEAVES, type LeafFamily } from '../store/blob/leaf-families.js';
import { spansOf } from '../store/blob/verifying-reader.js';
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
 * The SHA-256 tree hash (Glacier's) of a MiB-aligned range from the stored SHA-256 leaves;
 * null when a segment was stored before those leaves existed (docs/glacier.md, "Backfill").
 */
export async function sha256TreeOfRange(blobs: BlobStore, segments: Segment[], start: number, end: number): Promise<string | null> {
  const builder = new TreeHashBuilder();
  try {
    for await (const batch of leavesOfRange(blobs, segments, start, end, 4096, SHA256_LEAVES)) {
      for (let i = 0; i < batch.byteLength; i += 32) builder.push(batch.subarray(i, i + 32));
    }
  } catch (err) {
    if (err instanceof BlobNotFoundError) return null;
    throw err;
  }
  return builder.hex();
}
