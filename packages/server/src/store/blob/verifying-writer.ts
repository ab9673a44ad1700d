// The one way bytes become a blob: stream them in, enforce the size, compute in the same
// pass the content MD5 (when wanted) and the 1 MiB leaf digests of every stored family,
// check them against what the caller expects, then commit, or abort so that nothing is
// left behind. Single and part uploads, inventory output, OSS pull and copy-data all write
// through here; the stores below only keep bytes.
import { once } from 'node:events';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MIB } from '@oas/sdk';
import { isStorageFull } from '../storage-full.js';
import { STORED_LEAF_FAMILIES, type LeafFamily, type LeafSet } from './leaf-families.js';
import { StreamDigester } from './stream-digester.js';
import type { BlobStore, BlobWriter } from './types.js';

/** What the caller knows of the bytes; each check is skipped when its field is absent. */
export interface WriteExpect {
  /** Exact byte count: one byte more fails at once, fewer fails at the end. */
  size?: number;
  /** Upper-case hex MD5 of all bytes. */
  etag?: string;
  /** Tree hash per leaf family (the OAS tree etag is `md5`), as the family writes it. */
  trees?: Readonly<Record<string, string>>;
  /** The exact MD5 leaf digests (a copy checks them against the source's). */
  md5Leaves?: Buffer;
}

export interface WriteOptions {
  expect?: WriteExpect;
  /** Compute the content MD5 even though none is expected (the result's etag is '' otherwise). */
  contentEtag?: boolean;
  /** About how many bytes will come when expect.size is not known (chooses the hashers). */
  sizeHint?: number;
  /** Aborting it aborts the write; the call that was waiting throws the signal's reason. */
  signal?: AbortSignal;
  /** Families to compute and commit (default: every stored family). */
  families?: readonly LeafFamily[];
}

/** What was written (and checked). */
export interface WrittenDigest {
  size: number;
  /** Upper-case hex MD5, or '' when it was not computed. */
  etag: string;
  /** Tree hash per family. */
  trees: Record<string, string>;
  /** The OAS tree etag (trees.md5). */
  treeEtag: string;
  leaves: LeafSet;
}

export interface WrittenBlob extends WrittenDigest {
  key: string;
}

export type WriteCheck = 'too-long' | 'too-short' | 'etag' | 'tree' | 'leaves';

