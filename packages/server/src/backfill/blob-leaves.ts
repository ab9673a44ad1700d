// SHA-256 leaves for a blob stored before they existed: one streaming read through the
// verifying reader, which checks every 1 MiB leaf against the blob's stored MD5 digest
// before it passes the bytes on, while the SHA-256 leaves are hashed from the same bytes.
// A blob whose bytes no longer match its MD5 leaves is reported (BlobDamagedError) and
// gets no SHA-256 leaves: new checksums are never computed from damaged data.
import { SHA256_LEAVES } from '../store/blob/leaf-families.js';
import { BlobNotFoundError, type BlobStore } from '../store/blob/types.js';
import { CorruptDataError, readVerified } from '../store/blob/verifying-reader.js';

/** The stored bytes of a blob are damaged or missing; nothing was added. */
export class BlobDamagedError extends Error {
  override readonly name = 'BlobDamagedError';
  constructor(readonly blobKey: string, message: string) {
    super(message);
  }
}

export interface BlobLeavesOptions {
  signal?: AbortSignal;
  /** Called with each verified chunk's size; the read waits for it (rate limiting). */
  onChunk?: (bytes: number) => Promise<void> | void;
}

/** Whether the blob already has SHA-256 leaves (false also when the blob is missing). */
export async function hasSha256Leaves(blobs: BlobStore, key: string): Promise<boolean> {
  try {
    await blobs.readLeaves(key, 0, 0, SHA256_LEAVES.name);
    return true;
  } catch (err) {
    if (err instanceof BlobNotFoundError) return false;
    throw err;
  }
}

/**
 * Reads the blob once, verifying its MD5 leaves, and stores its SHA-256 leaves. Returns
 * the bytes read. BlobDamagedError when the blob is missing, short or does not match.
 */
export async function addSha256Leaves(blobs: BlobStore, key: string, options: BlobLeavesOptions = {}): Promise<number> {
  const size = await blobs.size(key);
  if (size === null) throw new BlobDamagedError(key, `blob ${key} is missing`);
  const hasher = SHA256_LEAVES.createHasher(size);
  let read = 0;
  if (size > 0) {
    const bytes = readVerified(blobs, [{ blobKey: key, size }], 0, size - 1, options.signal ? { signal: options.signal } : {});
    try {
      for await (const chunk of bytes) {
        hasher.update(chunk as Buffer);
        read += (chunk as Buffer).byteLength;
        await options.onChunk?.((chunk as Buffer).byteLength);
      }
    } catch (err) {
      hasher.destroy();
      options.signal?.throwIfAborted();
      if (err instanceof CorruptDataError) throw new BlobDamagedError(key, err.message);
      if (err instanceof BlobNotFoundError) throw new BlobDamagedError(key, `blob ${key} is missing its bytes or MD5 leaves`);
      throw err;
    } finally {
      bytes.destroy();
    }
  }
  if (read !== size) throw new BlobDamagedError(key, `blob ${key}: ${read} of its ${size} bytes could be read`);
  await blobs.addLeaves(key, SHA256_LEAVES.name, await hasher.digest());
  return read;
}

/** Backfills in progress, per store and blob: concurrent callers share one read. */
const inFlight = new WeakMap<BlobStore, Map<string, Promise<number>>>();

/**
 * SHA-256 leaves for the blob unless it has them already; concurrent calls for one blob
 * share the work. Resolves to the bytes read (0: nothing to do).
 */
export async function ensureSha256Leaves(blobs: BlobStore, key: string, options: BlobLeavesOptions = {}): Promise<number> {
  if (await hasSha256Leaves(blobs, key)) return 0;
  let running = inFlight.get(blobs);
  if (!running) inFlight.set(blobs, running = new Map());
  let done = running.get(key);
  if (!done) {
    done = addSha256Leaves(blobs, key, options).finally(() => running.delete(key));
    running.set(key, done);
  }
  return done;
}
