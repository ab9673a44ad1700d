// Checksums of local data for the transfer code: one place that picks the hasher.
import { createHash, type Hash } from 'node:crypto';
import { MIB, TreeEtagBuilder, md5Hex, type Checksums } from '../protocol/etag.js';
import { ParallelChecksumHasher, hashFile } from '../protocol/hash-file.js';
import { abortError } from './abort.js';

/** Each 1 MiB leaf's raw MD5, in order; `index` counts from the start of the hashed range. */
export type LeafCallback = (digest: Buffer, index: number) => void;

/** Content etag and tree etag of `length` bytes of a file from `offset`, in one read (two threads). */
export async function hashFileRange(path: string, offset: number, length: number, signal?: AbortSignal,
  onLeaf?: LeafCallback): Promise<Checksums> {
  try {
    return await hashFile(path, { offset, length, signal, ...(onLeaf ? { onLeaf } : {}) });
  } catch (error) {
    // hashFile throws the signal's reason; keep one abort error type.
    if (signal?.aborted) throw abortError('hash', signal);
    throw error;
  }
}

/** Slices fed to the parallel hasher: the whole MD5 of one runs while the worker hashes the last one's leaves. */
const FEED = 4 * MIB;

/** Both checksums of bytes in memory (a part in its buffer), leaves on the shared worker thread. */
export async function hashBytes(data: Buffer, onLeaf?: LeafCallback): Promise<Checksums> {
  const hasher = new ParallelChecksumHasher(onLeaf ? { onLeaf } : {});
  try {
    for (let at = 0; at < data.length; at += FEED) hasher.update(data.subarray(at, Math.min(at + FEED, data.length)));
  } catch (error) {
    hasher.destroy();
    throw error;
  }
  return hasher.digest();
}

/**
 * The tree etag alone, fed in any chunking. Downloads only need the tree (the job and
 * the x-oas-tree-etag header carry no content etag), so this skips ChecksumHasher's
 * whole-data MD5 and halves the hashing cost; the tree itself is the protocol's builder.
 */
export class TreeEtagHasher {
  private leaf: Hash = createHash('md5');
  private fill = 0;
  private readonly tree = new TreeEtagBuilder();
  size = 0;

  update(chunk: Uint8Array): this {
    this.size += chunk.byteLength;
    for (let at = 0; at < chunk.byteLength; ) {
      const take = Math.min(MIB - this.fill, chunk.byteLength - at);
      this.leaf.update(at === 0 && take === chunk.byteLength ? chunk : chunk.subarray(at, at + take));
      this.fill += take;
      at += take;
      if (this.fill === MIB) this.closeLeaf();
    }
    return this;
  }

  digest(): string {
    if (this.fill > 0) this.closeLeaf();
    return this.tree.digest();
  }

  private closeLeaf(): void {
    this.tree.push(this.leaf.digest('hex'));
    this.leaf = createHash('md5');
    this.fill = 0;
  }
}

/** A whole subtree of an archive's tree: `2^level` leaves from leaf `first`, and its hash. */
export interface Subtree {
  first: number;
  level: number;
  hex: string;
}

/**
 * Folds the leaves of one part into the largest subtrees of the archive's tree they fill
 * alone. A part of 2^k MiB at a multiple of its size is one subtree; a part of any other
 * size (say 96 MiB, or one that starts at 96 MiB) folds into a few: O(log n) nodes per
 * part stand in for all its leaves. `firstLeaf` is the part's offset in MiB.
 */
export class SubtreeFolder {
  private readonly stack: Subtree[] = [];
  private next: number;

  constructor(readonly firstLeaf: number) {
    this.next = firstLeaf;
  }

  /** The next leaf's raw MD5 digest (or its hex). */
  push(leaf: Uint8Array | string): void {
    let node: Subtree = { first: this.next++, level: 0, hex: typeof leaf === 'string' ? leaf.toUpperCase() : Buffer.from(leaf).toString('hex').toUpperCase() };
    for (let top = this.stack.at(-1); top && top.level === node.level && isLeftChild(top); top = this.stack.at(-1)) {
      this.stack.pop();
      node = { first: top.first, level: top.level + 1, hex: md5Hex(top.hex + node.hex) };
    }
    this.stack.push(node);
  }

  /** The subtrees, left to right. */
  get nodes(): Subtree[] {
    return [...this.stack];
  }
}

/** Whether a subtree is the left child of its parent (its right sibling may follow). */
function isLeftChild({ first, level }: Subtree): boolean {
  return Math.floor(first / 2 ** level) % 2 === 0;
}

/**
 * The tree etag of a whole archive from the subtrees of its parts, in order: the same
 * value as the tree over all its leaves (protocol.md §3.2), without them. Throws if the subtrees
 * do not tile the leaves from 0 without gaps.
 */
export function treeEtagOfSubtrees(subtrees: Iterable<Subtree>): string {
  // Pushed in order, aligned subtrees merge exactly as their leaves would in TreeEtagBuilder.
  const stack: Subtree[] = [];
  let count = 0;
  for (const node of subtrees) {
    if (node.first !== count) throw new Error(`subtree at leaf ${node.first} does not follow leaf ${count - 1}`);
    count += 2 ** node.level;
    let merged = node;
    for (let top = stack.at(-1); top && top.level === merged.level; top = stack.at(-1)) {
      stack.pop();
      merged = { first: top.first, level: top.level + 1, hex: md5Hex(top.hex + merged.hex) };
    }
    stack.push(merged);
  }
  let i = stack.length - 1;
  if (i < 0) return '';
  let root = stack[i]!.hex;
  while (--i >= 0) root = md5Hex(stack[i]!.hex + root);
  return root;
}
