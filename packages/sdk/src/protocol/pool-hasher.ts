// Leaf digests of a byte stream in any chunking, for one or more algorithms at once, on the
// worker pool (hash-worker.ts): bytes are copied once into 8 MiB shared slots, each full
// slot goes to the workers (one job per algorithm, so MD5 and SHA-256 of the same bytes run
// side by side) while the caller goes on receiving. The whole-data MD5 can run there too
// (an MD5 chain on one worker), leaving the caller's thread nothing but the copy. `ready()`
// tells the caller when to wait, so a fast producer holds at most `maxSlots` slots and
// never grows memory.
import { MIB } from './etag.js';
import { InlineLeaves } from './hash-file.js';
import { SLOT_SIZE, copyIntoShared, leafPool, type LeafAlgorithm, type LeafSlot, type Md5Chain } from './hash-worker.js';

export interface PooledHasherOptions {
  /** The leaf algorithms to compute (each digest() result has one entry per algorithm). */
  algorithms: readonly LeafAlgorithm[];
  /** Slots held at most (filling + hashing); default 3 (24 MiB). A function is asked again each time. */
  maxSlots?: number | (() => number);
  /** Also the MD5 of all the bytes (`contentMd5` of the digest), on a worker. */
  contentMd5?: boolean;
}

export interface PooledDigest {
  /** Every leaf digest per algorithm, concatenated in order (the last leaf may be short). */
  leaves: Map<LeafAlgorithm, Buffer>;
  /** The MD5 of all the bytes, when asked for. */
  contentMd5?: Buffer;
}

type Batch = { slot: LeafSlot; count: number } | { inline: Map<LeafAlgorithm, Buffer[]> };

/** Bytes of inline batches the MD5 chain's worker may be behind by before ready() waits. */
const CHAIN_BACKLOG = 16 * MIB;

export class PooledHasher {
  private readonly algorithms: readonly LeafAlgorithm[];
  private readonly limit: () => number;
  private readonly batches: Batch[] = [];
  private readonly out = new Map<LeafAlgorithm, Buffer[]>();
  private readonly chain: Md5Chain | undefined;
  private held = 0;
  private fill = 0;
  private slot: LeafSlot | undefined;
  private inline: Map<LeafAlgorithm, InlineLeaves> | undefined;
  private total = 0;
  private error: Error | undefined;
  private waiter: (() => void) | undefined;
  private state: 'open' | 'digested' | 'destroyed' = 'open';
  private readonly wake = (): void => {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  };

  constructor(options: PooledHasherOptions) {
    if (options.algorithms.length === 0) throw new RangeError('PooledHasher: no algorithm');
    this.algorithms = [...new Set(options.algorithms)];
    const max = options.maxSlots ?? 3;
    this.limit = typeof max === 'function' ? () => Math.max(1, max()) : () => Math.max(1, max);
    for (const alg of this.algorithms) this.out.set(alg, []);
    this.chain = options.contentMd5 ? leafPool.openChain() : undefined;
  }

  get size(): number {
    return this.total;
  }

  update(chunk: Uint8Array): this {
    if (this.state !== 'open') throw new Error(`PooledHasher: update after ${this.state === 'digested' ? 'digest' : 'destroy'}`);
    this.total += chunk.byteLength;
    for (let at = 0; at < chunk.byteLength;) {
      if (this.fill === 0) this.startBatch();
      const take = Math.min(SLOT_SIZE - this.fill, chunk.byteLength - at);
      const part = at === 0 && take === chunk.byteLength ? chunk : chunk.subarray(at, at + take);
      if (this.slot) copyIntoShared(part, this.slot.data, this.fill);
      else {
        for (const leaves of this.inline!.values()) leaves.update(part);
        if (this.chain) leafPool.chainBytes(this.chain, part);
      }
      this.fill += take;
      at += take;
      if (this.fill === SLOT_SIZE) this.endBatch();
    }
    return this;
  }

  /**
   * Undefined when the caller may send more at once; else a promise that resolves once it
   * may (this hasher's slots are all busy) and rejects if a worker failed.
   */
  ready(): Promise<void> | undefined {
    this.drain();
    if (this.error) return Promise.reject(this.error);
    if (this.chain?.error) return Promise.reject(this.chain.error);
    const behind = this.chain && leafPool.caughtUp(this.chain, CHAIN_BACKLOG);
    if (behind) return behind.then(() => this.ready());
    // Held slots include the one filling; with nothing submitted there is nothing to wait for.
    if (this.held < this.limit() || this.batches.length === 0) return undefined;
    return this.waitHead().then(() => this.ready());
  }