/** The bytes are not what the caller said: nothing was committed. */
export class BlobCheckError extends Error {
  override readonly name = 'BlobCheckError';
  constructor(
    readonly check: WriteCheck,
    /** What was expected and what the bytes gave (sizes as decimal text). */
    readonly expected: string,
    readonly actual: string,
    message: string,
    /** For 'tree' and 'leaves': the family; for 'leaves' also the first bad leaf. */
    readonly family?: string,
    readonly leaf?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

type State = 'open' | 'finished' | 'committed' | 'aborted';

/** How many bytes the write will be, as far as known (0: unknown). */
const sizeHintOf = (options: WriteOptions): number => options.expect?.size ?? options.sizeHint ?? 0;

export class VerifyingWriter {
  private readonly tap: Transform;
  /** Runs from open to the blob stream's finish. */
  private readonly flowing: Promise<void>;
  private readonly families: readonly LeafFamily[];
  /** Leaf digests of every family and the content MD5; large writes hash on the worker pool while the bytes go on to the store. */
  private readonly digester: StreamDigester;
  private received = 0;
  /** The blob store failed (not the source): never reported as incomplete data. */
  private storeFailed = false;
  private state: State = 'open';
  private digest: WrittenDigest | null = null;

  /** Starts a blob in `blobs`; the caller then streams into it and finishes, commits or aborts. */
  static async open(blobs: BlobStore, options: WriteOptions = {}): Promise<VerifyingWriter> {
    return new VerifyingWriter(await blobs.create({ signal: options.signal, sizeHint: sizeHintOf(options) }), options);
  }

  private constructor(private readonly blob: BlobWriter, private readonly options: WriteOptions) {
    const expect = options.expect ?? {};
    const sizeHint = sizeHintOf(options);
    this.families = options.families ?? STORED_LEAF_FAMILIES;
    this.digester = new StreamDigester(this.families, sizeHint, expect.etag !== undefined || options.contentEtag === true);
    this.tap = new Transform({
      // Big enough not to split the 2-4 MiB chunks sockets and files deliver.
      highWaterMark: MIB,
      transform: (chunk: Buffer, _enc, cb) => {
        this.received += chunk.byteLength;
        if (expect.size !== undefined && this.received > expect.size) {
          cb(new BlobCheckError('too-long', String(expect.size), `more than ${expect.size}`,
            `the data is longer than the ${expect.size} bytes expected`));
          return;
        }
        this.digester.update(chunk);
        // The chunk goes on to the store at once; the next one waits only while this
        // write's pool slots are all still being hashed (bounded memory, no global lock).
        const ready = this.digester.ready();
        if (!ready) cb(null, chunk);
        else {
          ready.then(() => cb(null, chunk), (err: unknown) => {
            this.storeFailed = true; // a hash worker died: the server's failure, not short data
            cb(err as Error);
          });
        }
      },
    });
    // Before the pipeline's own listener: a source failure has errored the tap by the time
    // the pipeline passes it on to the blob stream; a store failure has not.
    blob.stream.once('error', () => { if (!this.tap.errored) this.storeFailed = true; });
    this.flowing = pipeline(this.tap, blob.stream);
    this.tap.on('error', () => undefined); // a write after a failure must not crash the process
    this.flowing.catch(() => undefined); // awaited by finish; a failure must not go unhandled before
  }

  get key(): string {
    return this.blob.key;
  }

  /** Bytes taken in so far. */
  get bytesReceived(): number {
    return this.received;
  }

  /** Streams all of `source` in (backpressure kept); a source that fails short of expect.size is 'too-short'. */
  async pipeFrom(source: Readable | AsyncIterable<Buffer>): Promise<void> {
    try {
      await pipeline(source, this.tap);
    } catch (err) {
      throw this.describe(err);
    }
  }

  /** Writes one chunk, waiting while the blob store is behind. */
  async write(chunk: Buffer): Promise<void> {
    if (this.tap.errored) throw this.describe(this.tap.errored);
    if (this.tap.write(chunk)) return;
    try {
      await once(this.tap, 'drain', this.options.signal ? { signal: this.options.signal } : {});
    } catch (err) {
      throw this.describe(err);
    }
  }

  /** Ends the input, waits for the blob stream and checks everything; returns what was written. */
  async finish(): Promise<WrittenDigest> {
    if (this.state !== 'open') throw new Error(`blob ${this.key}: finish after ${this.state}`);
    this.state = 'finished';
    if (!this.tap.writableEnded) this.tap.end();
    try {
      await this.flowing;
    } catch (err) {
      throw this.describe(err);
    }
    const expect = this.options.expect ?? {};
    const size = this.received;
    if (expect.size !== undefined && size < expect.size) {
      throw new BlobCheckError('too-short', String(expect.size), String(size), `the data ended after ${size} of ${expect.size} bytes`);
    }
    const digested = await this.digester.digest();
    const etag = digested.etag ?? '';
    if (expect.etag !== undefined && etag !== expect.etag) {
      throw new BlobCheckError('etag', expect.etag, etag, `the data's MD5 is ${etag}, not ${expect.etag}`);
    }
    const leaves = digested.leaves;
    const trees: Record<string, string> = {};
    for (const family of this.families) {
      trees[family.name] = family.tree(leaves[family.name]!);
      const want = expect.trees?.[family.name];
      if (want !== undefined && want !== trees[family.name]) {
        throw new BlobCheckError('tree', want, trees[family.name]!, `the data's ${family.name} tree hash is ${trees[family.name]}, not ${want}`, family.name);
      }
    }
    if (expect.md5Leaves && leaves.md5 && !expect.md5Leaves.equals(leaves.md5)) {
      const leaf = firstDifference(expect.md5Leaves, leaves.md5, 16);
      const end = Math.min(size, (leaf + 1) * MIB) - 1;
      throw new BlobCheckError('leaves', 'stored md5 leaves', 'other md5 leaves',
        `bytes ${leaf * MIB}-${end} do not match their stored checksum`, 'md5', leaf);
    }
    this.digest = { size, etag, trees, treeEtag: trees.md5 ?? '', leaves };
    return this.digest;
  }

  /** Makes the checked blob durable and visible (after finish). */
  async commit(): Promise<WrittenBlob> {
    if (this.state !== 'finished' || !this.digest) throw new Error(`blob ${this.key}: commit before a successful finish`);
    await this.blob.commit(this.digest.leaves);
    this.state = 'committed';
    return { key: this.key, ...this.digest };
  }

  /** Discards everything; safe at any point, a no-op after commit. */
  async abort(): Promise<void> {
    if (this.state === 'committed' || this.state === 'aborted') return;
    this.state = 'aborted';
    this.digester.destroy();
    if (!this.tap.destroyed) this.tap.destroy();
    await this.blob.abort().catch(() => undefined);
  }

  /** A failure while streaming, as the caller should see it. */
  private describe(err: unknown): unknown {
    if (this.options.signal?.aborted) return this.options.signal.reason;
    if (err instanceof BlobCheckError) return err;
    // No room is never the source's fault, whichever stream reported its end first.
    if (isStorageFull(this.blob.stream.errored)) return this.blob.stream.errored;
    if (isStorageFull(err)) return err;
    const size = this.options.expect?.size;
    // The source gave out before the expected end (a client that went away): the data is
    // incomplete. A failure of the blob store itself stays what it is.
    if (size !== undefined && this.received < size && !this.storeFailed) {
      return new BlobCheckError('too-short', String(size), String(this.received),
        `the data ended after ${this.received} of ${size} bytes`, undefined, undefined, { cause: err });
    }
    return err;
  }
}

function firstDifference(a: Buffer, b: Buffer, width: number): number {
  let i = 0;
  while ((i + 1) * width <= Math.min(a.length, b.length) && a.subarray(i * width, (i + 1) * width).equals(b.subarray(i * width, (i + 1) * width))) i++;
  return i;
}

/**
 * The whole write sequence: streams `source` into a new blob, checks it, commits it.
 * Anything short of a checked, committed blob leaves nothing behind.
 */
export async function writeBlob(blobs: BlobStore, source: Readable | AsyncIterable<Buffer>, options: WriteOptions = {}): Promise<WrittenBlob> {
  const writer = await VerifyingWriter.open(blobs, options);
  try {
    await writer.pipeFrom(source);
    await writer.finish();
    return await writer.commit();
  } catch (err) {
    await writer.abort();
    throw options.signal?.aborted ? options.signal.reason : err;
  }
}
