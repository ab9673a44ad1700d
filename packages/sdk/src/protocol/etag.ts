// Content etag and tree etag, protocol.md §3: upper-case hex MD5 of the data, and an MD5 Merkle
// tree over 1 MiB leaves whose parents hash the ASCII text of their two children's hex.
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { LeafCutter, TreeEtagBuilder, type Checksums } from './tree-etag.js';

export { MIB, TreeEtagBuilder, combineTreeEtags, type Checksums } from './tree-etag.js';

export function md5Hex(data: Uint8Array | string): string {
  return createHash('md5').update(data).digest('hex').toUpperCase();
}

/** The tree etag over raw 16-byte leaf digests, as the server keeps them. */
export function treeEtagOfLeaves(leaves: Iterable<Uint8Array>): string {
  const builder = new TreeEtagBuilder();
  for (const leaf of leaves) builder.push(Buffer.from(leaf.buffer, leaf.byteOffset, leaf.byteLength).toString('hex'));
  return builder.digest();
}

/**
 * Computes both checksums over bytes fed in any chunking. `onLeaf` receives each 1 MiB
 * leaf's raw MD5 digest in order (the server stores them to answer range tree etags).
 */
export class ChecksumHasher {
  private readonly whole = createHash('md5');
  private leaf: Hash = createHash('md5');
  private leafIndex = 0;
  private readonly cutter = new LeafCutter((piece) => this.leaf.update(piece), () => this.closeLeaf());
  private readonly tree = new TreeEtagBuilder();
  private total = 0;

  constructor(private readonly onLeaf?: (digest: Buffer, index: number) => void) {}

  update(chunk: Uint8Array): this {
    this.whole.update(chunk);
    this.total += chunk.byteLength;
    this.cutter.update(chunk);
    return this;
  }

  get size(): number {
    return this.total;
  }

  digest(): Checksums {
    this.cutter.finish();
    return { etag: this.whole.digest('hex').toUpperCase(), treeEtag: this.tree.digest(), size: this.total };
  }

  private closeLeaf(): void {
    const digest = this.leaf.digest();
    this.onLeaf?.(digest, this.leafIndex);
    this.tree.push(digest.toString('hex'));
    this.leafIndex++;
    this.leaf = createHash('md5');
  }
}

export function contentEtag(data: Uint8Array | string): string {
  return md5Hex(data);
}

export function treeEtag(data: Uint8Array | string): string {
  return hashBuffer(data).treeEtag;
}

export function hashBuffer(data: Uint8Array | string): Checksums {
  return new ChecksumHasher().update(typeof data === 'string' ? Buffer.from(data) : data).digest();
}

/** Hashes everything a stream yields, chunk by chunk (memory stays flat). */
export async function hashStream(stream: Readable | AsyncIterable<Uint8Array>): Promise<Checksums> {
  const hasher = new ChecksumHasher();
  for await (const chunk of stream) hasher.update(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return hasher.digest();
}
