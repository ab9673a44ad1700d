// Fast paths for both checksums (protocol.md §3) in one pass over the data. hashFile reads
// into the pool's shared memory and both MD5s run on the pool's workers (the whole-data
// MD5 as a chain pinned to one worker, the 1 MiB leaves beside it; hash-worker.ts), so the
// calling thread only reads: an upload's sender shares it. The stream hasher below keeps
// the whole-data MD5 on the calling thread.
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { MIB, TreeEtagBuilder, type Checksums } from './etag.js';
import { SLOT_SIZE, copyIntoShared, leafPool, type LeafAlgorithm, type LeafSlot, type Md5Chain } from './hash-worker.js';

export { configureLeafWorker, leafWorkerStats, stopLeafWorker, type LeafAlgorithm } from './hash-worker.js';

/** Below this a file range is hashed on the calling thread: a worker round trip buys nothing. */
const PARALLEL_MIN = 8 * MIB;
/** Reads in flight for hashFile: while one chunk is hashed, the next one is on its way. */
const READS_IN_FLIGHT = 2;
/**
 * Slots one hashFile call may hold (reads + worker queue): 24 MiB. One more read ahead
 * measured no faster, from the page cache or the disk, and every slot touched is 8 MiB
 * more of an upload's resident memory.
 */
const FILE_SLOTS = 3;
/** Slots one stream hasher may hold; past it (worker behind) it hashes leaves itself. */
const STREAM_SLOTS = 3;

type LeafCallback = (digest: Buffer, index: number) => void;

export interface HashFileOptions {
  /** First byte of the range (default 0). Leaves are counted from here. */
  offset?: number;
  /** Bytes to hash (default: to the end of the file). */
  length?: number;
  signal?: AbortSignal;
  /** Called with the bytes fully hashed so far; the last call reports the whole length. */
  onProgress?: (bytesDone: number) => void;
  /** Each leaf's raw 16-byte MD5, in order. */
  onLeaf?: LeafCallback;
  /** Also return all leaf digests, concatenated (16 bytes per MiB), as the server stores them. */
  leaves?: boolean;
}

export interface FileChecksums extends Checksums {
  /** With `leaves: true`: the raw leaf digests, 16 bytes each, in order. */
  leaves?: Buffer;
}

/** Hashes 1 MiB leaves on this thread (small inputs, or when no worker slot is free). */
export class InlineLeaves {
  private hash: Hash;
  private fill = 0;
  readonly digests: Buffer[] = [];

  constructor(private readonly algorithm: LeafAlgorithm = 'md5') {
    this.hash = createHash(algorithm);
  }

  update(data: Uint8Array): this {
    for (let at = 0; at < data.byteLength; ) {
      const take = Math.min(MIB - this.fill, data.byteLength - at);
      this.hash.update(data.subarray(at, at + take));
      this.fill += take;
      at += take;
      if (this.fill === MIB) this.close();
    }
    return this;
  }

  finish(): Buffer[] {
    if (this.fill > 0) this.close();
    return this.digests;
  }

  private close(): void {
    this.digests.push(this.hash.digest());
    this.hash = createHash(this.algorithm);
    this.fill = 0;
  }
}

type Batch = { slot: LeafSlot; count: number } | { digests: Buffer[] };

/**
 * Batches of leaves in data order, hashed on the worker or inline; delivers their digests
 * in order to onLeaf and the tree as soon as the leading batches are done.
 */
class LeafQueue {
  private readonly batches: Batch[] = [];
  private readonly tree = new TreeEtagBuilder();
  private readonly collected: Buffer[] | undefined;
  private waiter: (() => void) | undefined;
  private readonly wake = (): void => {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  };
  slotsHeld = 0;
  delivered = 0;

  constructor(private readonly onLeaf: LeafCallback | undefined, collect = false) {
    this.collected = collect ? [] : undefined;
  }

  pushSlot(slot: LeafSlot, len: number, chain?: Md5Chain): void {
    leafPool.submit(slot, len, this.wake, chain ? { chain } : {});
    this.batches.push({ slot, count: Math.ceil(len / MIB) });
  }

  pushInline(digests: Buffer[]): void {
    this.batches.push({ digests });
  }

  /** The worker failure that lost a batch; the result can no longer be computed. */
  error: Error | undefined;

