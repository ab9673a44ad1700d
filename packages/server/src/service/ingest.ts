// The write path: stream a request body into a new blob while hashing it in the same pass,
// verify both checksums, and only then commit (fsync + rename inside the blob store).
// Anything short of a verified, committed blob leaves nothing behind.
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OASError } from '@oas/sdk';
import type { BlobStore } from '../store/blob/types.js';
import { createStreamHasher } from '../util/checksum.js';

export interface IngestExpect {
  /** Content-Length. */
  size: number;
  /** Upper-case x-oas-content-etag. */
  etag: string;
  /** Upper-case x-oas-tree-etag. */
  treeEtag: string;
}

/** A committed, verified blob. Until metadata refers to it, start-up GC treats it as garbage. */
export interface Ingested {
  key: string;
  size: number;
  etag: string;
  treeEtag: string;
}

/** Reads the whole body into a committed blob whose checksums match `expect`. */
export async function ingest(blobs: BlobStore, body: Readable, expect: IngestExpect): Promise<Ingested> {
  const hasher = createStreamHasher(expect.size);
  let received = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      received += chunk.byteLength;
      if (received > expect.size) {
        cb(OASError.of('InvalidArgument', 'the body is longer than Content-Length'));
        return;
      }
      hasher.update(chunk);
      cb(null, chunk);
    },
  });
  const writer = await blobs.create();
  let committed = false;
  try {
    try {
      await pipeline(body, tap, writer.stream);
    } catch (err) {
      if (err instanceof OASError) throw err;
      if (received < expect.size && (body.destroyed || (body as { complete?: boolean }).complete === false)) {
        throw OASError.of('IncompleteBody', `the body ended after ${received} of ${expect.size} bytes`);
      }
      throw err;
    }
    const digest = await hasher.digest();
    if (digest.size !== expect.size) {
      throw OASError.of('IncompleteBody', `the body has ${digest.size} bytes, Content-Length says ${expect.size}`);
    }
    if (digest.etag !== expect.etag) {
      throw OASError.of('InvalidDigest', `x-oas-content-etag ${expect.etag} does not match the data (its MD5 is ${digest.etag})`);
    }
    if (digest.treeEtag !== expect.treeEtag) {
      throw OASError.of('InvalidDigest', `x-oas-tree-etag ${expect.treeEtag} does not match the data (its tree etag is ${digest.treeEtag})`);
    }
    await writer.commit(digest.leaves);
    committed = true;
    return { key: writer.key, size: digest.size, etag: digest.etag, treeEtag: digest.treeEtag };
  } finally {
    if (!committed) {
      hasher.destroy();
      await writer.abort().catch(() => undefined);
    }
  }
}

/** Deletes a blob unless metadata still refers to it (best effort: start-up GC catches the rest). */
export async function discardBlob(meta: { isBlobReferenced(key: string): Promise<boolean> }, blobs: BlobStore, key: string): Promise<void> {
  try {
    if (!(await meta.isBlobReferenced(key))) await blobs.delete(key);
  } catch {
    // left for the start-up garbage collection
  }
}
