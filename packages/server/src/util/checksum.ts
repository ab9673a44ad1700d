// Stream hashing for the server: the content MD5 on the calling thread, the MD5 leaves of
// the same bytes through the MD5 leaf family (on the sdk's shared worker for large streams,
// see store/blob/leaf-families.ts), so the two MD5s, the most expensive part of an upload,
// use both cores: a 1 GiB streamed upload took 2.7-3.0 s instead of 3.6-4.2 s single-threaded
// (bench/server.ts, see bench/README.md). Blob writes hash through the verifying writer; this
// is the same pair for callers that only need the digests.
import { createHash } from 'node:crypto';
import { leafWorkerStats, stopLeafWorker } from '@oas/sdk';
import { MD5_LEAVES } from '../store/blob/leaf-families.js';

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

/** A hasher for `expectedSize` bytes (unknown: assume small); the results are the same on every path. */
export function createStreamHasher(expectedSize = 0): StreamHasher {
  const content = createHash('md5');
  const leaves = MD5_LEAVES.createHasher(expectedSize);
  let size = 0;
  return {
    update(chunk) {
      content.update(chunk);
      leaves.update(chunk);
      size += chunk.byteLength;
    },
    async digest() {
      const digests = await leaves.digest();
      return { etag: content.digest('hex').toUpperCase(), treeEtag: MD5_LEAVES.tree(digests), size, leaves: digests };
    },
    destroy() {
      leaves.destroy();
    },
  };
}

/** Servers open in this process: the leaf worker is shared by all of them (and the sdk). */
let openServers = 0;

/** A server started: it may hash on the shared leaf worker from now on. */
export function retainHashWorker(): void {
  openServers++;
}

/**
 * A server closed after its requests finished. When it was the last one and the worker has
 * nothing in flight (an sdk client in the same process may still use it), the worker thread
 * is terminated now instead of lingering until its idle timeout.
 */
export async function releaseHashWorker(): Promise<void> {
  openServers = Math.max(0, openServers - 1);
  if (openServers === 0 && leafWorkerStats().inflight === 0) await stopLeafWorker();
}
