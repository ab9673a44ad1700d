// Sizes on the command line (`32M`, `1.5GB`, `4096`) and sizes shown to people.
import { UsageError } from './errors.js';

const UNITS = ['', 'K', 'M', 'G', 'T', 'P'] as const;

/**
 * A byte count: digits with an optional K/M/G/T/P suffix (powers of 1024) and an optional
 * trailing B, case-insensitive, as the official oascmd reads sizes. A fraction is allowed
 * when the result is a whole number of bytes (`1.5G`).
 */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`bad ${what} '${text}': use a number of bytes, optionally followed by K, M, G, T or P (powers of 1024)`);
  const unit = UNITS.indexOf(m[2]!.toUpperCase() as (typeof UNITS)[number]);
  const value = Number(m[1]) * 1024 ** unit;
  if (!Number.isSafeInteger(value)) throw new UsageError(`bad ${what} '${text}': not a whole number of bytes, or too large`);
  return value;
}

/** An optional size option: undefined stays undefined. */
export function optionalSize(text: string | undefined, what: string): number | undefined {
  return text === undefined ? undefined : parseSize(text, what);
}

/** A positive integer option such as --limit or --concurrency. */
export function parseCount(text: string, what: string, min = 1): number {
  if (!/^\s*\d+\s*$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`bad ${what} '${text}': expected an integer >= ${min}`);
  }
  return Number(text);
}

/** `12.50 MB`, the official tool's humanized size (1024-based, two decimals). */
export function humanSize(bytes: number | undefined | null): string {
  if (bytes === undefined || bytes === null) return '';
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(2)} ${unit === 0 ? 'B' : UNITS[unit] + 'B'}`;
}

/** `1.5 GiB`, compact, for progress lines. */
export function shortSize(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${UNITS[unit]}iB`;
}

/** `141 MiB/s`, `412 B/s`: the one way rates are shown; '-' when there is none yet. */
export function shortRate(bytesPerSecond: number): string {
  return Number.isFinite(bytesPerSecond) && bytesPerSecond > 0 ? `${shortSize(bytesPerSecond)}/s` : '-';
}

/** `1h02m03s`, `4m05s`, `7s`. */
export function shortDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m${String(sec).padStart(2, '0')}s`;
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}
