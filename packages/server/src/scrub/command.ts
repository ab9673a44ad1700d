// `oas-server scrub [--vault NAME] [--now] [store options]`: one scrub pass over the stores
// a server would use (same options and environment), then a report of the damaged archives.
// Exit 0: nothing damaged; 3: damaged archives (listed); 1: the pass failed; 2: bad usage.
// Running servers may keep scrubbing meanwhile: archives they are checking are left to them.
import { hostname } from 'node:os';
import { newId } from '@oas/sdk/protocol';
import type { Clock } from '../clock.js';
import { ConfigError, parseServeArgs } from '../config.js';
import { openOfflineStores } from '../offline-stores.js';
import { Scrubber } from './scrubber.js';
import { MB } from './server.js';

export const SCRUB_HELP = `Usage: oas-server scrub [--vault <name>] [--now] [options]

Checks stored archives against their 1 MiB checksums and tree etags, as the server's
background scrubber does, and lists the damaged ones. Without --now, only archives whose
last check is older than --scrub-interval are read; with --now, every archive is.

  --vault <name>   only the vaults of that name (in every account)
  --now            check every archive now, however recently it was checked
  --scrub-rate, --scrub-interval, --metadata, --blobs, --data-dir, --s3-*, --pg-pool-size
                   as for the server (and their OAS_* environment variables)

Exit status: 0 nothing damaged, 3 damaged archives found (listed on stdout), 1 the pass
could not run, 2 bad usage.
`;

/**
 * The system clock with sleeps that keep the process alive: the server's unref'd ones would
 * let a command whose only pending work is a paced read exit half-way, with status 0.
 */
const commandClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};

/** Exit status when damaged archives were found. */
export const EXIT_DAMAGED = 3;
/** Damaged archives listed at most. */
const LIST_LIMIT = 10_000;

function iso(ms: number | null): string {
  return ms === null ? 'n/a' : ms === 0 ? 'never' : new Date(ms).toISOString();
}

/** Splits off scrub's own flags; the rest are server options. */
function ownFlags(args: string[]): { vault: string | undefined; now: boolean; rest: string[] } {
  let vault: string | undefined;
  let now = false;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--now') now = true;
    else if (a === '--vault') {
      vault = args[++i];
      if (vault === undefined || vault === '') throw new ConfigError('--vault needs a vault name');
    } else if (a.startsWith('--vault=')) vault = a.slice('--vault='.length);
    else rest.push(a);
  }
  if (vault === '') throw new ConfigError('--vault needs a vault name');
  return { vault, now, rest };
}

export async function scrubCommand(args: string[], env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<number> {
  const { vault, now, rest } = ownFlags(args);
  const { help, options } = parseServeArgs(rest, env);
  if (help) {
    out(SCRUB_HELP);
    return 0;
  }
  const { meta, blobs, where, vaultIds, close } = await openOfflineStores(options, vault);
  try {
    const scrubber = new Scrubber({
      meta, blobs, clock: commandClock,
      nodeId: `scrub:${hostname()}:${process.pid}:${newId().slice(0, 8)}`,
      intervalMs: options.scrubIntervalMs,
      bytesPerSecond: options.scrubRate * MB,
      leaseMs: options.jobLeaseMs,
      ...(vaultIds ? { vaultIds } : {}),
      onError: (err, archiveId) => out(`could not check archive ${archiveId ?? '?'}: ${(err as Error).message}`),
    });
    const started = commandClock.now();
    const dueBefore = now ? started : started - options.scrubIntervalMs;
    out(`scrubbing ${vault === undefined ? 'every vault' : `vault ${vault}`} of ${where}`
      + `${now ? '' : ` (archives not checked since ${iso(dueBefore)})`}`);
    const report = await scrubber.runPass(dueBefore);
    const progress = await meta.scrub.progress(dueBefore, vaultIds);
    const damaged = await meta.scrub.damaged(LIST_LIMIT, vaultIds);
    out(`checked ${report.checked} archives (${report.bytes} bytes) in ${((commandClock.now() - started) / 1000).toFixed(1)} s`);
    const unchecked = progress.archives - progress.verified;
    if (unchecked > 0) out(`${unchecked} archives not checked (being checked by a server, or a read error; see above)`);
    out(`oldest last check: ${iso(progress.oldestVerifiedAt)}`);
    if (damaged.length === 0) {
      out('no damaged archives');
      return 0;
    }
    out(`${progress.damaged} damaged archives:`);
    for (const d of damaged) out(`  ${d.archiveId}\tvault ${d.vaultId}\t${d.size} bytes\tchecked ${iso(d.verifiedAt)}\t${d.damage}`);
    return EXIT_DAMAGED;
  } finally {
    await close();
  }
}
