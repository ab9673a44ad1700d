// The persistent job engine. Jobs live in the metadata store; a node claims due jobs with a
// lease (so a job runs on one node at a time), renews the lease while it runs, and writes
// the result under the lease. A job whose node died is claimed again once its lease
// expires; a clean shutdown hands its leases back at once. A job that meets a transient
// store failure (S3 or PostgreSQL unreachable or busy) is handed back to run again later,
// with a growing pause, within the same budget of attempts.
import type { LeafFamily } from '../store/blob/leaf-families.js';
import type { BlobStore } from '../store/blob/types.js';
import type { CorruptDataError } from '../store/blob/verifying-reader.js';
import type { JobRecord, MetadataStore } from '../store/meta/types.js';
import { discardBlob } from '../service/blobs.js';
import type { SpaceGuard } from '../service/space.js';
import { isStorageFull } from '../store/storage-full.js';
import { isTransientStoreError } from '../store/transient.js';
import { failed, type JobResult, type JobRunners } from './types.js';

export interface JobEngineOptions {
  meta: MetadataStore;
  blobs: BlobStore;
  runners: JobRunners;
  nodeId: string;
  concurrency: number;
  outputTtlMs: number;
  inventoryIntervalMs: number | null;
  /** Lease length; renewed every third of it. */
  leaseMs?: number;
  /** Longest wait between looks for due jobs. */
  pollMs?: number;
  /** A job claimed more often than this (its runs kept dying or meeting transient failures) fails. */
  maxAttempts?: number;
  /** Pause before a job that met a transient store failure runs again; doubled each attempt (default 5 s, at most 5 min). */
  retryDelayMs?: number;
  now?: () => number;
  onError?: (err: unknown, job?: JobRecord) => void;
  /** Passed to runners: stored bytes that failed verification. */
  onCorruptRead?: (err: CorruptDataError) => void;
  /** Passed to runners: the free-space reserve (--min-free). */
  space?: SpaceGuard | null;
  /** Passed to runners: the leaf families archives they write store. */
  leafFamilies?: readonly LeafFamily[];
  /** Told of each job this node finished (succeeded or failed), once its result is stored (notifications). */
  onFinished?: (job: JobRecord) => void;
  /** Told when a job met a transient failure and will run again after `delayMs`. */
  onRetry?: (err: unknown, job: JobRecord, delayMs: number) => void;
}

/** The longest pause between attempts of a job that meets transient failures. */
const MAX_RETRY_DELAY_MS = 5 * 60_000;

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

class LeaseLost extends Error {}

