// Glacier's SHA-256 tree hash (glacier.md, "Checksums"): SHA-256 of each 1 MiB leaf as a raw 32-byte digest,
// parents hash the concatenation of their two children's raw digests, an odd node is carried up
// unchanged, and the root travels as lower-case hex. (The OAS tree etag has the same shape but
// hashes the children's upper-case hex text.)
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { LeafCutter, MIB } from './tree-etag.js';
import { isTreeHashAligned, type ByteRange } from './ranges.js';

/** Leaf size of the tree. */
export const TREE_HASH_LEAF = MIB;

function sha256(...parts: Uint8Array[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/**
 * Builds a root from nodes pushed left to right in O(log n) memory. Equal-level neighbours
 * merge as soon as both exist and what remains folds right to left at the end: exactly the
 * level-by-level pairing with odd nodes promoted.
 */
export class TreeHashBuilder {
  private readonly stack: Array<{ digest: Buffer; level: number }> = [];
  private pushed = 0;

  /**
   * Adds the next leaf digest, or the next subtree root: a multipart upload's part roots
   * combine like leaves because every full part is a whole 2^k MiB subtree.
   */
  push(digest: Uint8Array | string): this {
    let node: { digest: Buffer; level: number } = { digest: typeof digest === 'string' ? Buffer.from(digest, 'hex') : Buffer.from(digest), level: 0 };
    if (node.digest.length !== 32) throw new Error('TreeHashBuilder: a node is a 32-byte SHA-256 digest');
    let top = this.stack[this.stack.length - 1];
    while (top && top.level === node.level) {
      this.stack.pop();
      node = { digest: sha256(top.digest, node.digest), level: node.level + 1 };
      top = this.stack[this.stack.length - 1];
    }
    this.stack.push(node);
    this.pushed++;
    return this;
  }

  get count(): number {
    return this.pushed;
  }

  /** The raw root; null when nothing was pushed. */
  root(): Buffer | null {
    let i = this.stack.length - 1;
    if (i < 0) return null;
    let root = this.stack[i]!.digest;
    while (--i >= 0) root = sha256(this.stack[i]!.digest, root);
    return root;
  }

  /** The root as lower-case hex; an empty input hashes like empty data (SHA-256 of nothing). */
  hex(): string {
    return (this.root() ?? sha256()).toString('hex');
  }
}

/** The tree hash over raw leaf digests (for instance a stored range of them). */
export function treeHashOfLeaves(leaves: Iterable<Uint8Array>): string {
  const builder = new TreeHashBuilder();
  for (const leaf of leaves) builder.push(leaf);
  return builder.hex();
}

/** The tree hash over leaf digests stored back to back (32 bytes each), as a blob store keeps them. */
export function treeHashOfLeafBuffer(leaves: Uint8Array): string {
  if (leaves.byteLength % 32 !== 0) throw new Error('treeHashOfLeafBuffer: the length is not a multiple of 32 bytes');
  const builder = new TreeHashBuilder();
  for (let at = 0; at < leaves.byteLength; at += 32) builder.push(leaves.subarray(at, at + 32));
  return builder.hex();
}

/** Combines the parts' tree hashes (hex, in order) into the archive's, as Complete checks it. */
export function combineTreeHashes(parts: Iterable<string>): string {
  const builder = new TreeHashBuilder();
  for (const hex of parts) builder.push(hex);
  return builder.hex();
}

export interface Sha256Checksums {
  /** Lower-case hex tree hash (`x-amz-sha256-tree-hash`). */
  treeHash: string;
  /** Lower-case hex SHA-256 of all bytes (`x-amz-content-sha256`). */
  sha256: string;
  size: number;
}

/**
 * The tree hash and the linear SHA-256 in one pass over bytes fed in any chunking. `onLeaf`
 * receives each 1 MiB leaf's raw digest in order, for a store that keeps them.
 */
export class TreeHasher {
  private readonly whole = createHash('sha256');
  private leaf: Hash = createHash('sha256');
  private leafIndex = 0;
  private readonly cutter = new LeafCutter((piece) => this.leaf.update(piece), () => this.closeLeaf());
  private readonly tree = new TreeHashBuilder();
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

  digest(): Sha256Checksums {
    this.cutter.finish();
    return { treeHash: this.tree.hex(), sha256: this.whole.digest('hex'), size: this.total };
  }

  private closeLeaf(): void {
    const digest = this.leaf.digest();
    this.onLeaf?.(digest, this.leafIndex);
    this.tree.push(digest);
    this.leafIndex++;
    this.leaf = createHash('sha256');
  }
}

export function treeHash(data: Uint8Array | string): string {
  return new TreeHasher().update(typeof data === 'string' ? Buffer.from(data) : data).digest().treeHash;
}

/** Hashes everything a stream yields, chunk by chunk (memory stays flat). */
export async function treeHashStream(stream: Readable | AsyncIterable<Uint8Array>): Promise<Sha256Checksums> {
  const hasher = new TreeHasher();
  for await (const chunk of stream) hasher.update(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return hasher.digest();
}

/** The leaves `[first, first + count)` that cover a MiB-aligned range. */
export function leafSpan({ start, end }: ByteRange): { first: number; count: number } {
  const first = Math.floor(start / TREE_HASH_LEAF);
  return { first, count: Math.floor(end / TREE_HASH_LEAF) - first + 1 };
}

/**
 * The archive range whose tree hash GetJobOutput sends as `x-amz-sha256-tree-hash`, or null
 * when it sends none (glacier.md, "Checksums"; protocol.md §3.5): only when the job's retrieval range is tree-hash
 * aligned in the archive *and* the downloaded range is tree-hash aligned in the job's output.
 * `download` is relative to the job output; undefined means all of it.
 */
export function outputTreeHashRange(job: ByteRange, archiveSize: number, download?: ByteRange): ByteRange | null {
  if (!isTreeHashAligned(job, archiveSize)) return null;
  const outputSize = job.end - job.start + 1;
  const relative = download ?? { start: 0, end: outputSize - 1 };
  if (!isTreeHashAligned(relative, outputSize)) return null;
  return { start: job.start + relative.start, end: job.start + relative.end };
}