  /** Delivers every leading batch that is done; stops at a failed one (see `error`). */
  drain(): void {
    for (let head = this.batches[0]; head && !this.error; head = this.batches[0]) {
      if ('slot' in head) {
        if (!leafPool.settled(head.slot)) return;
        const { slot } = head;
        if (slot.error) {
          this.error = slot.error;
          return;
        }
        for (let i = 0; i < head.count; i++) this.deliver(leafPool.digest(slot, i));
        leafPool.release(slot);
        this.slotsHeld--;
      } else {
        for (const digest of head.digests) this.deliver(digest);
      }
      this.batches.shift();
    }
  }

  get pending(): number {
    return this.batches.length;
  }

  /** Resolves once the leading batch may be done (then call drain). */
  async waitHead(): Promise<void> {
    const head = this.batches[0];
    if (!head || !('slot' in head) || leafPool.settled(head.slot)) return;
    await new Promise<void>((resolve) => { this.waiter = resolve; });
  }

  /** Waits for and delivers every batch; throws the worker's failure if one was lost. */
  async finish(): Promise<void> {
    for (this.drain(); this.pending > 0 && !this.error; this.drain()) await this.waitHead();
    if (this.error) throw this.error;
  }

  treeEtag(): string {
    return this.tree.digest();
  }

  leaves(): Buffer | undefined {
    return this.collected && Buffer.concat(this.collected);
  }

  /** Gives every slot back (now, or when the worker is done with it); used on abort. */
  discard(): void {
    for (const batch of this.batches) if ('slot' in batch) leafPool.releaseWhenSettled(batch.slot);
    this.batches.length = 0;
    this.slotsHeld = 0;
    this.wake(); // a digest() waiting on a discarded batch must not hang
  }

  private deliver(digest: Buffer): void {
    const index = this.delivered++; // not inside onLeaf?.(...): its arguments may be skipped
    this.onLeaf?.(digest, index);
    this.collected?.push(digest);
    this.tree.push(digest.toString('hex'));
  }
}

async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let at = 0; at < buf.byteLength; ) {
    const { bytesRead } = await fh.read(buf, at, buf.byteLength - at, position + at);
    if (bytesRead === 0) throw new Error(`file ended early at byte ${position + at} (was it truncated while hashing?)`);
    at += bytesRead;
  }
}

function checkRange(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`hashFile: ${name} must be a non-negative integer, got ${value}`);
}

/**
 * Content etag and tree etag of a file range in one pass: reads in 8 MiB chunks straight
 * into shared memory, the whole-range MD5 here and the leaf MD5s on the worker.
 */
export async function hashFile(path: string, options: HashFileOptions = {}): Promise<FileChecksums> {
  const { signal, onProgress } = options;
  signal?.throwIfAborted();
  const offset = options.offset ?? 0;
  checkRange('offset', offset);
  if (options.length !== undefined) checkRange('length', options.length);
  const fh = await open(path, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    const length = options.length ?? Math.max(0, fileSize - offset);
    if (offset + length > fileSize) {
      throw new RangeError(`hashFile: range ${offset}..${offset + length} ends past the end of ${path} (${fileSize} bytes)`);
    }
    const queue = new LeafQueue(options.onLeaf, options.leaves);
    let content: Buffer;
    if (length < PARALLEL_MIN) {
      const data = Buffer.allocUnsafe(length);
      await readFully(fh, data, offset);
      signal?.throwIfAborted();
      content = createHash('md5').update(data).digest();
      queue.pushInline(new InlineLeaves().update(data).finish());
      queue.drain();
    } else {
      content = await hashRange(fh, offset, length, queue, options);
    }
    onProgress?.(length);
    const result: FileChecksums = { etag: content.toString('hex').toUpperCase(), treeEtag: queue.treeEtag(), size: length };
    const leaves = queue.leaves();
    if (leaves) result.leaves = leaves;
    return result;
  } finally {
    await fh.close();
  }
}

interface Read {
  done: Promise<void>;
  data: Buffer;
  slot: LeafSlot | undefined;
}

/** Bytes read outside the pool (no slot free) the MD5 chain's worker may be behind by. */
const CHAIN_BACKLOG = 2 * SLOT_SIZE;

