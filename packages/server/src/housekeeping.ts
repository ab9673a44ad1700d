// The server's timers: purging expired jobs and deleted archives, the orphan-blob sweep of
// shared stores, and periodic inventory snapshots. Each runs on an unref'd interval and
// can also be run at once (tests, the admin).
import type { BlobStore } from './store/blob/types.js';
import type { MetadataStore } from './store/meta/types.js';
import { OrphanSweeper, purgeExpired } from './maintenance.js';

export interface HousekeepingOptions {
  meta: MetadataStore;
  blobs: BlobStore;
  now(): number;
  jobOutputTtlMs: number;
  /** null: no periodic inventories (live statistics). */
  inventoryIntervalMs: number | null;
  /** Other nodes share the stores: sweep orphan blobs over time. */
  shared: boolean;
  leftoversSafe: boolean;
  orphanGraceMs: number;
  onError(err: unknown, what: string): void;
}

export interface Housekeeping {
  runMaintenance(): Promise<number>;
  sweepOrphans(): Promise<number>;
  snapshotInventories(): Promise<void>;
  stop(): void;
}

export function startHousekeeping(o: HousekeepingOptions): Housekeeping {
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, run: () => Promise<unknown>, what: string) => {
    const timer = setInterval(() => {
      run().catch((err: unknown) => o.onError(err, what));
    }, ms);
    timer.unref();
    timers.push(timer);
  };
  // One pass at a time: a pass started while the timer's is deleting blobs waits for it,
  // so when it resolves everything expired by then is gone (rows and blobs).
  let lastPurge: Promise<unknown> = Promise.resolve();
  const runMaintenance = () => {
    const pass = lastPurge.then(() => purgeExpired(o.meta, o.blobs, o.now()));
    lastPurge = pass.catch(() => undefined);
    return pass;
  };
  every(Math.min(Math.max(o.jobOutputTtlMs, 1000), 60_000), runMaintenance, 'purge failed');
  // Shared stores: orphan blobs are collected by mark and sweep over time, not at start-up.
  const sweeper = new OrphanSweeper(o.meta, o.blobs, o.orphanGraceMs, o.leftoversSafe);
  const sweepOrphans = () => (o.shared ? sweeper.sweep(o.now()) : Promise.resolve(0));
  if (o.shared) every(o.orphanGraceMs, sweepOrphans, 'orphan sweep failed');
  const snapshotInventories = () => o.meta.snapshotInventories(o.now());
  if (o.inventoryIntervalMs !== null) every(o.inventoryIntervalMs, snapshotInventories, 'inventory snapshot failed');
  return {
    runMaintenance, sweepOrphans, snapshotInventories,
    stop: () => { for (const t of timers) clearInterval(t); },
  };
}
