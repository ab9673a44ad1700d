// The one way stored bytes leave the process: every 1 MiB leaf is hashed and compared with
// the digest stored at write time *before* any of its bytes are passed on. Reads that do not
// start or end on a leaf boundary read the enclosing leaves and pass on only the bytes asked
// for. On a mismatch the stream passes on everything before the bad leaf and then fails, so
// a consumer (an HTTP response, an upload to another store, a copy) never gets a complete
// body with bad bytes in it. Leaves are hashed in batches on the shared worker while the
// next batch is read; read-ahead is bounded (READ_AHEAD batches).
import { Readable } from 'node:stream';
import { MIB } from '@oas/sdk';
import { MD5_LEAVES, type LeafFamily } from './leaf-families.js';
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

/** Bytes hashed per batch (a worker slot), and batches hashed ahead of the one being passed on. */
const BATCH_BYTES = 8 * MIB;
const READ_AHEAD = 3;
/** Stored digests fetched per readLeaves (1 GiB of data). */
const LEAVES_PER_FETCH = 1024;

interface Batch {
  /** Offset in the blob of the batch's first byte (a leaf boundary). */
  at: number;
  bytes: number;
  chunks: Buffer[];
  digests: Promise<Buffer>;
}

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

/**
 * Bytes start..end (inclusive) of the concatenated blobs, each leaf checked before it is
 * passed on. Destroying the stream stops the reads.
 */
export function readVerified(blobs: BlobStore, segments: readonly BlobSpan[], start: number, end: number,
  options: VerifiedReadOptions = {}): Readable {
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const out = Readable.from(verifiedChunks(blobs, segments, start, end, options, signal), { objectMode: false, highWaterMark: MIB });
  out.once('close', () => stop.abort());
  return out;
}

async function* verifiedChunks(blobs: BlobStore, segments: readonly BlobSpan[], start: number, end: number,
  options: VerifiedReadOptions, signal: AbortSignal): AsyncGenerator<Buffer> {
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

    /** Passes on the batch's leaves up to the first bad one (trimmed to the range), then fails there. */
    async function* emit(batch: Batch): AsyncGenerator<Buffer> {
      const digests = await batch.digests;
      const width = family.digestBytes;
      let good = 0;
      const leaves = Math.ceil(batch.bytes / MIB);
      for (; good < leaves; good++) {
        const digest = digests.subarray(good * width, (good + 1) * width);
        if (!digest.equals(await stored.get(batch.at / MIB + good))) break;
      }
      // Blob bytes that may go out: the good leaves, within the range asked for.
      const lo = Math.max(piece.from, batch.at);
      const hi = Math.min(piece.to, batch.at + Math.min(good * MIB, batch.bytes) - 1);
      let at = batch.at;
      for (const chunk of batch.chunks) {
        const a = Math.max(lo, at) - at;
        const b = Math.min(hi + 1, at + chunk.length) - at;
        if (b > a) yield a === 0 && b === chunk.length ? chunk : chunk.subarray(a, b);
        at += chunk.length;
      }
      for (let i = 0; i < good; i++) options.onLeaf?.(digests.subarray(i * width, (i + 1) * width));
      if (good < leaves) {
        const bad = batch.at + good * MIB;
        fail(new CorruptDataError(label, blobKey, piece.offset + bad, piece.offset + Math.min(bad + MIB, size) - 1, 'checksum'));
      }
    }

    const pending: Batch[] = [];
    let batch: Batch = { at: from, bytes: 0, chunks: [], digests: Promise.resolve(Buffer.alloc(0)) };
    const submit = () => {
      batch.digests = family.hashLeaves(batch.chunks);
      batch.digests.catch(() => undefined); // awaited in order by emit; abandoned ones must not go unhandled
      pending.push(batch);
      batch = { at: batch.at + batch.bytes, bytes: 0, chunks: [], digests: batch.digests };
    };
    const source = blobs.read(blobKey, from, to, { signal });
    try {
      for await (const data of source as AsyncIterable<Buffer>) {
        for (let i = 0; i < data.length;) {
          const take = Math.min(BATCH_BYTES - batch.bytes, data.length - i);
          batch.chunks.push(i === 0 && take === data.length ? data : data.subarray(i, i + take));
          batch.bytes += take;
          i += take;
          if (batch.bytes === BATCH_BYTES) submit();
        }
        while (pending.length >= READ_AHEAD) yield* emit(pending.shift()!);
      }
      if (batch.bytes > 0) submit();
      while (pending.length > 0) yield* emit(pending.shift()!);
    } finally {
      source.destroy();
    }
    const read = batch.at - from;
    if (read < to - from + 1) {
      fail(new CorruptDataError(label, blobKey, piece.offset + from + read, piece.offset + to, 'length'));
    }
  }
}
