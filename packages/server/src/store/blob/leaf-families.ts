// Leaf families: the kinds of 1 MiB leaf digests a blob is stored with. Every blob has the
// MD5 leaves of the OAS tree etag (protocol.md §3); a wire protocol with another tree hash
// (Amazon Glacier's SHA-256 tree hash) adds its family to STORED_LEAF_FAMILIES, and from
// then on every verifying writer computes and commits those leaves beside the MD5 ones.
// The stores keep each family apart and never need to know more than its name and digest
// size.
import { createHash, type Hash } from 'node:crypto';
import { MIB, TreeEtagBuilder, hashLeaves as poolLeaves, treeHashOfLeafBuffer, type LeafAlgorithm } from '@oas/sdk';

/** Hashes the leaves of bytes fed in any chunking. */
export interface LeafHasher {
  update(chunk: Buffer): void;
  /** Every leaf's digest, concatenated in order (the last leaf may be short). */
  digest(): Promise<Buffer>;
  /** Abandons the hash; frees what it holds. */
  destroy(): void;
}

export interface LeafFamily {
  /** Stable name; where a store keeps the family's digests ('md5' keeps the historical place). */
  readonly name: string;
  /** Bytes of one leaf digest. */
  readonly digestBytes: number;
  /** The leaf algorithm when the SDK's worker pool runs it (writes then hash on the pool, see stream-digester.ts). */
  readonly poolAlgorithm?: LeafAlgorithm;
  /** A streaming hasher on this thread for about `expectedSize` bytes (small writes, families off the pool). */
  createHasher(expectedSize: number): LeafHasher;
  /** The leaf digests of at most 8 MiB held in `chunks` (reads verify them in batches). */
  hashLeaves(chunks: readonly Buffer[]): Promise<Buffer>;
  /** The family's tree hash over concatenated leaf digests, as the wire protocol writes it. */
  tree(leaves: Buffer): string;
}

/** Leaves hashed on this thread with node:crypto (any algorithm). */
class InlineLeafHasher implements LeafHasher {
  private hash: Hash;
  private fill = 0;
  private readonly digests: Buffer[] = [];

  constructor(private readonly algorithm: string) {
    this.hash = createHash(algorithm);
  }

  update(chunk: Buffer): void {
    for (let at = 0; at < chunk.byteLength;) {
      const take = Math.min(MIB - this.fill, chunk.byteLength - at);
      this.hash.update(at === 0 && take === chunk.byteLength ? chunk : chunk.subarray(at, at + take));
      this.fill += take;
      at += take;
      if (this.fill === MIB) this.close();
    }
  }

  async digest(): Promise<Buffer> {
    if (this.fill > 0) this.close();
    return Buffer.concat(this.digests);
  }

  destroy(): void {
    this.digests.length = 0;
  }

  private close(): void {
    this.digests.push(this.hash.digest());
    this.hash = createHash(this.algorithm);
    this.fill = 0;
  }
}

function md5TreeEtag(leaves: Buffer): string {
  const builder = new TreeEtagBuilder();
  for (let i = 0; i < leaves.byteLength; i += 16) builder.push(leaves.toString('hex', i, i + 16));
  return builder.digest();
}

/** The OAS tree etag's leaves: MD5 of each MiB, the tree of their hex text, upper case. */
export const MD5_LEAVES: LeafFamily = {
  name: 'md5',
  digestBytes: 16,
  poolAlgorithm: 'md5',
  createHasher: () => new InlineLeafHasher('md5'),
  hashLeaves: async (chunks) => Buffer.concat(await poolLeaves(chunks)),
  tree: md5TreeEtag,
};

/** SHA-256 leaves: the Glacier front end's tree hash (docs/glacier.md, "Checksums"). */
export const SHA256_LEAVES: LeafFamily = {
  name: 'sha256',
  digestBytes: 32,
  poolAlgorithm: 'sha256',
  createHasher: () => new InlineLeafHasher('sha256'),
  hashLeaves: async (chunks) => Buffer.concat(await poolLeaves(chunks, { algorithm: 'sha256' })),
  // Glacier's tree hash: parents over the two raw digests, lower-case hex.
  tree: treeHashOfLeafBuffer,
};

const KNOWN = new Map<string, LeafFamily>([MD5_LEAVES, SHA256_LEAVES].map((f) => [f.name, f]));

/** Every family a store may hold (deletes and leftover sweeps go through all of them). */
export const KNOWN_LEAF_FAMILIES: readonly LeafFamily[] = [...KNOWN.values()];

/** The families every verifying writer computes and commits, MD5 first. */
export const STORED_LEAF_FAMILIES: readonly LeafFamily[] = [MD5_LEAVES, SHA256_LEAVES];

/** A family by name; an unknown name is a programming error. */
export function leafFamily(name: string): LeafFamily {
  const family = KNOWN.get(name);
  if (!family) throw new TypeError(`unknown leaf family ${JSON.stringify(name)}`);
  return family;
}

/** Leaf digests by family name, as a writer commits them; 'md5' is always there. */
export type LeafSet = Readonly<Record<string, Buffer>>;

/** A commit argument in either form: a Buffer is the MD5 leaves alone. */
export function toLeafSet(leaves: Buffer | LeafSet): LeafSet {
  return Buffer.isBuffer(leaves) ? { md5: leaves } : leaves;
}