  async digest(): Promise<PooledDigest> {
    if (this.state !== 'open') throw new Error(`PooledHasher: digest after ${this.state === 'digested' ? 'digest' : 'destroy'}`);
    this.state = 'digested';
    try {
      if (this.fill > 0) this.endBatch();
      for (this.drain(); this.batches.length > 0 && !this.error; this.drain()) await this.waitHead();
      if (this.error) throw this.error;
      const contentMd5 = this.chain && await leafPool.endChain(this.chain);
      if ((this.state as string) === 'destroyed') throw new Error('PooledHasher: destroyed while digesting');
      const leaves = new Map([...this.out].map(([alg, list]) => [alg, Buffer.concat(list)]));
      return contentMd5 ? { leaves, contentMd5 } : { leaves };
    } catch (err) {
      this.discard();
      throw err;
    }
  }

  /** Abandons the hash: slots go back to the pool (once the workers let go of them). */
  destroy(): void {
    if (this.state === 'destroyed') return;
    this.state = 'destroyed';
    if (this.slot) leafPool.release(this.slot);
    this.slot = undefined;
    this.inline = undefined;
    this.discard();
  }

  private startBatch(): void {
    this.drain();
    const slot = this.held < this.limit() ? leafPool.acquire() : undefined;
    if (slot) {
      this.slot = slot;
      this.held++;
    } else {
      // Pool taken by others (or the caller ignored ready()): hash this batch here.
      this.inline = new Map(this.algorithms.map((alg) => [alg, new InlineLeaves(alg)]));
    }
  }

  private endBatch(): void {
    if (this.slot) {
      leafPool.submit(this.slot, this.fill, this.wake, { algorithms: this.algorithms, chain: this.chain });
      this.batches.push({ slot: this.slot, count: Math.ceil(this.fill / MIB) });
    } else {
      this.batches.push({ inline: new Map([...this.inline!].map(([alg, leaves]) => [alg, leaves.finish()])) });
    }
    this.slot = undefined;
    this.inline = undefined;
    this.fill = 0;
  }

  /** Collects every leading batch that is done; stops at a failed one (see `error`). */
  private drain(): void {
    for (let head = this.batches[0]; head && !this.error; head = this.batches[0]) {
      if ('slot' in head) {
        const { slot } = head;
        if (!leafPool.settled(slot)) return;
        if (slot.error) {
          this.error = slot.error;
          return;
        }
        for (const alg of this.algorithms) {
          const list = this.out.get(alg)!;
          for (let i = 0; i < head.count; i++) list.push(leafPool.digest(slot, i, alg));
        }
        leafPool.release(slot);
        this.held--;
      } else {
        for (const [alg, digests] of head.inline) this.out.get(alg)!.push(...digests);
      }
      this.batches.shift();
    }
  }

  private async waitHead(): Promise<void> {
    const head = this.batches[0];
    if (!head || !('slot' in head) || leafPool.settled(head.slot)) return;
    await new Promise<void>((resolve) => { this.waiter = resolve; });
  }

  private discard(): void {
    if (this.chain) leafPool.dropChain(this.chain);
    for (const batch of this.batches) if ('slot' in batch) leafPool.releaseWhenSettled(batch.slot);
    this.batches.length = 0;
    this.held = 0;
    this.wake();
  }
}

/**
 * One pool slot to fill and hash in place, without a copy: for readers that read straight
 * into shared memory and pass the same bytes on. Undefined from `acquire` when every slot
 * is taken (the caller then uses its own buffer and hashes elsewhere).
 */
export class LeafBuffer {
  private released = false;

  private constructor(private readonly slot: LeafSlot) {}

  static acquire(): LeafBuffer | undefined {
    const slot = leafPool.acquire();
    return slot && new LeafBuffer(slot);
  }

  /** SLOT_SIZE bytes of shared memory; valid until release. */
  get data(): Buffer {
    return this.slot.data;
  }

  /** The leaf digests of `data[0, length)`, concatenated (the last leaf may be short). */
  async hash(length: number, algorithm: LeafAlgorithm): Promise<Buffer> {
    if (this.released) throw new Error('LeafBuffer: hash after release');
    if (length === 0) return Buffer.alloc(0);
    await new Promise<void>((resolve) => leafPool.submit(this.slot, length, resolve, { algorithms: [algorithm] }));
    if (this.slot.error) throw this.slot.error;
    return Buffer.concat(Array.from({ length: Math.ceil(length / MIB) }, (_, i) => leafPool.digest(this.slot, i, algorithm)));
  }

  /** Gives the slot back (once the workers let go of it); the bytes must no longer be used. */
  release(): void {
    if (this.released) return;
    this.released = true;
    leafPool.releaseWhenSettled(this.slot);
  }
}
