// Reads archive bytes through the verifying reader and checks them as a whole: every 1 MiB
// leaf against its stored digest, the stored size against the archive's, and a whole read
// against the archive's tree etag. Retrieval jobs and the scrubber (scrub/) both check
// archives this way; whatever is wrong with the stored data is an ArchiveDamagedError.
import { TreeEtagBuilder } from '@oas/sdk';
import { BlobNotFoundError, type BlobStore } from '../store/blob/types.js';
import { CorruptDataError, scanVerified } from '../store/blob/verifying-reader.js';
import type { ArchiveRecord, MetadataStore } from '../store/meta/types.js';
import { totalSize } from './segments.js';

/** The stored data of an archive is damaged: bad leaves, missing bytes, a missing blob. */
export class ArchiveDamagedError extends Error {
  override readonly name = 'ArchiveDamagedError';
}

export interface VerifyArchiveOptions {
  signal?: AbortSignal;
  /** Told of every leaf mismatch (logging, metrics). */
  onCorrupt?: (err: CorruptDataError) => void;
  /** Called with each verified chunk's size; the read waits for it (rate limiting). */
  onChunk?: (bytes: number) => Promise<void> | void;
}

/** Checks archive bytes start..end (inclusive); returns the tree etag of the range. */
export async function verifyArchiveRange(meta: MetadataStore, blobs: BlobStore, archive: ArchiveRecord,
  start: number, end: number, options: VerifyArchiveOptions = {}): Promise<string> {
  const segments = await meta.getSegments(archive.id);
  const stored = totalSize(segments);
  if (stored !== archive.size) throw new ArchiveDamagedError(`archive ${archive.id} has ${stored} stored bytes, expected ${archive.size}`);
  const tree = new TreeEtagBuilder();
  let read: number;
  try {
    // Nothing is passed on: the checked bytes stay in the pool's slots, no copy, no garbage.
    read = await scanVerified(blobs, segments, start, end, {
      label: `archive ${archive.id}`,
      ...(options.signal ? { signal: options.signal } : {}),
      onLeaf: (digest) => tree.push(digest.toString('hex')),
      ...(options.onCorrupt ? { onCorrupt: options.onCorrupt } : {}),
      ...(options.onChunk ? { onChunk: options.onChunk } : {}),
    });
  } catch (err) {
    options.signal?.throwIfAborted();
    if (err instanceof CorruptDataError) throw new ArchiveDamagedError(err.message);
    if (err instanceof BlobNotFoundError) throw new ArchiveDamagedError(`bytes of archive ${archive.id} are missing: ${err.message}`);
    throw err;
  }
  if (read !== end - start + 1) throw new ArchiveDamagedError(`bytes ${start}-${end} of archive ${archive.id}: ${read} bytes could be read`);
  const treeEtag = tree.digest();
  if (start === 0 && end === archive.size - 1 && treeEtag !== archive.treeEtag) {
    throw new ArchiveDamagedError(`the stored data of archive ${archive.id} does not match its tree etag ${archive.treeEtag} (computed ${treeEtag})`);
  }
  return treeEtag;
}
