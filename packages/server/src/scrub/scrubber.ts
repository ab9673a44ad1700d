// The scrubber: re-reads every live archive through the verifying reader (every 1 MiB leaf
// against its stored digest, the whole against its tree etag) so rot is found before anyone
// needs the archive. An archive is due once its last check is older than the scrub
// interval; a node leases it (like a job) while checking, so in a cluster each archive is
// checked by one node, and reads are paced to the scrub rate. The last check of every
// archive is kept in the metadata store, so progress survives restarts.
import type { Clock } from '../clock.js';
import { ArchiveDamagedError, verifyArchiveRange } from '../service/verify-archive.js';
import type { BlobStore } from '../store/blob/types.js';
import type { ArchiveRecord, MetadataStore, ScrubProgress } from '../store/meta/types.js';
import { Pacer, abortableSleep } from './pacer.js';

export interface ScrubberOptions {
  meta: MetadataStore;
  blobs: BlobStore;
  /** This node's lease owner id. */
  nodeId: string;
  clock: Clock;
  /** Every archive is checked again once its last check is this old. */
  intervalMs: number;
  /** Read rate cap in bytes per second (0: none). */
  bytesPerSecond: number;
  /** Lease on an archive being checked; renewed every third of it. */
  leaseMs: number;
  /** Only these vaults (default: all). */
  vaultIds?: readonly string[];
  /** Longest wait between looks for due or new archives (default: a minute, at most the interval). */
  idleMs?: number;
  /** Each finished check (log it). */
  onChecked?(outcome: ScrubOutcome): void;
  onError?(err: unknown, archiveId?: string): void;
}

export interface ScrubOutcome {
  archive: ArchiveRecord;
  verifiedAt: number;
  /** What is wrong with the stored data, or null when it passed. */
  damage: string | null;
}

export interface PassReport {
  checked: number;
  bytes: number;
  /** Archives this pass found damaged. */
  damaged: ScrubOutcome[];
  /** Checks that could not finish (read errors that are not damage); retried later. */
  errors: number;
}

/** How long /metrics reuses the progress counts when no check finished meanwhile, and when some did. */
const PROGRESS_MAX_AGE_MS = 60_000;
const PROGRESS_MIN_AGE_MS = 5_000;

export class Scrubber {
  private readonly pacer: Pacer;
  private readonly stopper = new AbortController();
  private loop: Promise<void> | null = null;
  private bytesVerified = 0;
  private archivesVerified = 0;
  private damageFound = 0;
  private progress: { at: number; checks: number; value: ScrubProgress } | null = null;
  /** wake() callers, with the loop cycle they called in (served by the idle of a later cycle). */
  private idleWaiters: Array<{ cycle: number; resolve: () => void }> = [];
  private cycle = 0;
  private wakeRequested = false;
  private sleeping: AbortController | null = null;

  constructor(private readonly o: ScrubberOptions) {
    this.pacer = new Pacer(o.bytesPerSecond, o.clock);
  }

  /** Runs the background loop until stop(). */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops the loop; a check in progress is abandoned and its lease handed back. */
  async stop(): Promise<void> {
    this.stopper.abort(new Error('scrubber stopped'));
    await this.loop;
  }

  /**
   * Makes the background loop look for due and new archives now; resolves once it has
   * checked every archive due at the call and found nothing more to do.
   */
  wake(): Promise<void> {
    const done = new Promise<void>((resolve) => this.idleWaiters.push({ cycle: this.cycle, resolve }));
    this.wakeRequested = true;
    this.sleeping?.abort();
    return done;
  }

  /**
   * Checks every archive last checked before `dueBefore` (a pass), one at a time, until none
   * is left that another node is not checking.
   */
  async runPass(dueBefore: number): Promise<PassReport> {
    await this.o.meta.scrub.enroll();
    const report: PassReport = { checked: 0, bytes: 0, damaged: [], errors: 0 };
    for (;;) {
      const outcome = await this.checkNext(dueBefore);
      if (outcome === null) return report;
      if (outcome === 'error') {
        report.errors++;
        continue;
      }
      report.checked++;
      report.bytes += outcome.archive.size;
      if (outcome.damage !== null) report.damaged.push(outcome);
    }
  }

  /**
   * Leases and checks the next due archive. null: none due; 'error': the check could not
   * finish (the archive stays due, and leased until the lease runs out).
   */
  async checkNext(dueBefore: number): Promise<ScrubOutcome | 'error' | null> {
    const { meta, nodeId, clock, leaseMs } = this.o;
    this.stopper.signal.throwIfAborted();
    const now = clock.now();
    const archive = await meta.scrub.claim(nodeId, now, now + leaseMs, dueBefore, this.o.vaultIds);
    if (!archive) return null;
    const lost = new AbortController();
    const signal = AbortSignal.any([this.stopper.signal, lost.signal]);
    const renew = setInterval(() => {
      meta.scrub.renew(archive.id, nodeId, clock.now() + leaseMs).then((ok) => {
        if (!ok) lost.abort(new Error(`scrub lease of archive ${archive.id} lost`));
      }, (err: unknown) => this.o.onError?.(err, archive.id));
    }, Math.max(10, Math.floor(leaseMs / 3)));
    renew.unref();
    let damage: string | null = null;
    try {
      await verifyArchiveRange(meta, this.o.blobs, archive, 0, archive.size - 1, {
        signal,
        onChunk: (bytes) => {
          this.bytesVerified += bytes;
          return this.pacer.take(bytes, signal);
        },
      });
    } catch (err) {
      if (err instanceof ArchiveDamagedError && !signal.aborted) {
        damage = err.message;
      } else {
        clearInterval(renew);
        if (this.stopper.signal.aborted) {
          // Stopping: hand the archive back so the next start (or another node) takes it at once.
          await meta.scrub.finish(archive.id, nodeId, null).catch(() => undefined);
          throw err;
        }
        // A read error that is not damage (a store briefly unreachable): the lease is kept
        // until it expires, so the archive is retried after that, not in a tight loop.
        if (!lost.signal.aborted) this.o.onError?.(err, archive.id);
        return 'error';
      }
    } finally {
      clearInterval(renew);
    }
    if (damage !== null && !(await this.stillLive(archive.id))) {
      // Deleted (and perhaps purged) while being read: its bytes going away is not damage.
      await meta.scrub.finish(archive.id, nodeId, null).catch(() => undefined);
      return 'error';
    }
    const outcome: ScrubOutcome = { archive, verifiedAt: clock.now(), damage };
    await meta.scrub.finish(archive.id, nodeId, { verifiedAt: outcome.verifiedAt, damage });
    this.archivesVerified++;
    if (damage !== null) this.damageFound++;
    this.o.onChecked?.(outcome);
    return outcome;
  }

