// The tree etag of protocol.md §3 without node:crypto: an MD5 Merkle tree over 1 MiB leaves
// whose parents hash the ASCII text of their two children's hex. Node (etag.ts) and the
// browser console share this code.
import { Md5, md5HexOf } from './md5.js';

export const MIB = 1024 * 1024;

export interface Checksums {
  /** Upper-case hex MD5 of all bytes (`x-oas-content-etag`). */
  etag: string;
  /** Upper-case hex tree etag (`x-oas-tree-etag`); '' for empty data. */
  treeEtag: string;
  size: number;
}

/**
 * Cuts bytes fed in any chunking into 1 MiB leaves: `feed` gets each piece of the current
 * leaf, `close` is called when a leaf is full, and by `finish` for a partly filled last one.
 * The one leaf-splitting loop behind every tree hasher (MD5 on Node and in browsers, SHA-256).
 */
export class LeafCutter {
  private fill = 0;

  constructor(private readonly feed: (piece: Uint8Array) => void, private readonly close: () => void) {}

  update(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.byteLength) {
      const take = Math.min(MIB - this.fill, chunk.byteLength - offset);
      this.feed(offset === 0 && take === chunk.byteLength ? chunk : chunk.subarray(offset, offset + take));
      this.fill += take;
      offset += take;
      if (this.fill === MIB) this.end();
    }
  }

  finish(): void {
    if (this.fill > 0) this.end();
  }

  private end(): void {
    this.fill = 0;
    this.close();
  }
}

/**
 * Builds a tree etag from its nodes left to right in O(log n) memory. Equal-level
 * neighbours merge as soon as both exist; what remains folds right to left at the end,
 * which is exactly the level-by-level pairing with odd nodes carried up unchanged.
 */
export class TreeEtagBuilder {
  private readonly stack: Array<{ hex: string; level: number }> = [];
  private pushed = 0;

  /** Adds the next leaf (or, for multipart, the next part's tree etag). */
  push(hex: string): void {
    let node = { hex: hex.toUpperCase(), level: 0 };
    let top = this.stack[this.stack.length - 1];
    while (top && top.level === node.level) {
      this.stack.pop();
      node = { hex: md5HexOf(top.hex + node.hex), level: node.level + 1 };
      top = this.stack[this.stack.length - 1];
    }
    this.stack.push(node);
    this.pushed++;
  }

  get count(): number {
    return this.pushed;
  }

  /** The root as upper-case hex; '' when nothing was pushed. */
  digest(): string {
    let i = this.stack.length - 1;
    if (i < 0) return '';
    let root = this.stack[i]!.hex;
    while (--i >= 0) root = md5HexOf(this.stack[i]!.hex + root);
    return root;
  }
}

/** Combines tree etags (the parts' of a multipart upload, in order) into one (protocol.md §3.4). */
export function combineTreeEtags(list: Iterable<string>): string {
  const builder = new TreeEtagBuilder();
  for (const hex of list) builder.push(hex);
  return builder.digest();
}

/**
 * Etag and tree etag over bytes fed in any chunking, in plain TypeScript (memory stays
 * flat: one 64-byte block and one tree path). The portable twin of etag.ts's ChecksumHasher.
 */
export class PortableChecksumHasher {
  private readonly whole = new Md5();
  private leaf = new Md5();
  private readonly cutter = new LeafCutter((piece) => this.leaf.update(piece), () => this.closeLeaf());
  private readonly tree = new TreeEtagBuilder();
  private total = 0;

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
    return { etag: this.whole.hex(), treeEtag: this.tree.digest(), size: this.total };
  }

  private closeLeaf(): void {
    this.tree.push(this.leaf.hex());
    this.leaf = new Md5();
  }
}
