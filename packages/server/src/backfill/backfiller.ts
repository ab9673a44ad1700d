// The SHA-256 leaf backfill: walks every blob the metadata references (the segments of
// live archives, the parts of open multipart uploads) and gives each one stored before
// SHA-256 leaves existed its leaves (blob-leaves.ts: one read that re-checks the MD5
// leaves). Resumable by construction: a blob's leaves are durable once added, and the walk
// skips blobs that have them at the cost of one leaves lookup each, so an interrupted pass
// (or a second node doing the same) just goes over the done part quickly. Reads are paced
// to the scrub rate.
import type { Clock } from '../clock.js';
import { Pacer, abortableSleep } from '../scrub/pacer.js';
import type { BlobStore } from '../store/blob/types.js';
import type { MetadataStore } from '../store/meta/types.js';
import { BlobDamagedError, ensureSha256Leaves, hasSha256Leaves } from './blob-leaves.js';

export interface BackfillerOptions {
  meta: MetadataStore;
  blobs: BlobStore;
  clock: Clock;
  /** Read rate cap in bytes per second (0: none). */
  bytesPerSecond: number;
  /** Only these vaults (default: all). */
  vaultIds?: readonly string[];
  /** Each blob given leaves (log it). */
  onAdded?(blob: BackfilledBlob): void;
  /** Each blob that could not get leaves (damaged, or a read error). */
  onFailed?(failure: BackfillFailure): void;
}

export interface BackfilledBlob {
  blobKey: string;
  /** `archive <id>` or `upload <id> part <start>`. */
  owner: string;
  bytes: number;
}

export interface BackfillFailure {
  blobKey: string;
  owner: string;
  /** Damaged stored bytes (never blessed with new leaves), or a read error (retried next pass). */
  kind: 'damaged' | 'error';
  message: string;
}

export interface BackfillReport {
  /** Blobs looked at. */
  blobs: number;
  /** Blobs given SHA-256 leaves by this pass. */
  added: number;
  /** Bytes read to compute them. */
  bytes: number;
  failed: BackfillFailure[];
}

interface OwnedBlob {
  blobKey: string;
  owner: string;
  /** Whether the owner still references the blob (a damage report on a blob deleted meanwhile is no damage). */
  stillOwned(): Promise<boolean>;
}

const PAGE = 100;

/**
 * The promise's outcome, or the signal's reason as soon as it aborts: stop() must not wait
 * for a store call that does not take a signal (an S3 request to a stalled service).
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  promise.catch(() => undefined); // abandoned on abort: its failure is nobody's
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (err: unknown) => { signal.removeEventListener('abort', onAbort); reject(err as Error); });
  });
}

export class Backfiller {
  private readonly pacer: Pacer;
  private readonly stopper = new AbortController();
  private loop: Promise<BackfillReport | null> | null = null;

  constructor(private readonly o: BackfillerOptions) {
    this.pacer = new Pacer(o.bytesPerSecond, o.clock);
  }

  /** One pass in the background after `delayMs` (the server serves first). Resolves with its report (null: stopped). */
  start(delayMs: number, onDone?: (report: BackfillReport) => void, onError?: (err: unknown) => void): void {
    this.loop ??= (async () => {
      await abortableSleep(this.o.clock, delayMs, this.stopper.signal);
      if (this.stopper.signal.aborted) return null;
      try {
        const report = await this.runPass();
        onDone?.(report);
        return report;
      } catch (err) {
        if (!this.stopper.signal.aborted) onError?.(err);
        return null;
      }
    })();
  }

  /** The background pass's report once it ends (null: not started, stopped or failed). */
  async finished(): Promise<BackfillReport | null> {
    return this.loop ? this.loop : null;
  }

  /** Stops the background pass; a blob being read is abandoned (its leaves are not added). */
  async stop(): Promise<void> {
    this.stopper.abort(new Error('backfill stopped'));
    await this.loop;
  }

  /** Gives every referenced blob without SHA-256 leaves its leaves. */
  async runPass(): Promise<BackfillReport> {
    const report: BackfillReport = { blobs: 0, added: 0, bytes: 0, failed: [] };
    const signal = this.stopper.signal;
    for await (const blob of this.referencedBlobs()) {
      signal.throwIfAborted();
      report.blobs++;
      try {
        if (await untilAborted(hasSha256Leaves(this.o.blobs, blob.blobKey), signal)) continue;
        const bytes = await untilAborted(ensureSha256Leaves(this.o.blobs, blob.blobKey, { signal, onChunk: (n) => this.pacer.take(n, signal) }), signal);
        report.added++;
        report.bytes += bytes;
        this.o.onAdded?.({ blobKey: blob.blobKey, owner: blob.owner, bytes });
      } catch (err) {
        signal.throwIfAborted();
        if (!(await blob.stillOwned().catch(() => true))) continue; // deleted meanwhile
        const failure: BackfillFailure = {
          blobKey: blob.blobKey, owner: blob.owner, kind: err instanceof BlobDamagedError ? 'damaged' : 'error', message: (err as Error).message,
        };
        report.failed.push(failure);
        this.o.onFailed?.(failure);
      }
    }
    return report;
  }

  /** The vaults walked: the given ones, or every vault of every account. */
  private async *vaultIds(): AsyncGenerator<string> {
    if (this.o.vaultIds) {
      yield* this.o.vaultIds;
      return;
    }
    const accounts = new Set((await this.o.meta.listAccounts()).map((a) => a.id));
    for (const accountId of accounts) {
      let from: string | null = null;
      do {
        const page = await this.o.meta.listVaults(accountId, from, PAGE);
        for (const v of page.items) yield v.id;
        from = page.next;
      } while (from !== null);
    }
  }

  private async *referencedBlobs(): AsyncGenerator<OwnedBlob> {
    const { meta } = this.o;
    for await (const vaultId of this.vaultIds()) {
      for await (const archive of meta.iterateArchives(vaultId)) {
        const live = async () => (await meta.getArchive(vaultId, archive.id)) !== null;
        for (const s of await meta.getSegments(archive.id)) yield { blobKey: s.blobKey, owner: `archive ${archive.id}`, stillOwned: live };
      }
      let from: string | null = null;
      do {
        const page = await meta.listUploads(vaultId, from, PAGE);
        for (const upload of page.items) {
          for (const part of await meta.allParts(upload.id)) {
            const owned = async () => (await meta.allParts(upload.id)).some((p) => p.blobKey === part.blobKey);
            yield { blobKey: part.blobKey, owner: `upload ${upload.id} part ${part.start}`, stillOwned: owned };
          }
        }
        from = page.next;
      } while (from !== null);
    }
  }
}
