// The upload path: a request body becomes a committed blob through the blob layer's
// verifying writer (size, content MD5 and every leaf family's tree hash checked in the
// same pass); what it refuses becomes a domain error. Anything short of that leaves
// nothing behind.
import type { Readable } from 'node:stream';
import { STORED_LEAF_FAMILIES, leafFamily, type LeafFamily } from '../store/blob/leaf-families.js';
import type { BlobStore } from '../store/blob/types.js';
import { BlobCheckError, writeBlob } from '../store/blob/verifying-writer.js';
import { InvalidRequestError } from './errors.js';

/** The checksums a client gave for a body; each wire protocol gives its own family. */
export interface BodyChecks {
  /** Upper-case hex MD5 of the whole body (OAS's x-oas-content-etag); absent when none was given. */
  etag?: string;
  /** Tree hash per leaf family as the family writes it: OAS gives `md5`, Glacier `sha256`. */
  trees: Readonly<Record<string, string>>;
}

export interface IngestExpect extends BodyChecks {
  /** Content-Length. */
  size: number;
}

/** A committed, verified blob. Until metadata refers to it, start-up GC treats it as garbage. */
export interface Ingested {
  key: string;
  size: number;
  /** Upper-case hex MD5 of the body (computed even when the client gave none). */
  etag: string;
  /** The OAS tree etag (MD5 family). */
  treeEtag: string;
  /** Every stored family's tree hash. */
  trees: Record<string, string>;
}

/**
 * Reads the whole body into a committed blob whose checksums match `expect`, storing the
 * leaves of `families` and of every family the client gave a tree hash of.
 */
export async function ingest(blobs: BlobStore, body: Readable | AsyncIterable<Buffer>, expect: IngestExpect,
  families: readonly LeafFamily[] = STORED_LEAF_FAMILIES): Promise<Ingested> {
  try {
    const blob = await writeBlob(blobs, body, {
      expect: { size: expect.size, trees: expect.trees, ...(expect.etag !== undefined ? { etag: expect.etag } : {}) },
      contentEtag: true,
      families: withChecked(families, expect.trees),
    });
    return { key: blob.key, size: blob.size, etag: blob.etag, treeEtag: blob.treeEtag, trees: blob.trees };
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
        throw new ChecksumMismatchError(err.family ?? 'md5', err.expected, err.actual);
    }
  }
}

/** `families` and the family of each tree hash to check (a check needs its leaves). */
function withChecked(families: readonly LeafFamily[], trees: Readonly<Record<string, string>>): readonly LeafFamily[] {
  const missing = Object.keys(trees).filter((name) => !families.some((family) => family.name === name));
  return missing.length === 0 ? families : [...families, ...missing.map(leafFamily)];
}

/** A tree hash the client gave does not match the bytes (`expected` is the client's value). */
export class ChecksumMismatchError extends InvalidRequestError {
  constructor(readonly family: string, readonly expected: string, readonly computed: string) {
    super('digest', family === 'md5'
      ? `the tree etag ${expected} does not match the data (its tree etag is ${computed})`
      : `the ${family} tree hash ${expected} does not match the data (computed ${computed})`);
  }
}
