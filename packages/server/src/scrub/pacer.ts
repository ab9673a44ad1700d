// Holds reads to an average rate: each chunk read books rate-time (bytes / rate) on a
// schedule, and the reader waits until the schedule catches up with the clock. Time spent
// idle is not banked, so a pass that resumes after a pause cannot burst above the rate.
import type { Clock } from '../clock.js';

export class Pacer {
  /** When the bytes booked so far have been "paid for" at the rate. */
  private paidUntil = -Infinity;

  /** `bytesPerSecond` 0 means no limit. */
  constructor(private readonly bytesPerSecond: number, private readonly clock: Clock) {}

  /** Books `bytes` read at `now`; returns how long the reader must wait before reading more. */
  book(bytes: number, now = this.clock.now()): number {
    if (this.bytesPerSecond <= 0) return 0;
    this.paidUntil = Math.max(this.paidUntil, now) + (bytes * 1000) / this.bytesPerSecond;
    return Math.max(0, this.paidUntil - now);
  }

  /** Books `bytes` and waits as long as the rate asks (cut short when `signal` aborts). */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const wait = this.book(bytes);
    if (wait <= 0) return;
    signal?.throwIfAborted();
    await abortableSleep(this.clock, wait, signal);
    signal?.throwIfAborted();
  }
}

/** The clock's sleep, ended early by an abort. */
export function abortableSleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return clock.sleep(ms);
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    void clock.sleep(ms).then(done);
  });
}