export class JobEngine {
  private readonly running = new Map<string, Running>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private again = false;
  private stopping = false;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: JobEngineOptions) {
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.pollMs = opts.pollMs ?? 1_000;
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.retryDelayMs = opts.retryDelayMs ?? 5_000;
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.schedule(0);
  }

  /** A job was created (or finished): look for due jobs now. */
  nudge(): void {
    if (!this.stopping) this.schedule(0);
  }

  get activeJobs(): number {
    return this.running.size;
  }

  /** Stops claiming, aborts running jobs (their leases are handed back) and waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking;
    for (const r of this.running.values()) r.controller.abort(new Error('server shutting down'));
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  private schedule(ms: number): void {
    if (this.stopping) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = null; void this.tick(); }, ms);
    this.timer.unref();
  }

  private tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = this.claimDue().finally(() => {
      this.ticking = null;
      this.schedule(this.pollMs);
    });
    return this.ticking;
  }

  private async claimDue(): Promise<void> {
    try {
      do {
        this.again = false;
        const free = this.opts.concurrency - this.running.size;
        if (free <= 0 || this.stopping) break;
        const now = this.now();
        const claimed = await this.opts.meta.claimJobs(this.opts.nodeId, now, now + this.leaseMs, free);
        for (const job of claimed) {
          if (this.stopping) {
            // Claimed while shutting down: hand it straight back.
            await this.opts.meta.finishJob(job.id, this.opts.nodeId, {}).catch((err: unknown) => this.opts.onError?.(err, job));
          } else if (!this.running.has(job.id)) {
            this.run(job);
          }
        }
        if (claimed.length === free) this.again = true;
      } while (this.again && !this.stopping);
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  private run(job: JobRecord): void {
    const controller = new AbortController();
    const entry: Running = { controller, done: Promise.resolve() };
    this.running.set(job.id, entry);
    entry.done = this.execute(job, controller).finally(() => {
      this.running.delete(job.id);
      this.nudge();
    });
  }

  private async execute(job: JobRecord, controller: AbortController): Promise<void> {
    const { meta, blobs, nodeId } = this.opts;
    const renew = setInterval(() => {
      meta.renewLease(job.id, nodeId, this.now() + this.leaseMs).then((ok) => {
        if (!ok) controller.abort(new LeaseLost(`lease of job ${job.id} lost`));
      }, (err) => this.opts.onError?.(err, job));
    }, Math.max(10, Math.floor(this.leaseMs / 3)));
    renew.unref();
    let result: JobResult;
    try {
      if (job.attempts > this.maxAttempts) {
        result = failed(`The job was started ${job.attempts - 1} times without finishing and was given up.`);
      } else {
        result = await this.opts.runners[job.type](job, {
          meta, blobs, signal: controller.signal, now: this.now, inventoryIntervalMs: this.opts.inventoryIntervalMs,
          saveCheckpoint: (checkpoint) => meta.saveCheckpoint(job.id, nodeId, checkpoint),
          ...(this.opts.onCorruptRead ? { onCorruptRead: this.opts.onCorruptRead } : {}),
          space: this.opts.space ?? null,
          leafFamilies: this.opts.leafFamilies,
        });
      }
    } catch (err) {
      clearInterval(renew);
      if (controller.signal.aborted) {
        // Shutdown: hand the lease back so the job runs again at once after a restart.
        if (!(controller.signal.reason instanceof LeaseLost)) {
          await meta.finishJob(job.id, nodeId, {}).catch((e: unknown) => this.opts.onError?.(e, job));
        }
        return;
      }
      const full = isStorageFull(err);
      const transient = !full && isTransientStoreError(err);
      if (transient && job.attempts < this.maxAttempts) {
        await this.retryLater(job, err);
        return;
      }
      this.opts.onError?.(err, job);
      result = failed(full
        ? 'The server ran out of storage space while writing the job\'s data; nothing was kept. Start the job again once space is freed.'
        : transient
          ? `The storage could not be reached in ${job.attempts} attempts; the last one failed with: ${(err as Error).message}`
          : `Internal error while running the job: ${(err as Error).message}`);
    } finally {
      clearInterval(renew);
    }
    if (controller.signal.aborted && controller.signal.reason instanceof LeaseLost) {
      if (result.outputKey) await discardBlob(meta, blobs, result.outputKey);
      return;
    }
    const completedAt = this.now();
    let ok = false;
    try {
      ok = await meta.finishJob(job.id, nodeId, { ...result, completedAt, expiresAt: completedAt + this.opts.outputTtlMs });
    } catch (err) {
      this.opts.onError?.(err, job);
    }
    if (!ok && result.outputKey) await discardBlob(meta, blobs, result.outputKey);
    if (ok && this.opts.onFinished) {
      try {
        this.opts.onFinished({ ...job, ...result, completedAt, expiresAt: completedAt + this.opts.outputTtlMs, leaseOwner: null, leaseUntil: null });
      } catch (err) {
        this.opts.onError?.(err, job);
      }
    }
  }

  /** Hands the job back under its lease, due again after a pause that doubles with each attempt. */
  private async retryLater(job: JobRecord, err: unknown): Promise<void> {
    const delayMs = Math.min(MAX_RETRY_DELAY_MS, this.retryDelayMs * 2 ** Math.max(0, job.attempts - 1));
    try {
      if (await this.opts.meta.finishJob(job.id, this.opts.nodeId, { runAfter: this.now() + delayMs })) this.opts.onRetry?.(err, job, delayMs);
    } catch (e) {
      // The metadata store failing too: the lease runs out and the job is claimed again anyway.
      this.opts.onError?.(e, job);
    }
  }
}
