// Housekeeping: start-up cleanup (leftovers of interrupted writes, blobs no metadata refers
// to) and the periodic purge of expired jobs and of deleted archives no job needs.
import type { BlobStore } from './store/blob/types.js';
import type { MetadataStore } from './store/meta/types.js';

export interface CleanupReport {
  leftovers: number;
  orphans: number;
  purged: number;
}

/** Blobs nothing refers to (a crash between commit and metadata, or before a delete). */
export async function removeOrphanBlobs(meta: MetadataStore, blobs: BlobStore): Promise<number> {
  let removed = 0;
  for await (const key of blobs.keys()) {
    if (!(await meta.isBlobReferenced(key))) {
      await blobs.delete(key);
      removed++;
    }
  }
  return removed;
}

/** Deletes expired jobs and unneeded deleted archives, then their blobs. */
export async function purgeExpired(meta: MetadataStore, blobs: BlobStore, now: number): Promise<number> {
  const keys = await meta.purge(now);
  for (const key of keys) await blobs.delete(key);
  return keys.length;
}

/** Run before serving: nothing else writes yet, so every unreferenced blob is garbage. */
export async function startupCleanup(meta: MetadataStore, blobs: BlobStore, now: number): Promise<CleanupReport> {
  const leftovers = await blobs.removeLeftovers();
  const purged = await purgeExpired(meta, blobs, now);
  const orphans = await removeOrphanBlobs(meta, blobs);
  return { leftovers, orphans, purged };
}
