// Small helpers of the OSS transfer tests: an endpoint that refuses connections, and large
// deterministic data as a stream (never held in memory or written to disk) whose
// checksums are computed while it is generated.
import { Readable } from 'node:stream';
import { ChecksumHasher } from '@oas/sdk';

/**
 * An endpoint every connection to is refused: loopback port 1, which nothing on these
 * machines serves and no test binds (tests listen on port 0, an ephemeral port). A port
 * picked free and released could be taken by a server of a test running meanwhile.
 */
export const REFUSED_ENDPOINT = 'http://127.0.0.1:1';

const CHUNK = 8 * 1024 * 1024;

/** 16 MiB of seeded xorshift bytes: every chunk is a window of it, stamped with its index. */
function baseBlock(seed: number): Buffer {
  const buf = Buffer.allocUnsafe(2 * CHUNK);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < buf.length; i += 4) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  return buf;
}

export interface GeneratedData {
  /** The bytes; can be read once. */
  stream: Readable;
  /** Resolve once the stream has been read to the end. */
  checksums: Promise<{ md5: string; etag: string; treeEtag: string; size: number }>;
}

/**
 * `size` deterministic bytes (same seed, same bytes) as a stream; the MD5 (lower-case hex),
 * upper-case etag and tree etag are computed as the bytes are produced (`hash: false`
 * skips that, e.g. for a timing baseline).
 */
export function generatedData(size: number, seed = 1, options: { hash?: boolean } = {}): GeneratedData {
  const base = baseBlock(seed);
  const hasher = options.hash === false ? null : new ChecksumHasher();
  let produced = 0;
  let index = 0;
  let resolve!: (v: { md5: string; etag: string; treeEtag: string; size: number }) => void;
  const checksums = new Promise<{ md5: string; etag: string; treeEtag: string; size: number }>((r) => { resolve = r; });
  const stream = new Readable({
    highWaterMark: CHUNK,
    read() {
      if (produced >= size) {
        const digest = hasher?.digest();
        resolve({ md5: digest?.etag.toLowerCase() ?? '', etag: digest?.etag ?? '', treeEtag: digest?.treeEtag ?? '', size: produced });
        this.push(null);
        return;
      }
      const n = Math.min(CHUNK, size - produced);
      const offset = (index * 1_048_573) % CHUNK;
      const chunk = Buffer.from(base.subarray(offset, offset + n));
      if (n >= 4) chunk.writeUInt32LE(index, 0);
      index++;
      produced += n;
      hasher?.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, checksums };
}
