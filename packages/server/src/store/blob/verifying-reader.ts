// The one way stored bytes leave the process: every 1 MiB leaf is hashed and compared with
// the digest stored at write time *before* any of its bytes are passed on. Reads that do not
// start or end on a leaf boundary read the enclosing leaves and pass on only the bytes asked
// for. On a mismatch the stream passes on everything before the bad leaf and then fails, so
// a consumer (an HTTP response, an upload to another store, a copy) never gets a complete
// body with bad bytes in it. Leaves are hashed in 8 MiB batches on the worker pool while the
// next batches are read; read-ahead is bounded (READ_AHEAD batches).
//
// Bytes are read (positionally, where the store can) straight into the pool's shared slots
// and hashed there, and piping the stream into an HTTP response writes those very slots,
// giving each back once the socket has taken it: no buffer per read, so no garbage to collect
// (fresh 2 MiB read buffers cost a serve about 40% of its time in GC). Other consumers of
// the stream get copies.
import { once } from 'node:events';
import { ServerResponse } from 'node:http';
import { Readable, type Writable } from 'node:stream';
import { MIB } from '@oas/sdk';
import { MD5_LEAVES, type LeafFamily } from './leaf-families.js';
import { load, openSource, type Loaded } from './batch-source.js';
import type { BlobStore } from './types.js';

/** A blob holding the next `size` bytes of what is read (an archive's segments, or one blob). */
export interface BlobSpan {
  blobKey: string;
  size: number;
}

/** The piece of one blob that falls in a read: bytes `from..to` of the blob, at `offset` in the whole. */
export interface SpanPiece {
  segment: BlobSpan;
  /** First byte of the blob in the whole. */
  offset: number;
  from: number;
  to: number;
}

/** The pieces of blobs covering bytes start..end (inclusive) of their concatenation. */
export function spansOf(segments: readonly BlobSpan[], start: number, end: number): SpanPiece[] {
  const out: SpanPiece[] = [];
  let offset = 0;
  for (const segment of segments) {
    const last = offset + segment.size - 1;
    if (segment.size > 0 && last >= start && offset <= end) {
      out.push({ segment, offset, from: Math.max(start, offset) - offset, to: Math.min(end, last) - offset });
    }
    offset += segment.size;
    if (offset > end) break;
  }
  return out;
}

/** Stored bytes that do not match their stored leaf digest, or are missing. */
export class CorruptDataError extends Error {
  override readonly name = 'CorruptDataError';
  constructor(
    /** What the bytes are part of (e.g. `archive <id>`). */
    readonly label: string,
    readonly blobKey: string,
    /** The bad bytes, inclusive, as offsets in what `label` names. */
    readonly start: number,
    readonly end: number,
    /** checksum: the leaf's bytes differ from its digest; length: the blob ended early. */
    readonly reason: 'checksum' | 'length',
  ) {
    super(reason === 'checksum'
      ? `bytes ${start}-${end} of ${label} do not match their stored checksum`
      : `bytes ${start}-${end} of ${label} could not be read (the stored blob ${blobKey} ends early)`);
  }
}

export interface VerifiedReadOptions {
  /** What the bytes are part of, for errors and logs (default `blob <key>` of the first span). */
  label?: string;
  signal?: AbortSignal;
  /** Told of every mismatch before the stream fails (logging, metrics). */
  onCorrupt?: (err: CorruptDataError) => void;
  /** Each verified leaf digest, in order (for a leaf-aligned read: exactly the range's leaves). */
  onLeaf?: (digest: Buffer) => void;
  /** The family checked (default MD5, which every blob has). */
  family?: LeafFamily;
}

/** Bytes hashed per batch (a worker slot), and batches read and hashed ahead of the one being passed on. */
const BATCH_BYTES = 8 * MIB;
const READ_AHEAD = 3;
/** Stored digests fetched per readLeaves (1 GiB of data). */
const LEAVES_PER_FETCH = 1024;

/** The stored digests of one blob, fetched a window at a time. */
class StoredLeaves {
  private first = 0;
  private window: Buffer = Buffer.alloc(0);

