// The upload path: a request body becomes a committed blob through the blob layer's
// verifying writer (size, content etag and tree etag checked in the same pass); what it
// refuses becomes a domain error. Anything short of that leaves nothing behind.
import type { Readable } from 'node:stream';
import type { BlobStore } from '../store/blob/types.js';
import { BlobCheckError, writeBlob } from '../store/blob/verifying-writer.js';
import { InvalidRequestError } from './errors.js';

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
        throw new InvalidRequestError('argument', 'the body is longer than Content-Length');
      case 'too-short':
        throw new InvalidRequestError('incomplete-body', `the body ended after ${err.actual} of ${err.expected} bytes`);
      case 'etag':
        throw new InvalidRequestError('digest', `the content etag ${err.expected} does not match the data (its MD5 is ${err.actual})`);
      default:
        throw new InvalidRequestError('digest', `the tree etag ${err.expected} does not match the data (its tree etag is ${err.actual})`);
    }
  }
}
