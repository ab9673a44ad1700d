// Blobs no record refers to any more are deleted here, by whoever dropped the reference.
import type { BlobStore } from '../store/blob/types.js';

/** Deletes a blob unless metadata still refers to it (best effort: start-up GC catches the rest). */
export async function discardBlob(meta: { isBlobReferenced(key: string): Promise<boolean> }, blobs: BlobStore, key: string): Promise<void> {
  try {
    if (!(await meta.isBlobReferenced(key))) await blobs.delete(key);
  } catch {
    // left for the start-up garbage collection
  }
}
