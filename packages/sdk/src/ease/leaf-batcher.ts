// Tree etag of a stream of 1 MiB leaves, hashed 8 at a time on the shared leaf worker
// (protocol/hash-worker.ts). The leaf buffers it hands out are views of a worker slot, so
// the caller's one copy (socket chunk → leaf) is the only one; the caller may also write a
// leaf elsewhere meanwhile (the download's file), and a slot goes back to the pool only
// once the worker is done with it and every such write has landed. With no slot free
// (other hashing in the process), a batch uses a private buffer and hashes on this thread.
import { createHash } from 'node:crypto';
import { MIB, TreeEtagBuilder } from '../protocol/etag.js';
import { SLOT_SIZE, leafPool, type LeafSlot } from '../protocol/hash-worker.js';

/** Leaves per batch: one worker message per 8 MiB, one SIMD lane per leaf. */
export const LEAVES_PER_BATCH = SLOT_SIZE / MIB;

interface Batch {
  slot: LeafSlot | undefined;
  data: Buffer;
  /** Bytes of each leaf filled so far; only the last may be short. */
  lengths: number[];
  writes: Promise<unknown>[];
  submitted: boolean;
  /** Inline batches: their digests, computed at submit. */
  digests: Buffer[] | undefined;
  /** Settles when the leaves are hashed and every write from the batch has landed. */
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

  /** `maxBatches` batches (8 MiB each) in flight at most; leafBuffer() waits past it. */
  constructor(private readonly maxBatches = 2) {}

  /** A 1 MiB buffer for the next leaf; call leafDone() once it is filled. */
  async leafBuffer(): Promise<Buffer> {
    if (this.closed) throw new Error('LeafBatcher: used after digest or discard');
    let batch = this.batches.at(-1);
    if (!batch || batch.submitted) {
      while (this.batches.length >= this.maxBatches) await this.settleHead();
      batch = this.newBatch();
    }
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
    const last = this.batches.at(-1);
    if (last && !last.submitted) {
      if (last.lengths.length > 0) this.submit(last);
      else this.drop(this.batches.pop()!);
    }
    this.closed = true;
    while (this.batches.length > 0) await this.settleHead();
    return this.tree.digest();
  }

  /** Abandons the hash: waits for the caller's writes, gives every slot back (now or when the worker is done). */
  async discard(): Promise<void> {
    this.closed = true;
    const batches = this.batches.splice(0);
    await Promise.allSettled(batches.flatMap((b) => b.writes));
    for (const batch of batches) this.drop(batch);
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
    const total = batch.lengths.reduce((a, b) => a + b, 0);
    let hashed: Promise<void>;
    if (batch.slot) {
      const slot = batch.slot;
      hashed = new Promise<void>((resolve) => leafPool.submit(slot, total, resolve));
    } else {
      batch.digests = batch.lengths.map((length, i) => createHash('md5').update(batch.data.subarray(i * MIB, i * MIB + length)).digest());
      hashed = Promise.resolve();
    }
    batch.done = Promise.all([hashed, ...batch.writes]).then(() => undefined);
    batch.done.catch(() => {}); // awaited in settleHead; this only avoids an unhandled rejection
  }

  /** Waits for the oldest batch, adds its leaves to the tree and frees it. */
  private async settleHead(): Promise<void> {
    const batch = this.batches[0]!;
    if (!batch.submitted) this.submit(batch);
    try {
      await batch.done;
      if (batch.slot?.error) throw batch.slot.error;
    } catch (error) {
      await this.discard();
      throw error;
    }
    this.batches.shift();
    const count = batch.lengths.length;
    for (let i = 0; i < count; i++) {
      const digest = batch.slot ? leafPool.digest(batch.slot, i) : batch.digests![i]!;
      this.tree.push(digest.toString('hex'));
    }
    this.leaves += count;
    this.drop(batch);
  }

  private drop(batch: Batch): void {
    if (!batch.slot) {
      if (this.spare.length < this.maxBatches) this.spare.push(batch.data);
    } else if (batch.submitted) {
      leafPool.releaseWhenSettled(batch.slot);
    } else {
      leafPool.release(batch.slot);
    }
  }
}