  constructor(private readonly blobs: BlobStore, private readonly key: string, private readonly family: LeafFamily,
    private readonly leafCount: number) {}

  async get(leaf: number): Promise<Buffer> {
    const width = this.family.digestBytes;
    if (leaf < this.first || leaf >= this.first + this.window.length / width) {
      const count = Math.min(LEAVES_PER_FETCH, this.leafCount - leaf);
      this.window = await this.blobs.readLeaves(this.key, leaf, count, this.family.name);
      this.first = leaf;
      if (this.window.length !== count * width) throw new Error(`blob ${this.key}: ${this.window.length / width} of ${count} leaf digests returned`);
    }
    const i = leaf - this.first;
    return this.window.subarray(i * width, (i + 1) * width);
  }
}

/** Checked bytes ready to pass on; `release` once they are no longer needed (they may be a reused slot). */
export interface VerifiedBatch {
  chunks: Buffer[];
  release(): void;
}

/**
 * Bytes start..end (inclusive) of the concatenated blobs as batches, each leaf checked
 * before it is passed on. The consumer must release every batch it gets.
 */
export async function* verifiedBatches(blobs: BlobStore, segments: readonly BlobSpan[], start: number, end: number,
  options: VerifiedReadOptions, signal: AbortSignal): AsyncGenerator<VerifiedBatch> {
  const family = options.family ?? MD5_LEAVES;
  const label = options.label ?? `blob ${segments[0]?.blobKey ?? ''}`;
  for (const piece of spansOf(segments, start, end)) {
    const { blobKey, size } = piece.segment;
    // The enclosing leaves: every leaf is checked whole.
    const from = Math.floor(piece.from / MIB) * MIB;
    const to = Math.min(size, Math.ceil((piece.to + 1) / MIB) * MIB) - 1;
    const stored = new StoredLeaves(blobs, blobKey, family, Math.ceil(size / MIB));
    const fail = (err: CorruptDataError): never => {
      options.onCorrupt?.(err);
      throw err;
    };
    const source = await openSource(blobs, blobKey, from, to, signal);
    const pending: Promise<Loaded>[] = [];
    let next = from;
    const fillAhead = (): void => {
      while (pending.length < READ_AHEAD && next <= to) {
        const bytes = Math.min(BATCH_BYTES, to + 1 - next);
        const loading = load(source, family, next, bytes);
        loading.catch(() => undefined); // awaited in order below; abandoned ones must not go unhandled
        pending.push(loading);
        next += bytes;
      }
    };
    try {
      fillAhead();
      while (pending.length > 0) {
        const batch = await pending.shift()!;
        fillAhead();
        let release = () => batch.slot?.release();
        try {
          const width = family.digestBytes;
          const leaves = Math.ceil(batch.data.length / MIB);
          let good = 0;
          for (; good < leaves; good++) {
            const digest = batch.digests.subarray(good * width, (good + 1) * width);
            if (!digest.equals(await stored.get(batch.at / MIB + good))) break;
          }
          // Blob bytes that may go out: the good leaves, within the range asked for.
          const lo = Math.max(piece.from, batch.at);
          const hi = Math.min(piece.to, batch.at + Math.min(good * MIB, batch.data.length) - 1);
          if (hi >= lo) {
            const chunk = batch.data.subarray(lo - batch.at, hi + 1 - batch.at);
            release = () => undefined; // the consumer owns it now
            yield { chunks: [chunk], release: () => batch.slot?.release() };
          }
          for (let i = 0; i < good; i++) options.onLeaf?.(batch.digests.subarray(i * width, (i + 1) * width));
          if (good < leaves) {
            const bad = batch.at + good * MIB;
            fail(new CorruptDataError(label, blobKey, piece.offset + bad, piece.offset + Math.min(bad + MIB, size) - 1, 'checksum'));
          }
          if (batch.data.length < Math.min(BATCH_BYTES, to + 1 - batch.at)) {
            const at = batch.at + batch.data.length;
            fail(new CorruptDataError(label, blobKey, piece.offset + at, piece.offset + to, 'length'));
          }
        } finally {
          release();
        }
      }
    } finally {
      // Stopped early (error, destroy): let the reads in flight land, give their slots back.
      for (const loading of pending) (await loading.catch(() => undefined))?.slot?.release();
      await source.close().catch(() => undefined);
    }
  }
}

