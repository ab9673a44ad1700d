// Checksums of local data for the transfer code: one place that picks the hasher.
import { createHash, type Hash } from 'node:crypto';
import { MIB, TreeEtagBuilder, type Checksums } from '../protocol/etag.js';
import { ParallelChecksumHasher, hashFile } from '../protocol/hash-file.js';
import { abortError } from './abort.js';

/** Content etag and tree etag of `length` bytes of a file from `offset`, in one read (two threads). */
export async function hashFileRange(path: string, offset: number, length: number, signal?: AbortSignal): Promise<Checksums> {
  try {
    return await hashFile(path, { offset, length, signal });
  } catch (error) {
    // hashFile throws the signal's reason; keep one abort error type.
    if (signal?.aborted) throw abortError('hash', signal);
    throw error;
  }
}

/** Slices fed to the parallel hasher: the whole MD5 of one runs while the worker hashes the last one's leaves. */
const FEED = 4 * MIB;

/** Both checksums of bytes in memory (a part in its buffer), leaves on the shared worker thread. */
export async function hashBytes(data: Buffer): Promise<Checksums> {
  const hasher = new ParallelChecksumHasher();
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
