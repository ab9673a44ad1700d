// Retrieval tiers (docs/glacier.md, "Jobs and tiers"): AWS takes minutes (Expedited) to hours
// (Standard, Bulk). This server finishes as fast as it can re-read the data, unless
// `--glacier-tier-delay Expedited=1m,Standard=5h,Bulk=12h` delays each tier's jobs, on top of
// --job-delay. Unnamed tiers keep 0.
import { formatDuration, parseDuration } from '../../util/duration.js';

export const TIERS = ['Expedited', 'Standard', 'Bulk'] as const;
export type Tier = (typeof TIERS)[number];

export type TierDelays = Readonly<Record<Tier, number>>;

export const NO_TIER_DELAYS: TierDelays = { Expedited: 0, Standard: 0, Bulk: 0 };

/** `Tier=duration,...` (comma or space separated); throws a one-line Error naming what is wrong. */
export function parseTierDelays(text: string): TierDelays {
  const out: Record<Tier, number> = { ...NO_TIER_DELAYS };
  const seen = new Set<string>();
  for (const item of text.split(/[\s,]+/).filter((s) => s !== '')) {
    const eq = item.indexOf('=');
    const tier = eq < 0 ? item : item.slice(0, eq);
    if (!(TIERS as readonly string[]).includes(tier)) {
      throw new Error(`unknown tier '${tier}' (expected ${TIERS.join(', ')}, as in Expedited=1m,Standard=5h,Bulk=12h)`);
    }
    if (seen.has(tier)) throw new Error(`tier ${tier} is given twice`);
    seen.add(tier);
    const ms = eq < 0 ? null : parseDuration(item.slice(eq + 1));
    if (ms === null) throw new Error(`${tier} needs a duration such as ${tier}=5m, got '${item}'`);
    out[tier as Tier] = ms;
  }
  return out;
}

export function formatTierDelays(delays: TierDelays): string {
  return TIERS.map((t) => `${t}=${formatDuration(delays[t])}`).join(',');
}
