// Where the verifying reader's batches come from: 8 MiB of a blob read straight into a pool
// slot (positional reads where the store has them, else the store's stream copied in, in
// order) and hashed there, or into a buffer of its own hashed by the family when every slot
// is taken.
import { LeafBuffer, MIB, copyIntoShared } from '@oas/sdk';
import type { LeafFamily } from './leaf-families.js';
import type { BlobFileReader, BlobStore } from './types.js';

/** Fills buffers with consecutive bytes of a blob range, in order: positional reads, or a stream. */
export interface ByteSource {
  /** Fills `buf` from blob offset `position` (calls come in order); fewer bytes only at the blob's end. */
  fill(buf: Buffer, position: number): Promise<number>;
  close(): Promise<void>;
}

export async function openSource(blobs: BlobStore, key: string, from: number, to: number, signal: AbortSignal): Promise<ByteSource> {
  if (blobs.openRead) {
    const reader: BlobFileReader = await blobs.openRead(key);
    return {
      async fill(buf, position) {
        let got = 0;
        while (got < buf.length) {
          signal.throwIfAborted();
          const n = await reader.read(buf, got, buf.length - got, position + got);
          if (n === 0) break;
          got += n;
        }
        return got;
      },
      close: () => reader.close(),
    };
  }
  // A store without positional reads: one stream over the range, copied into the buffers.
  const stream = blobs.read(key, from, to, { signal });
  const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let left: Buffer | undefined;
  let chain = Promise.resolve(0);
  const fillNext = async (buf: Buffer): Promise<number> => {
    let got = 0;
    while (got < buf.length) {
      if (!left || left.length === 0) {
        const next = await chunks.next();
        if (next.done) break;
        left = next.value;
      }
      const take = Math.min(left.length, buf.length - got);
      copyIntoShared(left.subarray(0, take), buf, got);
      left = left.subarray(take);
      got += take;
    }
    return got;
  };
  return {
    fill(buf) {
      chain = chain.catch(() => 0).then(() => fillNext(buf));
      return chain;
    },
    async close() {
      stream.destroy();
    },
  };
}

/** One batch read and hashed: its bytes (a pool slot, or a buffer of its own) and leaf digests. */
export interface Loaded {
  at: number;
  data: Buffer;
  digests: Buffer;
  slot: LeafBuffer | undefined;
}

export async function load(source: ByteSource, family: LeafFamily, at: number, bytes: number): Promise<Loaded> {
  const slot = family.poolAlgorithm && bytes >= MIB ? LeafBuffer.acquire() : undefined;
  try {
    const buf = slot ? slot.data.subarray(0, bytes) : Buffer.allocUnsafe(bytes);
    const data = buf.subarray(0, await source.fill(buf, at));
    const digests = slot ? await slot.hash(data.length, family.poolAlgorithm!) : await family.hashLeaves([data]);
    return { at, data, digests, slot };
  } catch (err) {
    slot?.release();
    throw err;
  }
}
