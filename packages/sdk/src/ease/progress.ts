// Progress of a transfer as bytes done of a total. Bytes of a part or piece still in
// flight count as they go out or come in; a retry takes them back, so `done` can step
// back when a part is sent again.

export interface TransferProgress {
  done: number;
  /** null while the total is unknown (a stream of unknown length). */
  total: number | null;
}

export type ProgressCallback = (progress: TransferProgress) => void;

export class ProgressTracker {
  private finished = 0;
  private readonly inflight = new Map<number, number>();

  constructor(private total: number | null, private readonly callback?: ProgressCallback) {}

  get done(): number {
    let sum = this.finished;
    for (const n of this.inflight.values()) sum += n;
    return sum;
  }

  setTotal(total: number): void {
    this.total = total;
  }

  /** `n` more bytes of unit `key` moved. */
  add(key: number, n: number): void {
    this.inflight.set(key, (this.inflight.get(key) ?? 0) + n);
    this.report();
  }

  /** Unit `key` starts over (its partial bytes no longer count). */
  reset(key: number): void {
    if (this.inflight.delete(key)) this.report();
  }

  /** Unit `key` is done with `size` bytes. */
  finish(key: number, size: number): void {
    this.inflight.delete(key);
    this.finished += size;
    this.report();
  }

  report(): void {
    this.callback?.({ done: this.done, total: this.total });
  }
}
