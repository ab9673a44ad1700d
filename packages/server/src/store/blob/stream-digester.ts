// The leaf digests of every family a write stores, and the MD5 of all its bytes when asked,
// computed as the bytes stream in. Large writes hash on the SDK's worker pool (one copy into
// shared memory; MD5 and SHA-256 leaves and the whole-data MD5 of the same slot on the
// workers), so hashing overlaps with receiving and writing, the request's thread only
// copies, and concurrent writes share every worker instead of queueing for one. Small
// writes (one slot or less) hash on this thread: a round trip to a worker buys nothing there.
import { createHash, type Hash } from 'node:crypto';
import { MIB, PooledHasher } from '@oas/sdk';
import type { LeafFamily, LeafHasher } from './leaf-families.js';

/** At or below this (one pool slot) a write hashes its leaves on this thread. */
const POOL_MIN_BYTES = 8 * MIB;
/**
 * Slots the large writes in flight share (64 MiB): one write alone holds up to 4 (filling +
 * hashing, slack for a busy machine), four at once 2 each. A budget, not a lock: every write
 * keeps hashing; it bounds the shared memory the writes touch (the server's peak RSS).
 */
const WRITE_SLOT_BUDGET = 8;
let pooledWrites = 0;
const slotsPerWrite = (): number => Math.min(4, Math.max(2, Math.floor(WRITE_SLOT_BUDGET / Math.max(1, pooledWrites))));

export interface StreamDigest {
  /** Every family's leaf digests, concatenated, by family name. */
  leaves: Record<string, Buffer>;
  /** The MD5 of all the bytes, upper-case hex, when asked for. */
  etag?: string;
}

export class StreamDigester {
  private readonly pooled: PooledHasher | undefined;
  /** The whole-data MD5 when it runs on this thread (small writes, or no pooled family). */
  private readonly content: Hash | undefined;
  private readonly pooledFamilies: LeafFamily[] = [];
  private readonly inline: { family: LeafFamily; hasher: LeafHasher }[] = [];
  private counted = false;

  /** `contentMd5`: also the MD5 of all the bytes (the content etag). */
  constructor(families: readonly LeafFamily[], sizeHint: number, contentMd5 = false) {
    const pool = sizeHint > POOL_MIN_BYTES;
    for (const family of families) {
      if (pool && family.poolAlgorithm) this.pooledFamilies.push(family);
      else this.inline.push({ family, hasher: family.createHasher(sizeHint) });
    }
    this.pooled = this.pooledFamilies.length > 0
      ? new PooledHasher({ algorithms: this.pooledFamilies.map((f) => f.poolAlgorithm!), maxSlots: slotsPerWrite, contentMd5 })
      : undefined;
    this.content = contentMd5 && !this.pooled ? createHash('md5') : undefined;
    if (this.pooled) {
      pooledWrites++;
      this.counted = true;
    }
  }

  update(chunk: Buffer): void {
    this.pooled?.update(chunk);
    this.content?.update(chunk);
    for (const h of this.inline) h.hasher.update(chunk);
  }

  /** Undefined when more may come at once; else resolves when the workers have caught up. */
  ready(): Promise<void> | undefined {
    return this.pooled?.ready();
  }

  async digest(): Promise<StreamDigest> {
    const leaves: Record<string, Buffer> = {};
    let md5: Buffer | undefined = this.content?.digest();
    if (this.pooled) {
      const pooled = await this.pooled.digest().finally(() => this.uncount());
      for (const family of this.pooledFamilies) leaves[family.name] = pooled.leaves.get(family.poolAlgorithm!)!;
      md5 ??= pooled.contentMd5;
    }
    for (const { family, hasher } of this.inline) leaves[family.name] = await hasher.digest();
    return md5 ? { leaves, etag: md5.toString('hex').toUpperCase() } : { leaves };
  }

  destroy(): void {
    this.uncount();
    this.pooled?.destroy();
    for (const h of this.inline) h.hasher.destroy();
  }

  private uncount(): void {
    if (this.counted) pooledWrites--;
    this.counted = false;
  }
}
