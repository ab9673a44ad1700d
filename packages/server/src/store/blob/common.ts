// What the blob backends share: key and range checks, the leaf-digest layout, and the
// checks a writer makes before it commits. The storage itself stays in each backend.
import type { Writable } from 'node:stream';
import { MIB, isId } from '@oas/sdk';

/** Bytes of one leaf digest (MD5 of a 1 MiB leaf). */
export const LEAF_BYTES = 16;
/** Big buffers: fewer event-loop turns per GiB streamed. */
export const READ_HIGH_WATER_MARK = 2 * MIB;

/** Every key is checked before it becomes part of a path or object key: no traversal, no odd names. */
export function checkKey(key: string): void {
  if (!isId(key)) throw new TypeError(`invalid blob key ${JSON.stringify(String(key)).slice(0, 80)}`);
}

export function checkIndex(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
}

/** The arguments of BlobStore.read: a valid key and an inclusive byte range `start..end`. */
export function checkReadArgs(key: string, start: number, end: number | undefined): void {
  checkKey(key);
  checkIndex('start', start);
  if (end !== undefined) {
    checkIndex('end', end);
    if (end < start) throw new RangeError(`end ${end} is before start ${start}`);
  }
}

/** The arguments of BlobStore.readLeaves: a valid key, leaf index and count. */
export function checkReadLeavesArgs(key: string, first: number, count: number | undefined): void {
  checkKey(key);
  checkIndex('first', first);
  if (count !== undefined) checkIndex('count', count);
}

/** The error of a readLeaves call that asks for leaves the blob does not have. */
export function leavesOutOfRange(key: string, first: number, count: number | undefined, total: number): RangeError {
  return new RangeError(`blob ${key}: leaves ${first}..${first + (count ?? 0) - 1} beyond its ${total} leaves`);
}

/**
 * The start of a commit: the writer's stream must have been ended without error; waits
 * for it to finish flushing.
 */
export async function streamFinished(s: Writable, key: string): Promise<void> {
  if (s.errored) throw s.errored;
  if (!s.writableEnded) throw new Error(`blob ${key}: commit before its stream was ended`);
  if (!s.writableFinished) {
    await new Promise<void>((resolve, reject) => {
      s.once('finish', resolve);
      s.once('error', reject);
    });
  }
}

/** The leaf digests given to commit must be exactly one per started MiB of the blob's `size` bytes. */
export function checkLeaves(key: string, size: number, leaves: Buffer): void {
  const expected = Math.ceil(size / MIB) * LEAF_BYTES;
  if (!Buffer.isBuffer(leaves) || leaves.length !== expected) {
    throw new RangeError(`blob ${key}: ${size} bytes need ${expected} bytes of leaf digests, got ${leaves?.length}`);
  }
}
