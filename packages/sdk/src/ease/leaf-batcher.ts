// Tree etag of a stream of 1 MiB leaves, hashed 8 at a time on the shared leaf worker
// (protocol/hash-worker.ts). The leaf buffers it hands out are views of a worker slot, so
// the caller's one copy (socket chunk → leaf) is the only one; the caller may also write a
// leaf elsewhere meanwhile (the download's file). A slot goes back to the pool as soon as
// the worker is done with it and every such write has landed (its digests copied out).
// With no slot free (other hashing in the process), a batch uses a private buffer and is
// hashed on this thread.
import { createHash } from 'node:crypto';
import { MIB, TreeEtagBuilder } from '../protocol/etag.js';
import { SLOT_SIZE, leafPool, type LeafSlot } from '../protocol/hash-worker.js';

/** Leaves per batch: one worker message per 8 MiB, one SIMD lane per leaf. */
export const LEAVES_PER_BATCH = SLOT_SIZE / MIB;

/**
 * Batches in flight shared by several batchers (a download's pieces): each batch is 8 MiB
 * of memory, so this bounds the download's memory whatever its concurrency.
 */
export class BatchBudget {
  private used = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly limit: number) {}

  async take(): Promise<void> {
    while (this.used >= this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.used++;
  }

  give(): void {
    this.used--;
    this.waiters.shift()?.();
  }
}

interface Batch {
  slot: LeafSlot | undefined;
  data: Buffer;
  /** Bytes of each leaf filled so far; only the last may be short. */
  lengths: number[];
  writes: Promise<unknown>[];
  submitted: boolean;
  /** Set once hashed: the leaves' raw digests. */
  digests: Buffer[] | undefined;
  /** Settles once hashed and every write from the batch has landed, the memory given back. */
  done: Promise<void> | undefined;
}

export class LeafBatcher {
  private readonly batches: Batch[] = [];
  private readonly tree = new TreeEtagBuilder();
  /** Private buffers of inline batches, kept for reuse. */
  private readonly spare: Buffer[] = [];
  private closed = false;
  /** Leaves hashed and added to the tree so far. */
  leaves = 0;

  /**
   * At most `maxBatches` batches (8 MiB each) of this batcher in flight, and one from
   * `budget` for each; leafBuffer() waits past either.
   */
  constructor(private readonly maxBatches = 2, private readonly budget = new BatchBudget(maxBatches)) {}

  /** A 1 MiB buffer for the next leaf; call leafDone() once it is filled. */
  async leafBuffer(): Promise<Buffer> {
    const now = this.leafBufferNow();
    if (now) return now;
    if (this.closed) throw new Error('LeafBatcher: used after digest or discard');
    while (this.batches.length >= this.maxBatches) await this.settleHead();
    await this.budget.take();
    if (this.closed) {
      this.budget.give();
      throw new Error('LeafBatcher: discarded while waiting for memory');
    }
    return this.newBatch().data.subarray(0, MIB);
  }

  /** The next leaf's buffer when it needs no new batch (7 leaves in 8); else undefined. */
  leafBufferNow(): Buffer | undefined {
    const batch = this.batches.at(-1);
    if (this.closed || !batch || batch.submitted) return undefined;
    const at = batch.lengths.length * MIB;
    return batch.data.subarray(at, at + MIB);
  }

  /**
   * The buffer leafBuffer() gave last now holds `length` bytes (MIB, or fewer for the last
   * leaf); `written` settles once the caller no longer reads it (a rejection fails the batch).
   */
  leafDone(length: number, written?: Promise<unknown>): void {
    const batch = this.batches.at(-1);
    if (!batch || batch.submitted) throw new Error('LeafBatcher: leafDone without leafBuffer');
    if (length <= 0 || length > MIB) throw new RangeError(`LeafBatcher: a leaf holds 1 to ${MIB} bytes, got ${length}`);
    batch.lengths.push(length);
    if (written) batch.writes.push(written);
    if (length < MIB || batch.lengths.length === LEAVES_PER_BATCH) this.submit(batch);
  }

  /** Hashes what is left and returns the tree etag of every leaf, in order. */
  async digest(): Promise<string> {
    if (this.closed) throw new Error('LeafBatcher: used after digest or discard');
    this.closed = true;
    const last = this.batches.at(-1);
    if (last && !last.submitted) this.submit(last);
    while (this.batches.length > 0) await this.settleHead();
    return this.tree.digest();
  }

  /** Abandons the hash: waits for the caller's writes and the worker, gives all memory back. */
  async discard(): Promise<void> {
    this.closed = true;
    const batches = this.batches.splice(0);
    for (const batch of batches) if (!batch.submitted) this.submit(batch);
    await Promise.allSettled(batches.map((b) => b.done));
  }

  private newBatch(): Batch {
    const slot = leafPool.acquire();
    const data = slot ? slot.data : this.spare.pop() ?? Buffer.allocUnsafeSlow(SLOT_SIZE);
    const batch: Batch = { slot, data, lengths: [], writes: [], submitted: false, digests: undefined, done: undefined };
    this.batches.push(batch);
    return batch;
  }

  private submit(batch: Batch): void {
    batch.submitted = true;
    const { slot, lengths } = batch;
    const total = lengths.reduce((a, b) => a + b, 0);
    let hashed: Promise<void>;
    if (total === 0) {
      batch.digests = [];
      hashed = Promise.resolve();
    } else if (slot) {
      hashed = new Promise<void>((resolve) => leafPool.submit(slot, total, resolve));
    } else {
      batch.digests = lengths.map((length, i) => createHash('md5').update(batch.data.subarray(i * MIB, i * MIB + length)).digest());
      hashed = Promise.resolve();
    }
    // Every write must have landed before the memory is reused, failed or not.
    batch.done = Promise.allSettled([hashed, ...batch.writes]).then((results) => {
      if (slot && total > 0) {
        if (slot.error) throw slot.error;
        batch.digests = lengths.map((_, i) => leafPool.digest(slot, i));
      }
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    }).finally(() => {
      if (slot) leafPool.release(slot);
      else if (this.spare.length < this.maxBatches) this.spare.push(batch.data);
      this.budget.give();
    });
    batch.done.catch(() => {}); // awaited in settleHead or discard; this only avoids an unhandled rejection
  }

  /** Waits for the oldest batch and adds its leaves to the tree. */
  private async settleHead(): Promise<void> {
    const batch = this.batches[0]!;
    if (!batch.submitted) this.submit(batch);
    try {
      await batch.done;
    } catch (error) {
      await this.discard();
      throw error;
    }
    this.batches.shift();
    for (const digest of batch.digests!) this.tree.push(digest.toString('hex'));
    this.leaves += batch.digests!.length;
  }
}
