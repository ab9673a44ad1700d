// Where upload bytes come from: a file (read at any offset, so parts load in parallel),
// or bytes in memory and streams (read strictly in order into caller-owned buffers).
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { chunkBytes, iteratorOf, sortSource, type ByteSource, type SortedSource } from '../client/byte-source.js';
import { abortError } from './abort.js';

/**
 * A file path (string or file: URL), bytes in memory (Buffer, TypedArray, DataView,
 * ArrayBuffer), a Blob or File, a node Readable (stdin, a socket…), a web ReadableStream,
 * or any iterable of byte chunks.
 */
export type UploadSource = string | URL | ByteSource;

/** Sorts an upload source, with a TypeError before anything is sent for what is not bytes. */
export function sortUploadSource(source: unknown): SortedSource {
  return sortSource(source, 'the upload source', { paths: true });
}

/**
 * `options` with `size` set from a source that knows its length (bytes, Blob); a
 * RangeError when a given `size` says otherwise.
 */
export function withKnownSize<T extends { size?: number }>(source: SortedSource, options: T): T {
  const known = source.kind === 'bytes' ? source.data.length : source.kind === 'stream' ? source.size : undefined;
  if (known === undefined) return options;
  if (options.size !== undefined && options.size !== known) throw new RangeError(`the data has ${known} bytes, not the ${options.size} given`);
  return { ...options, size: known };
}

/**
 * Reads a stream in order into buffers the caller owns. The iterator is driven by hand
 * and never return()ed, so an abort leaves the caller's stream as it was (not destroyed).
 */
export class ChunkReader {
  private readonly iterator: AsyncIterator<unknown> | Iterator<unknown>;
  private readonly pending: Buffer[];
  private ended = false;
  /** Bytes handed out so far. */
  position = 0;

  constructor(source: Readable | AsyncIterable<unknown> | Iterable<unknown>, prefix: Buffer[] = []) {
    this.iterator = iteratorOf(source);
    this.pending = prefix.filter((b) => b.length > 0);
  }

  /** A reader over a sorted source that is not a file. */
  static of(source: Exclude<SortedSource, { kind: 'file' }>): ChunkReader {
    return source.kind === 'bytes' ? new ChunkReader([], [source.data]) : new ChunkReader(source.stream);
  }

  private async pull(signal: AbortSignal | undefined): Promise<Buffer | null> {
    const head = this.pending.shift();
    if (head) return head;
    if (this.ended) return null;
    if (signal?.aborted) throw abortError('read', signal);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(abortError('read', signal));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      for (;;) {
        const result = await Promise.race([this.iterator.next(), aborted]);
        if (result.done) {
          this.ended = true;
          return null;
        }
        const chunk = chunkBytes(result.value, 'the upload source');
        if (chunk.length > 0) return chunk;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort!);
    }
  }

  /** Fills `into` from the start; fewer bytes than its length only at the end of the stream. */
  async fill(into: Buffer, signal?: AbortSignal): Promise<number> {
    let filled = 0;
    while (filled < into.length) {
      const chunk = await this.pull(signal);
      if (!chunk) break;
      const take = Math.min(chunk.length, into.length - filled);
      chunk.copy(into, filled, 0, take);
      filled += take;
      if (take < chunk.length) this.pending.unshift(chunk.subarray(take));
    }
    this.position += filled;
    return filled;
  }

  /**
   * Buffers chunks until more than `limit` bytes have arrived or the stream ends (deciding
   * single vs multipart for a stream of unknown length). The chunks stay queued here too.
   */
  async peek(limit: number, signal?: AbortSignal): Promise<{ chunks: Buffer[]; total: number; ended: boolean }> {
    const chunks: Buffer[] = [];
    let total = 0;
    while (total <= limit) {
      const chunk = await this.pull(signal);
      if (!chunk) break;
      chunks.push(chunk);
      total += chunk.length;
    }
    this.pending.unshift(...chunks);
    return { chunks, total, ended: total <= limit };
  }

  /** Whether at least one more byte follows (reads ahead one chunk at most). */
  async hasMore(signal?: AbortSignal): Promise<boolean> {
    const chunk = await this.pull(signal);
    if (!chunk) return false;
    this.pending.unshift(chunk);
    return true;
  }
}

/** Chunks a request body is read from a file in: three reused buffers of it per request. */
const SEND_CHUNK = 256 * 1024;

/**
 * The three buffers fileRangeChunks reads through. A sender may pass the same set to its
 * next request once one succeeded (every read then landed), sparing the allocator the
 * churn of new buffers per part; after a failure a read may still land, so it takes new ones.
 */
export function sendBuffers(chunkSize = SEND_CHUNK): Buffer[] {
  return Array.from({ length: 3 }, () => Buffer.allocUnsafeSlow(chunkSize));
}

/**
 * Yields `length` bytes of a file from `position` in chunks of up to the buffers' length,
 * read into the three `buffers` in turn, the next chunk read while the last is sent. A
 * yielded chunk must be done with by the time the chunk after next is asked for: the HTTP
 * body pump writes each chunk and waits for the socket to drain before it pulls again, and
 * after a write that did not need to wait, only that last chunk can still be queued in the
 * socket. `onBytes` reports each chunk as it is handed out (progress inside a part).
 */
export async function* fileRangeChunks(file: FileHandle, position: number, length: number, path: string,
  onBytes?: (n: number) => void, buffers = sendBuffers(Math.min(SEND_CHUNK, length))): AsyncGenerator<Buffer> {
  if (length <= 0) return;
  const chunkSize = buffers[0]!.length;
  let offset = 0;
  let turn = 0;
  const readNext = (): Promise<Buffer> => {
    const into = buffers[turn++ % buffers.length]!.subarray(0, Math.min(chunkSize, length - offset));
    const at = position + offset;
    offset += into.length;
    const read = readFileRange(file, into, at, path).then(() => into);
    // If the request stops pulling (failed, aborted), nobody awaits this read, and the file
    // may be closed under it: that failure must not be an unhandled rejection.
    read.catch(() => {});
    return read;
  };
  let next: Promise<Buffer> | undefined = readNext();
  try {
    while (next) {
      const chunk = await next;
      next = offset < length ? readNext() : undefined;
      onBytes?.(chunk.length);
      yield chunk;
    }
  } finally {
    // Stopped early (the request failed): let a read in flight land before the buffers go.
    await next?.catch(() => undefined);
  }
}

/** Reads exactly `into.length` bytes at `position` (positional reads, safe in parallel). */
async function readFileRange(file: FileHandle, into: Buffer, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await file.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error(`${path}: the file ended at ${position + done}, expected ${into.length} bytes from ${position} (it changed during the upload?)`);
    done += bytesRead;
  }
}

/** Yields `data` in 1 MiB slices, reporting each as it is handed to the request (progress inside a part). */
export async function* sliced(data: Buffer, onBytes: (n: number) => void, slice = 1024 * 1024): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < data.length; offset += slice) {
    const chunk = data.subarray(offset, Math.min(offset + slice, data.length));
    onBytes(chunk.length);
    yield chunk;
  }
}