/**
 * The verified bytes as a stream. Piped into a writable (an HTTP response), it writes the
 * pool slots themselves and frees each once the writable is done with it; read any other
 * way, it passes on copies.
 */
class VerifiedReadable extends Readable {
  private batches: AsyncGenerator<VerifiedBatch> | undefined;
  private piped = false;
  private reading = false;

  constructor(private readonly open: () => AsyncGenerator<VerifiedBatch>, private readonly stop: AbortController) {
    super({ highWaterMark: MIB });
  }

  override _read(): void {
    if (this.piped || this.reading) return;
    this.reading = true;
    this.batches ??= this.open();
    this.batches.next().then((next) => {
      this.reading = false;
      if (next.done) {
        this.push(null);
        return;
      }
      const { chunks, release } = next.value;
      let more = true;
      for (const chunk of chunks) more = this.push(Buffer.from(chunk));
      release();
      if (more) this._read();
    }, (err: unknown) => {
      this.reading = false;
      this.destroy(err as Error);
    });
  }

  override pipe<T extends NodeJS.WritableStream>(dest: T, options?: { end?: boolean }): T {
    // Only a response's write callback means the bytes are gone (into the socket); other
    // writables (a Transform, a file stream) may still hold the chunk after it, so they get copies.
    if (!(dest instanceof ServerResponse) || this.batches || this.piped || this.destroyed) return super.pipe(dest, options);
    this.piped = true;
    void this.sendTo(dest as unknown as Writable, options?.end !== false);
    return dest;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.stop.abort();
    if (!this.batches || this.piped) cb(err);
    else this.batches.return(undefined).then(() => cb(err), () => cb(err));
  }

  /** Writes every batch's bytes in place; a batch is freed once all its writes are done. */
  private async sendTo(dest: Writable, end: boolean): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      dest.once('close', resolve);
      this.once('close', resolve);
    });
    const batches = this.open();
    try {
      for await (const { chunks, release } of batches) {
        let writes = chunks.length;
        const done = () => { if (--writes === 0) release(); };
        let more = true;
        for (const chunk of chunks) more = dest.write(chunk, done);
        if (this.destroyed || dest.destroyed) break;
        if (!more) await Promise.race([once(dest, 'drain').catch(() => undefined), closed]);
        if (this.destroyed || dest.destroyed) break;
      }
      if (this.destroyed) return;
      if (end) dest.end();
      this.push(null);
      this.resume(); // no one reads this stream: let it end so its watchers see the end
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      await batches.return(undefined).catch(() => undefined);
    }
  }
}

/**
 * Bytes start..end (inclusive) of the concatenated blobs, each leaf checked before it is
 * passed on. Destroying the stream stops the reads.
 */
export function readVerified(blobs: BlobStore, segments: readonly BlobSpan[], start: number, end: number,
  options: VerifiedReadOptions = {}): Readable {
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  return new VerifiedReadable(() => verifiedBatches(blobs, segments, start, end, options, signal), stop);
}

/** Reads and checks bytes start..end without passing them anywhere; `onChunk` is told each verified chunk's size. */
export async function scanVerified(blobs: BlobStore, segments: readonly BlobSpan[], start: number, end: number,
  options: VerifiedReadOptions & { onChunk?: (bytes: number) => Promise<void> | void } = {}): Promise<number> {
  const signal = options.signal ?? new AbortController().signal;
  let read = 0;
  for await (const { chunks, release } of verifiedBatches(blobs, segments, start, end, options, signal)) {
    release();
    for (const chunk of chunks) {
      read += chunk.length;
      await options.onChunk?.(chunk.length);
    }
  }
  return read;
}
