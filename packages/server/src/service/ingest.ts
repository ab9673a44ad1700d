// The upload path: a request body becomes a committed blob through the blob layer's
// verifying writer (size, content etag and tree etag checked in the same pass); what it
// refuses becomes the client's OAS error. Anything short of that leaves nothing behind.
import type { Readable } from 'node:stream';
import { OASError } from '@oas/sdk';
import type { BlobStore } from '../store/blob/types.js';
import { BlobCheckError, writeBlob } from '../store/blob/verifying-writer.js';

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
  try {
    const blob = await writeBlob(blobs, body, { expect: { size: expect.size, etag: expect.etag, trees: { md5: expect.treeEtag } } });
    return { key: blob.key, size: blob.size, etag: blob.etag, treeEtag: blob.treeEtag };
  } catch (err) {
    if (!(err instanceof BlobCheckError)) throw err;
    switch (err.check) {
      case 'too-long':
        throw OASError.of('InvalidArgument', 'the body is longer than Content-Length');
      case 'too-short':
        throw OASError.of('IncompleteBody', `the body ended after ${err.actual} of ${err.expected} bytes`);
      case 'etag':
        throw OASError.of('InvalidDigest', `x-oas-content-etag ${err.expected} does not match the data (its MD5 is ${err.actual})`);
      default:
        throw OASError.of('InvalidDigest', `x-oas-tree-etag ${err.expected} does not match the data (its tree etag is ${err.actual})`);
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
