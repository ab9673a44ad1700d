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

export interface StartupCleanupOptions {
  /**
   * Other nodes share these stores and may be writing right now: a blob they committed a
   * moment ago is unreferenced until their metadata transaction commits, and their writes
   * in progress look like leftovers. Then only the purge runs here; orphans are left to the
   * OrphanSweeper, which deletes a blob only once it stayed unreferenced for a grace period.
   */
  shared?: boolean;
  /** The blob store's removeLeftovers only takes long-abandoned writes (S3): run it even when shared. */
  leftoversSafe?: boolean;
}

/** Run before serving: nothing else writes yet, so every unreferenced blob is garbage. */
export async function startupCleanup(meta: MetadataStore, blobs: BlobStore, now: number, opts: StartupCleanupOptions = {}): Promise<CleanupReport> {
  if (opts.shared) {
    const leftovers = opts.leftoversSafe ? await blobs.removeLeftovers() : 0;
    const purged = await purgeExpired(meta, blobs, now);
    return { leftovers, orphans: 0, purged };
  }
  const leftovers = await blobs.removeLeftovers();
  const purged = await purgeExpired(meta, blobs, now);
  const orphans = await removeOrphanBlobs(meta, blobs);
  return { leftovers, orphans, purged };
}

/**
 * Garbage collection of orphan blobs for stores shared by several nodes (mark and sweep over
 * time): a pass remembers the blobs no metadata refers to, and a later pass at least
 * `graceMs` after deletes those still unreferenced. Another node's write is unreferenced
 * only between its blob commit and its metadata commit (milliseconds), so a grace of minutes
 * never touches live data, while blobs left by a node that crashed in that window, or by a
 * delete that failed half-way, go away within two sweeps.
 */
export class OrphanSweeper {
  /** Unreferenced keys and when a pass first saw them so. */
  private readonly suspects = new Map<string, number>();
  private running: Promise<number> | null = null;

  constructor(private readonly meta: MetadataStore, private readonly blobs: BlobStore, private readonly graceMs: number,
    private readonly leftoversSafe = false) {}

  /** One pass; returns how many blobs it deleted. Concurrent calls share one pass. */
  sweep(now: number): Promise<number> {
    this.running ??= this.pass(now).finally(() => { this.running = null; });
    return this.running;
  }

  private async pass(now: number): Promise<number> {
    const unreferenced = new Set<string>();
    // Writes abandoned by a node that died (the store judges their age itself).
    let removed = this.leftoversSafe ? await this.blobs.removeLeftovers() : 0;
    for await (const key of this.blobs.keys()) {
      if (await this.meta.isBlobReferenced(key)) continue;
      unreferenced.add(key);
      const since = this.suspects.get(key);
      if (since === undefined) {
        this.suspects.set(key, now);
      } else if (now - since >= this.graceMs) {
        await this.blobs.delete(key);
        this.suspects.delete(key);
        unreferenced.delete(key);
        removed++;
      }
    }
    // Suspects that got referenced (or deleted by someone else) meanwhile are forgotten.
    for (const key of [...this.suspects.keys()]) if (!unreferenced.has(key)) this.suspects.delete(key);
    return removed;
  }
}