/** Reads the range into pool slots; returns the whole range's MD5 (from the chain). */
async function hashRange(fh: FileHandle, offset: number, length: number, queue: LeafQueue,
  { signal, onProgress }: HashFileOptions): Promise<Buffer> {
  const chain: Md5Chain = leafPool.openChain();
  const reads: Read[] = [];
  let readPos = 0;
  let hashed = 0;
  let reported = -1;
  let inlineBuf: Buffer | undefined; // only when the pool is exhausted and we hold no slot
  let inlineBusy = false;

  // Starts reads (slot first, so the worker can take the chunk the moment it lands).
  const issue = (): void => {
    while (reads.length < READS_IN_FLIGHT && readPos < length) {
      const len = Math.min(SLOT_SIZE, length - readPos);
      const slot = queue.slotsHeld < FILE_SLOTS ? leafPool.acquire() : undefined;
      let data: Buffer;
      if (slot) {
        queue.slotsHeld++;
        data = slot.data.subarray(0, len);
      } else if (queue.slotsHeld === 0 && !inlineBusy) {
        inlineBuf ??= Buffer.allocUnsafe(SLOT_SIZE);
        inlineBusy = true;
        data = inlineBuf.subarray(0, len);
      } else {
        return; // wait for our own slots to come back from the worker
      }
      const done = readFully(fh, data, offset + readPos);
      done.catch(() => {}); // awaited in order below; this only avoids an unhandled rejection
      reads.push({ done, data, slot });
      readPos += len;
    }
  };

  try {
    issue();
    while (hashed < length) {
      signal?.throwIfAborted();
      const read = reads.shift();
      if (!read) {
        await queue.waitHead();
        queue.drain();
        if (queue.error) throw queue.error;
        issue();
        continue;
      }
      try {
        await read.done;
      } catch (err) {
        if (read.slot) leafPool.release(read.slot);
        throw err;
      }
      if (read.slot) queue.pushSlot(read.slot, read.data.byteLength, chain);
      issue();
      if (!read.slot) {
        leafPool.chainBytes(chain, read.data);
        queue.pushInline(new InlineLeaves().update(read.data).finish());
        inlineBusy = false;
        await leafPool.caughtUp(chain, CHAIN_BACKLOG);
      }
      hashed += read.data.byteLength;
      queue.drain();
      if (queue.error) throw queue.error;
      issue();
      const done = Math.min(hashed, queue.delivered * MIB);
      if (onProgress && done > reported && done < length) onProgress((reported = done));
    }
    await queue.finish();
    if (chain.error) throw chain.error;
    return await leafPool.endChain(chain);
  } finally {
    // On abort or error: let reads land before the file closes, then free every slot.
    for (const read of reads) {
      await read.done.catch(() => {});
      if (read.slot) leafPool.release(read.slot);
    }
    queue.discard();
    leafPool.dropChain(chain); // nothing when it ended
  }
}

export interface ParallelChecksumHasherOptions {
  /** Each leaf's raw 16-byte MD5 in order (may be called from update() or digest()). */
  onLeaf?: LeafCallback;
  /**
   * Also the whole-data MD5 (default true). Off, only the leaves are hashed (on the worker)
   * and digest() returns '' as etag: for callers that need no content etag.
   */
  content?: boolean;
}

/**
 * ChecksumHasher with the leaves on the shared worker, for bytes arriving as a stream (e.g.
 * an upload's socket). Chunks are copied into 8 MiB shared batches (callers may reuse their
 * buffers); the whole MD5 runs on the calling thread as chunks arrive. The first batch, and
 * any batch started while no slot is free, is hashed inline, so tiny inputs never touch the
 * worker and a busy worker never grows memory. Results equal ChecksumHasher's.
 */
export class ParallelChecksumHasher {
  private readonly whole: Hash | undefined;
  private readonly queue: LeafQueue;
  private total = 0;
  private batchFill = 0;
  private batches = 0;
  private slot: LeafSlot | undefined;
  private inline: InlineLeaves | undefined;
  private state: 'open' | 'digested' | 'destroyed' = 'open';

  constructor(options: ParallelChecksumHasherOptions = {}) {
    this.queue = new LeafQueue(options.onLeaf);
    this.whole = options.content === false ? undefined : createHash('md5');
  }

  get size(): number {
    return this.total;
  }