  private async stillLive(archiveId: string): Promise<boolean> {
    const archive = await this.o.meta.getArchiveAnyState(archiveId);
    return archive !== null && archive.deletedAt === null;
  }

  /** Live archives, how many were checked within the last interval, how many are damaged. */
  async currentProgress(): Promise<ScrubProgress> {
    const now = this.o.clock.now();
    const p = this.progress;
    // The counts scan every live archive: at most once a minute, or every few seconds while checks finish.
    if (p && now - p.at < (p.checks === this.archivesVerified ? PROGRESS_MAX_AGE_MS : PROGRESS_MIN_AGE_MS)) return p.value;
    const value = await this.o.meta.scrub.progress(now - this.o.intervalMs, this.o.vaultIds);
    this.progress = { at: now, checks: this.archivesVerified, value };
    return value;
  }

  /** The oas_scrub_* metrics (Prometheus text lines). */
  async metricsText(): Promise<string> {
    const p = await this.currentProgress().catch(() => null);
    const out = [
      '# HELP oas_scrub_bytes_verified_total Stored archive bytes this node\'s scrubber read and checked.',
      '# TYPE oas_scrub_bytes_verified_total counter',
      `oas_scrub_bytes_verified_total ${this.bytesVerified}`,
      '# HELP oas_scrub_archives_verified_total Archive checks this node\'s scrubber finished.',
      '# TYPE oas_scrub_archives_verified_total counter',
      `oas_scrub_archives_verified_total ${this.archivesVerified}`,
      '# HELP oas_scrub_damage_found_total Checks by this node that found an archive damaged.',
      '# TYPE oas_scrub_damage_found_total counter',
      `oas_scrub_damage_found_total ${this.damageFound}`,
    ];
    if (p) {
      out.push(
        '# HELP oas_scrub_archives_damaged Live archives whose last check found damage (all nodes).',
        '# TYPE oas_scrub_archives_damaged gauge',
        `oas_scrub_archives_damaged ${p.damaged}`,
        '# HELP oas_scrub_pass_progress Share of live archives checked within the last scrub interval (1: the pass is complete).',
        '# TYPE oas_scrub_pass_progress gauge',
        `oas_scrub_pass_progress ${p.archives === 0 ? 1 : p.verified / p.archives}`,
        '# HELP oas_scrub_oldest_verified_timestamp_seconds Last check of the live archive checked longest ago (0: one was never checked).',
        '# TYPE oas_scrub_oldest_verified_timestamp_seconds gauge',
        `oas_scrub_oldest_verified_timestamp_seconds ${p.oldestVerifiedAt === null ? this.o.clock.now() / 1000 : p.oldestVerifiedAt / 1000}`,
      );
    }
    return `${out.join('\n')}\n`;
  }

  private async run(): Promise<void> {
    const { clock, meta } = this.o;
    const idleMs = this.o.idleMs ?? Math.min(60_000, this.o.intervalMs);
    const signal = this.stopper.signal;
    // A node that just started serves first: the first look comes after one idle wait.
    await this.sleepIdle(idleMs);
    while (!signal.aborted) {
      this.cycle++;
      try {
        const outcome = await this.checkNext(clock.now() - this.o.intervalMs);
        if (outcome !== null) continue;
        // Nothing due: take in archives stored since the last look, else wait.
        if ((await meta.scrub.enroll()) > 0) continue;
      } catch (err) {
        if (signal.aborted) break;
        this.o.onError?.(err);
      }
      const served = this.idleWaiters.filter((w) => w.cycle < this.cycle);
      this.idleWaiters = this.idleWaiters.filter((w) => w.cycle >= this.cycle);
      for (const w of served) w.resolve();
      await this.sleepIdle(idleMs);
    }
    for (const w of this.idleWaiters) w.resolve();
    this.idleWaiters = [];
  }

  /** Waits `ms` on the clock, unless wake() asked for a look (or stop()). */
  private async sleepIdle(ms: number): Promise<void> {
    if (this.wakeRequested) {
      this.wakeRequested = false;
      return;
    }
    this.sleeping = new AbortController();
    await abortableSleep(this.o.clock, ms, AbortSignal.any([this.stopper.signal, this.sleeping.signal]));
    this.sleeping = null;
  }
}
