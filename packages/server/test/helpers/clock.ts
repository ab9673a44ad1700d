// A clock the test moves by hand (createServer's `clock` option): time stands still until
// advance() is called, and sleepers wake when their time is reached.
import type { Clock } from '../../src/clock.js';

export class ManualClock implements Clock {
  private time: number;
  private sleepers: Array<{ until: number; wake: () => void }> = [];

  constructor(start = Date.now()) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.sleepers.push({ until: this.time + ms, wake: resolve });
      this.wakeDue();
    });
  }

  advance(ms: number): void {
    this.time += ms;
    this.wakeDue();
  }

  private wakeDue(): void {
    const due = this.sleepers.filter((s) => s.until <= this.time);
    this.sleepers = this.sleepers.filter((s) => s.until > this.time);
    for (const s of due) s.wake();
  }
}
