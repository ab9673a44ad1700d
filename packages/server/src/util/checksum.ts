// The one place the server makes a streaming hasher. Large uploads are verified with the
// sdk's ParallelChecksumHasher: the whole-data MD5 runs on the request's thread while the
// shared leaf worker hashes the 1 MiB leaves of the same bytes, so the two MD5s (the most
// expensive part of an upload) use both cores: a 1 GiB streamed upload took 2.7-3.0 s
// instead of 3.6-4.2 s with the single-threaded ChecksumHasher (bench/server.ts, see
// bench/README.md).
import { ChecksumHasher, ParallelChecksumHasher, leafWorkerStats, stopLeafWorker } from '@oas/sdk';

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

/** Below this, the parallel hasher hashes inline anyway (its first 8 MiB batch never goes to the worker). */
const PARALLEL_MIN_BYTES = 8 * 1024 * 1024;
/**
 * Uploads hashing on the worker at the same time; the others hash on their own thread.
 * Each one pins up to 24 MiB of the pool's shared memory (resident for the life of the
 * process), and with several uploads in flight both cores are busy anyway. One worker user
 * at a time kept the peak RSS of four concurrent 64 MiB part uploads at about 180 MB,
 * against 225 MB with every upload on the worker (bench/server.ts).
 */
const MAX_PARALLEL = 1;
let parallelActive = 0;

function singleHasher(): StreamHasher {
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

function parallelHasher(): StreamHasher {
  const leaves: Buffer[] = [];
  const hasher = new ParallelChecksumHasher({ onLeaf: (digest) => leaves.push(digest) });
  parallelActive++;
  let held = true;
  const release = () => {
    if (held) parallelActive--;
    held = false;
  };
  return {
    update(chunk) {
      hasher.update(chunk);
    },
    async digest() {
      try {
        const { etag, treeEtag, size } = await hasher.digest();
        return { etag, treeEtag, size, leaves: Buffer.concat(leaves) };
      } finally {
        release();
      }
    },
    destroy() {
      hasher.destroy();
      leaves.length = 0;
      release();
    },
  };
}

/**
 * A hasher for `expectedSize` bytes (unknown: assume small). Large streams get the parallel
 * hasher while fewer than MAX_PARALLEL are running; the results are identical either way.
 */
export function createStreamHasher(expectedSize = 0): StreamHasher {
  return expectedSize > PARALLEL_MIN_BYTES && parallelActive < MAX_PARALLEL ? parallelHasher() : singleHasher();
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
