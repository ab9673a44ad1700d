// What the blob backends share: key and range checks, the leaf-digest layout, and the
// checks a writer makes before it commits. The storage itself stays in each backend.
import type { Writable } from 'node:stream';
import { MIB, isId } from '@oas/sdk';
import { leafFamily, type LeafSet } from './leaf-families.js';

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

/** The arguments of BlobStore.readLeaves: a valid key, leaf index and count; returns the family's digest size. */
export function checkReadLeavesArgs(key: string, first: number, count: number | undefined, family: string): number {
  checkKey(key);
  checkIndex('first', first);
  if (count !== undefined) checkIndex('count', count);
  return leafFamily(family).digestBytes;
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

/**
 * The leaf digests given to commit: MD5 ones and any other known family, each exactly one
 * digest per started MiB of the blob's `size` bytes. Returns them as [family, digests],
 * MD5 last (stores write it last: it marks the blob committed).
 */
export function checkLeaves(key: string, size: number, leaves: LeafSet): [string, Buffer][] {
  if (!leaves.md5) throw new RangeError(`blob ${key}: commit without its md5 leaf digests`);
  const out: [string, Buffer][] = [];
  for (const [name, digests] of Object.entries(leaves)) {
    const expected = Math.ceil(size / MIB) * leafFamily(name).digestBytes;
    if (!Buffer.isBuffer(digests) || digests.length !== expected) {
      throw new RangeError(`blob ${key}: ${size} bytes need ${expected} bytes of ${name} leaf digests, got ${digests?.length}`);
    }
    if (name !== 'md5') out.push([name, digests]);
  }
  out.push(['md5', leaves.md5]);
  return out;
}

/**
 * Ties a writer to an abort signal: once aborted, the writer is aborted (unless it already
 * committed). Returns the function that unties it.
 */
export function abortOnSignal(signal: AbortSignal | undefined, abort: () => Promise<void>): () => void {
  if (!signal) return () => undefined;
  const onAbort = () => { void abort().catch(() => undefined); };
  if (signal.aborted) {
    onAbort();
    return () => undefined;
  }
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/**
 * The arguments of BlobStore.addLeaves: a valid key, a family other than MD5 (MD5 leaves
 * are the blob's own, written only by its commit) and one digest per started MiB of `size`.
 */
export function checkAddedLeaves(key: string, size: number, family: string, digests: Buffer): void {
  checkKey(key);
  if (family === 'md5') throw new RangeError(`blob ${key}: md5 leaves are written by the commit only`);
  const expected = Math.ceil(size / MIB) * leafFamily(family).digestBytes;
  if (!Buffer.isBuffer(digests) || digests.length !== expected) {
    throw new RangeError(`blob ${key}: ${size} bytes need ${expected} bytes of ${family} leaf digests, got ${digests?.length}`);
  }
}
