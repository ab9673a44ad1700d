// The one place the server makes a streaming hasher, so a faster implementation with the
// same digest semantics (the sdk's ParallelChecksumHasher: same onLeaf, async digest,
// destroy on abort) can be swapped in here without touching the write path.
import { ChecksumHasher } from '@oas/sdk';

export interface StreamDigest {
  /** Upper-case hex MD5 of all bytes. */
  etag: string;
  /** Upper-case hex tree etag ('' for no bytes). */
  treeEtag: string;
  size: number;
  /** The raw 16-byte MD5 of every 1 MiB leaf, concatenated (what BlobWriter.commit takes). */
  leaves: Buffer;
}

export interface StreamHasher {
  update(chunk: Buffer): void;
  digest(): Promise<StreamDigest>;
  /** Abandons the hash (aborted upload); frees whatever it holds. */
  destroy(): void;
}

export function createStreamHasher(): StreamHasher {
  const leaves: Buffer[] = [];
  const hasher = new ChecksumHasher((digest) => leaves.push(digest));
  return {
    update(chunk) {
      hasher.update(chunk);
    },
    async digest() {
      const { etag, treeEtag, size } = hasher.digest();
      return { etag, treeEtag, size, leaves: Buffer.concat(leaves) };
    },
    destroy() {
      leaves.length = 0;
    },
  };
}