  update(chunk: Uint8Array): this {
    if (this.state !== 'open') throw new Error(`ParallelChecksumHasher: update after ${this.state === 'digested' ? 'digest' : 'destroy'}`);
    this.whole?.update(chunk);
    this.total += chunk.byteLength;
    for (let at = 0; at < chunk.byteLength; ) {
      if (this.batchFill === 0) this.startBatch();
      const take = Math.min(SLOT_SIZE - this.batchFill, chunk.byteLength - at);
      const part = chunk.subarray(at, at + take);
      if (this.slot) copyIntoShared(part, this.slot.data, this.batchFill);
      else this.inline!.update(part);
      this.batchFill += take;
      at += take;
      if (this.batchFill === SLOT_SIZE) this.endBatch();
    }
    return this;
  }

  async digest(): Promise<Checksums> {
    if (this.state !== 'open') throw new Error(`ParallelChecksumHasher: digest after ${this.state === 'digested' ? 'digest' : 'destroy'}`);
    this.state = 'digested';
    try {
      if (this.batchFill > 0) this.endBatch();
      await this.queue.finish();
    } catch (err) {
      this.queue.discard();
      throw err;
    }
    // destroy() may have run while we awaited the worker.
    if ((this.state as string) === 'destroyed') throw new Error('ParallelChecksumHasher: destroyed while digesting');
    return { etag: this.whole?.digest('hex').toUpperCase() ?? '', treeEtag: this.queue.treeEtag(), size: this.total };
  }

  /** Abandons the hash (aborted upload): slots go back to the pool, nothing keeps running. */
  destroy(): void {
    if (this.state === 'destroyed') return;
    this.state = 'destroyed';
    if (this.slot) leafPool.release(this.slot);
    this.slot = undefined;
    this.inline = undefined;
    this.queue.discard();
  }

  private startBatch(): void {
    this.queue.drain();
    // The first batch stays inline: inputs up to 8 MiB never wait on the worker.
    const slot = this.batches++ > 0 && this.queue.slotsHeld < STREAM_SLOTS ? leafPool.acquire() : undefined;
    if (slot) {
      this.slot = slot;
      this.queue.slotsHeld++;
    } else {
      this.inline = new InlineLeaves();
    }
  }

  private endBatch(): void {
    if (this.slot) this.queue.pushSlot(this.slot, this.batchFill);
    else this.queue.pushInline(this.inline!.finish());
    this.slot = undefined;
    this.inline = undefined;
    this.batchFill = 0;
  }
}

/** Both checksums of a stream, leaves on the worker (see ParallelChecksumHasher). */
export async function hashStreamParallel(stream: Readable | AsyncIterable<Uint8Array>,
  options: ParallelChecksumHasherOptions = {}): Promise<Checksums> {
  const hasher = new ParallelChecksumHasher(options);
  try {
    for await (const chunk of stream) hasher.update(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  } catch (err) {
    hasher.destroy();
    throw err;
  }
  return hasher.digest();
}

/**
 * The raw digest (MD5 by default, or SHA-256) of every 1 MiB leaf of `chunks` taken together
 * (at most 8 MiB; the last leaf may be short), on the worker pool when a slot is free, else
 * on this thread. For callers that check bytes they hold against known leaf digests before
 * passing them on: several calls may be in flight, each resolves once its leaves are done.
 */
export async function hashLeaves(chunks: readonly Uint8Array[], options: { algorithm?: LeafAlgorithm } = {}): Promise<Buffer[]> {
  const algorithm = options.algorithm ?? 'md5';
  let length = 0;
  for (const c of chunks) length += c.byteLength;
  if (length > SLOT_SIZE) throw new RangeError(`hashLeaves: at most ${SLOT_SIZE} bytes at a time, got ${length}`);
  // Less than a leaf is cheaper here than a round trip to a worker.
  const slot = length >= MIB ? leafPool.acquire() : undefined;
  if (!slot) {
    const inline = new InlineLeaves(algorithm);
    for (const c of chunks) inline.update(c);
    return inline.finish();
  }
  try {
    let at = 0;
    for (const c of chunks) {
      copyIntoShared(c, slot.data, at);
      at += c.byteLength;
    }
    await new Promise<void>((resolve) => leafPool.submit(slot, length, resolve, { algorithms: [algorithm] }));
    if (slot.error) throw slot.error;
    return Array.from({ length: Math.ceil(length / MIB) }, (_, i) => leafPool.digest(slot, i, algorithm));
  } finally {
    leafPool.releaseWhenSettled(slot);
  }
}
