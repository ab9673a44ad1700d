// The blob contract: immutable blobs, each with its 1 MiB leaf digests. The embedded
// default keeps them as files; the scale-out backend keeps them as S3 objects.
import type { Readable, Writable } from 'node:stream';

/** A read of a blob (or its leaves) that is not there; every backend raises this one. */
export class BlobNotFoundError extends Error {
  readonly code = 'ENOENT';
  constructor(readonly key: string) {
    super(`blob ${key} does not exist`);
    this.name = 'BlobNotFoundError';
  }
}

/** A blob being written. Nothing is visible to readers until commit resolves. */
export interface BlobWriter {
  readonly key: string;
  /** Where the bytes go. The caller ends it, then commits or aborts. */
  readonly stream: Writable;
  /**
   * Makes the blob durable and visible under `key`, with its leaf digests (16 bytes per
   * MiB, concatenated). Resolves only once both survive a crash (fsync file, rename, fsync dir).
   */
  commit(leaves: Buffer): Promise<void>;
  /** Discards everything written; safe to call more than once and after a failed commit. */
  abort(): Promise<void>;
}

export interface BlobStore {
  /** Removes leftovers of writes that never committed (run at start-up). Returns how many. */
  removeLeftovers(): Promise<number>;
  /** Starts a new blob under a fresh key. */
  create(): Promise<BlobWriter>;
  /** Streams bytes `start..end` (inclusive) of a committed blob; the whole blob by default. */
  read(key: string, start?: number, end?: number): Readable;
  /** The blob's leaf digests `first..first+count-1` (16 bytes each), or all of them. */
  readLeaves(key: string, first?: number, count?: number): Promise<Buffer>;
  /** Size in bytes, or null when the blob does not exist. */
  size(key: string): Promise<number | null>;
  /** Deletes a blob and its leaves; deleting a missing blob is not an error. */
  delete(key: string): Promise<void>;
  /** Every committed key (for garbage collection of blobs no metadata references). */
  keys(): AsyncIterable<string>;
  close(): Promise<void>;
}
