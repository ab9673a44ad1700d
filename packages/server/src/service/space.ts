// The free-space reserve (--min-free): an upload whose Content-Length would leave less than
// the reserve free on a local file system the server writes is refused before a byte of it
// is read, with the error a full disk gives (StorageFull). Uploads fill disks; what is
// left of the reserve lets metadata writes (deletes, jobs, the WAL) go on meanwhile.
// Free space is asked of the file system at every upload (one statfs): space freed by
// any means counts at once, without a restart.
import { stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BlobsSpec, MetadataSpec } from '../store/open.js';
import { StorageFullError } from '../store/storage-full.js';
import { formatReserve, reserveBytes, type FreeReserve } from '../util/reserve.js';

export interface SpaceGuard {
  /** Throws StorageFullError when `size` more bytes would cross the reserve. */
  checkUpload(size: number): Promise<void>;
}

/** A local directory the server writes: blob bytes (an upload's size counts) or only metadata. */
export interface WatchedDir {
  dir: string;
  holdsBlobs: boolean;
}

/**
 * The guard over `dirs` (one check per file system), or null when there is nothing to
 * guard (no reserve, or no local directory: S3 blobs with PostgreSQL metadata).
 */
export async function openSpaceGuard(dirs: WatchedDir[], reserve: FreeReserve): Promise<SpaceGuard | null> {
  if (('bytes' in reserve ? reserve.bytes : reserve.percent) === 0) return null;
  const byDevice = new Map<number, WatchedDir>();
  for (const d of dirs) {
    const dev = (await stat(d.dir)).dev;
    const known = byDevice.get(dev);
    byDevice.set(dev, { dir: known?.dir ?? d.dir, holdsBlobs: (known?.holdsBlobs ?? false) || d.holdsBlobs });
  }
  const watched = [...byDevice.values()];
  if (watched.length === 0) return null;
  return {
    async checkUpload(size: number): Promise<void> {
      for (const { dir, holdsBlobs } of watched) {
        let fsInfo;
        try {
          fsInfo = await statfs(dir);
        } catch {
          continue; // cannot tell: the write itself still reports a full disk
        }
        const free = fsInfo.bavail * fsInfo.bsize;
        const keep = reserveBytes(reserve, fsInfo.blocks * fsInfo.bsize);
        const incoming = holdsBlobs ? size : 0;
        if (free - incoming < keep) {
          throw new StorageFullError(holdsBlobs
            ? `storing ${size} bytes would leave less free space than the server keeps in reserve (--min-free ${formatReserve(reserve)})`
            : `the metadata's disk has less free space than the server keeps in reserve (--min-free ${formatReserve(reserve)})`);
        }
      }
    },
  };
}

/** The local directories of the configured stores: file blobs (uploads land there) and SQLite metadata. */
export function localDirsOf(meta: MetadataSpec | null, blobs: BlobsSpec | null): WatchedDir[] {
  const dirs: WatchedDir[] = [];
  if (blobs?.kind === 'file') dirs.push({ dir: blobs.dir, holdsBlobs: true });
  if (meta?.kind === 'sqlite') dirs.push({ dir: dirname(meta.path), holdsBlobs: false });
  return dirs;
}
