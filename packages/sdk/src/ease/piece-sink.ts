// Where one downloaded piece's bytes go: copied from the response's chunks into 1 MiB leaf
// buffers (views of the leaf worker's shared memory, see leaf-batcher.ts), each full leaf
// written at its file offset with one positional write and hashed on the worker, 8 leaves
// at a time. The response is not read further while two batches (16 MiB) of the piece, or
// the download's whole budget of batches, are in flight: memory stays bounded whatever the
// network's speed against the disk's. The pieces of one file share a FileWriter, which
// writes one leaf at a time.
import type { FileHandle } from 'node:fs/promises';
import { MIB } from '../protocol/etag.js';
import { copyIntoShared } from '../protocol/hash-worker.js';
import { BatchBudget, LeafBatcher } from './leaf-batcher.js';

export class PieceSink {
  private readonly batcher: LeafBatcher;
  private leaf: Buffer | undefined;
  private fill = 0;
  /** The file offset after every byte received so far (written or not yet). */
  position: number;

  /**
   * Bytes go to `file` from offset `start` (a piece starts at a multiple of 1 MiB of the
   * tree it belongs to); `budget`: batches in flight shared with other sinks (a download's pieces).
   */
  constructor(private readonly file: FileWriter, start: number, budget?: BatchBudget) {
    this.position = start;
    this.batcher = new LeafBatcher(2, budget ?? new BatchBudget(2));
  }

  /** Takes a chunk (copied: the caller may reuse it); resolves when more may be written. */
  async write(chunk: Uint8Array): Promise<void> {
    for (let at = 0; at < chunk.byteLength; ) {
      if (!this.leaf) await this.ready();
      const take = Math.min(MIB - this.fill, chunk.byteLength - at);
      copyIntoShared(at === 0 && take === chunk.byteLength ? chunk : chunk.subarray(at, at + take), this.leaf!, this.fill);
      this.filled(take);
      at += take;
    }
  }

  // The same as write(), for a reader that puts the bytes in place itself (a BodyTarget).

  /** The rest of the current leaf, starting a new one if that needs no waiting; else undefined. */
  space(): Buffer | undefined {
    this.leaf ??= this.batcher.leafBufferNow();
    return this.leaf?.subarray(this.fill);
  }

  /** `n` bytes were put at the start of what space() returned. */
  filled(n: number): void {
    this.fill += n;
    this.position += n;
    if (this.fill === MIB) this.closeLeaf();
  }

  /** Resolves once space() has room (the pool or this download's memory budget may make it wait). */
  async ready(): Promise<void> {
    this.leaf ??= await this.batcher.leafBuffer();
  }

  /** Writes and hashes what is left; the piece's tree etag once every byte is on disk (not synced). */
  async finish(): Promise<string> {
    if (this.fill > 0) this.closeLeaf();
    return this.batcher.digest();
  }

  /** Abandons the piece (an error or abort): waits for writes in flight, frees the buffers. */
  discard(): Promise<void> {
    this.leaf = undefined;
    return this.batcher.discard();
  }

  private closeLeaf(): void {
    const data = this.leaf!.subarray(0, this.fill);
    const written = this.file.write(data, this.position - this.fill);
    this.leaf = undefined;
    this.fill = 0;
    this.batcher.leafDone(data.length, written);
  }
}

/** Writes all of `data` at `position` (a positional write may be short). */
export async function writeAll(file: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let at = 0; at < data.byteLength; ) {
    const { bytesWritten } = await file.write(data, at, data.byteLength - at, position + at);
    at += bytesWritten;
  }
}

/**
 * Positional writes to one file, one at a time in the order asked: concurrent writes to one
 * file only queue for its inode lock in the kernel, and the threads waiting for it spin.
 */
export class FileWriter {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly file: FileHandle) {}

  /** Settles once all of `data` is written at `position` (after every earlier write settled). */
  write(data: Uint8Array, position: number): Promise<void> {
    const written = this.tail.then(() => writeAll(this.file, data, position));
    this.tail = written.catch(() => undefined);
    return written;
  }
}
