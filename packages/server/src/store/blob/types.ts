// The blob contract: immutable blobs, each with its 1 MiB leaf digests. The embedded
// default keeps them as files; the scale-out backend keeps them as S3 objects.
import type { Readable, Writable } from 'node:stream';
import type { LeafSet } from './leaf-families.js';

/** A read of a blob (or its leaves) that is not there; every backend raises this one. */
export class BlobNotFoundError extends Error {
  readonly code = 'ENOENT';
  constructor(readonly key: string) {
    super(`blob ${key} does not exist`);
    this.name = 'BlobNotFoundError';
  }
}

/** Options of the calls that stream. */
export interface StreamOptions {
  /** Aborting it destroys the stream (a writer is aborted: nothing is left behind). */
  signal?: AbortSignal;
}

export interface CreateOptions extends StreamOptions {
  /** About how many bytes will be written, when known (a store may pick its write path by it). */
  sizeHint?: number;
}

/**
 * A blob being written. Nothing is visible to readers until commit resolves. Callers go
 * through the verifying writer (verifying-writer.ts), which hashes, checks and commits.
 */
export interface BlobWriter {
  readonly key: string;
  /** Where the bytes go. The caller ends it, then commits or aborts. */
  readonly stream: Writable;
  /**
   * Makes the blob durable and visible under `key`, with its leaf digests: one digest per
   * started MiB, concatenated, for each family ('md5' required; a Buffer is the MD5 leaves
   * alone). Resolves only once all of it survives a crash.
   */
  commit(leaves: Buffer | LeafSet): Promise<void>;
  /** Discards everything written; safe to call more than once and after a failed commit. */
  abort(): Promise<void>;
}

/** Positional reads of one committed blob (no stream, no buffer of its own: the caller's buffers are reused). */
export interface BlobFileReader {
  /** Reads up to `length` bytes at blob offset `position` into `buf[offset..]`; 0 at the end. */
  read(buf: Buffer, offset: number, length: number, position: number): Promise<number>;
  close(): Promise<void>;
}

export interface BlobStore {
  /** Removes leftovers of writes that never committed (run at start-up). Returns how many. */
  removeLeftovers(): Promise<number>;
  /** Starts a new blob under a fresh key; an abort of `signal` aborts the writer. */
  create(options?: CreateOptions): Promise<BlobWriter>;
  /**
   * Streams bytes `start..end` (inclusive) of a committed blob; the whole blob by default.
   * The bytes are not checked: what leaves the process goes through verifying-reader.ts.
   */
  read(key: string, start?: number, end?: number, options?: StreamOptions): Readable;
  /** Optional: positional reads into the caller's buffers (the verifying reader prefers them to read()). */
  openRead?(key: string): Promise<BlobFileReader>;
  /** The blob's leaf digests `first..first+count-1` of a family (default 'md5'), or all of them. */
  readLeaves(key: string, first?: number, count?: number, family?: string): Promise<Buffer>;
  /**
   * Attaches the leaf digests of a family other than MD5 to a committed blob (the SHA-256
   * backfill, backfill/): one digest per started MiB of the blob. Replaces any the blob
   * already has of that family; durable once it resolves. BlobNotFoundError when the blob
   * is not there.
   */
  addLeaves(key: string, family: string, digests: Buffer): Promise<void>;
  /** Size in bytes, or null when the blob does not exist. */
  size(key: string): Promise<number | null>;
  /** Deletes a blob and its leaves; deleting a missing blob is not an error. */
  delete(key: string): Promise<void>;
  /** Every committed key (for garbage collection of blobs no metadata references). */
  keys(): AsyncIterable<string>;
  close(): Promise<void>;
}
