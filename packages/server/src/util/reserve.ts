// The free-space reserve of --min-free: a size (`512M`, `2G`, a bare number of bytes) or a
// share of the file system (`5%`). Sizes use powers of 1024, as oascmd reads them.

export type FreeReserve = { bytes: number } | { percent: number };

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** The reserve, or null when the text is neither a size nor a percentage below 100. */
export function parseReserve(text: string): FreeReserve | null {
  const t = text.trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(t);
  if (pct) {
    const percent = Number(pct[1]);
    return percent < 100 ? { percent } : null;
  }
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)(?:i?B)?$/i.exec(t);
  if (!m) return null;
  const bytes = Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
  return Number.isSafeInteger(bytes) ? { bytes } : null;
}

/** The reserve as an option value (`256M`, `5%`, `0`). */
export function formatReserve(r: FreeReserve): string {
  if ('percent' in r) return `${r.percent}%`;
  for (const unit of ['T', 'G', 'M', 'K'] as const) {
    if (r.bytes > 0 && r.bytes % UNITS[unit]! === 0) return `${r.bytes / UNITS[unit]!}${unit}`;
  }
  return String(r.bytes);
}

/** The bytes the reserve keeps free on a file system of `totalBytes`. */
export function reserveBytes(r: FreeReserve, totalBytes: number): number {
  return 'percent' in r ? Math.ceil((totalBytes * r.percent) / 100) : r.bytes;
}
