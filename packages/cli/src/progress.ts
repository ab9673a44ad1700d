// Progress of uploads, downloads and hashing: a bar with rate and ETA when the terminal is
// interactive, a line on stderr every few seconds otherwise, nothing with --quiet. At the
// end a summary line on stderr: `uploaded 2.0 GiB in 14.5 s (141 MiB/s)`.
import cliProgress from 'cli-progress';
import type { Output } from './output.js';
import { shortDuration, shortRate, shortSize } from './size.js';

export interface Progress {
  /** Bytes done so far (and the total, when it becomes known or changes). */
  update(done: number, total?: number): void;
  /**
   * Ends the display; `ok` prints a closing summary where lines were shown. `alreadyThere`:
   * bytes counted as done without being transferred (parts a resumed upload found on the server).
   */
  stop(ok?: boolean, alreadyThere?: number): void;
}

export interface ProgressOptions {
  /** Below this total the bar is not worth showing (it would only flash). */
  minBarTotal?: number;
  /** Milliseconds between lines when not on a terminal (OASCMD_PROGRESS_INTERVAL overrides). */
  interval?: number;
  /**
   * The summary line's verb (`uploaded`, `downloaded`): printed after every successful
   * transfer. Without it the summary only follows progress that was actually shown.
   */
  summary?: string;
}

const VERBS: Record<string, string> = { upload: 'uploaded', download: 'downloaded', hash: 'hashed' };

/**
 * `uploaded 2.0 GiB in 14.5 s (141 MiB/s)`; with bytes that were already there (a resumed
 * upload) only what moved counts: `uploaded 100 MiB in 1.2 s (83 MiB/s); 200 MiB were
 * already on the server`, or `300 MiB already on the server, 0 B sent; completed in 0.7 s`.
 */
export function summaryLine(verb: string, bytes: number, seconds: number, alreadyThere = 0): string {
  const time = seconds < 60 ? `${seconds.toFixed(1)} s` : shortDuration(seconds);
  const moved = Math.max(0, bytes - alreadyThere);
  if (alreadyThere > 0 && moved === 0) return `${shortSize(alreadyThere)} already on the server, 0 B sent; completed in ${time}`;
  const line = `${verb} ${shortSize(moved)} in ${time} (${shortRate(seconds > 0 ? moved / seconds : 0)})`;
  return alreadyThere > 0 ? `${line}; ${shortSize(alreadyThere)} were already on the server` : line;
}

const NOOP: Progress = { update() {}, stop() {} };

/** Rate over the last few seconds, so a stall shows up quickly. */
class RateMeter {
  private readonly samples: Array<[number, number]> = [];
  constructor(private readonly windowMs = 5000) {}

  add(done: number, now = Date.now()): void {
    this.samples.push([now, done]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > this.windowMs) this.samples.shift();
  }

  /** Bytes per second, 0 until there are two samples apart in time. */
  get rate(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last[0] <= first[0]) return 0;
    return ((last[1] - first[1]) * 1000) / (last[0] - first[0]);
  }
}

function describe(done: number, total: number | undefined, rate: number): { amount: string; rate: string; eta: string; percent: string } {
  const known = total !== undefined && total > 0;
  return {
    amount: known ? `${shortSize(done)} / ${shortSize(total)}` : shortSize(done),
    rate: shortRate(rate),
    eta: known && rate > 0 ? shortDuration((total - done) / rate) : '?',
    percent: known ? `${Math.floor((done * 100) / total)}%` : '',
  };
}

/** Starts a progress display for `label` (e.g. "upload"); `total` may be unknown (stdin). */
export function startProgress(out: Output, label: string, total: number | undefined, options: ProgressOptions = {}): Progress {
  if (out.quiet) return NOOP;
  const interactive = Boolean(out.stderr.isTTY && out.stdout.isTTY);
  const started = Date.now();
  let done = 0;
  let shown = false;
  const inner = interactive && total !== undefined && total >= (options.minBarTotal ?? 0)
    ? barProgress(out, label, total)
    : lineProgress(out, label, total, intervalOf(options), () => { shown = true; });
  if (inner.shown) shown = true;
  return {
    update(value, newTotal) {
      done = value;
      inner.update(value, newTotal);
    },
    stop(ok = true, alreadyThere = 0) {
      inner.stop(ok);
      if (ok && (options.summary || shown)) {
        out.stderr.write(`${summaryLine(options.summary ?? VERBS[label] ?? label, done, (Date.now() - started) / 1000, alreadyThere)}\n`);
      }
    },
  };
}

function intervalOf(options: ProgressOptions): number {
  const env = Number(process.env.OASCMD_PROGRESS_INTERVAL);
  return Number.isFinite(env) && env >= 0 && process.env.OASCMD_PROGRESS_INTERVAL !== '' ? env : options.interval ?? 3000;
}

function barProgress(out: Output, label: string, initialTotal: number): Progress & { shown: boolean } {
  const meter = new RateMeter();
  let total = initialTotal;
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {percentage}% | {amount} | {rate} | ETA {etaText}`,
    stream: out.stderr,
    hideCursor: true,
    barsize: 30,
    fps: 8,
    clearOnComplete: false,
    forceRedraw: true,
  }, cliProgress.Presets.shades_classic);
  bar.start(Math.max(total, 1), 0, { amount: describe(0, total, 0).amount, rate: '-', etaText: '?' });
  // Other output would land on the bar's line: clear it first, the bar redraws itself.
  const restore = out.setBeforeWrite(() => out.stderr.write('\r\x1b[2K'));
  return {
    shown: true,
    update(done, newTotal) {
      if (newTotal !== undefined && newTotal !== total) {
        total = newTotal;
        bar.setTotal(Math.max(total, 1));
      }
      meter.add(done);
      const d = describe(done, total, meter.rate);
      bar.update(done, { amount: d.amount, rate: d.rate, etaText: d.eta });
    },
    stop() {
      bar.stop();
      restore();
    },
  };
}

function lineProgress(out: Output, label: string, initialTotal: number | undefined, interval: number, onShown: () => void): Progress & { shown: boolean } {
  const meter = new RateMeter();
  let total = initialTotal;
  let last = Date.now();
  return {
    shown: false,
    update(value, newTotal) {
      if (newTotal !== undefined) total = newTotal;
      const now = Date.now();
      meter.add(value, now);
      if (now - last < interval) return;
      last = now;
      onShown();
      const d = describe(value, total, meter.rate);
      out.stderr.write(`${label}: ${d.amount}${d.percent ? ` (${d.percent})` : ''}, ${d.rate}, ETA ${d.eta}\n`);
    },
    stop() {},
  };
}
