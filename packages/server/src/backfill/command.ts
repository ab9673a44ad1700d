// `oas-server backfill [--vault NAME] [store options]`: gives every blob stored before
// SHA-256 leaves existed its leaves now, over the stores a server would use (same options
// and environment), paced by --scrub-rate. Safe beside running servers (adding leaves is
// idempotent) and resumable (blobs that have leaves are skipped).
// Exit 0: every blob has its leaves; 1: some could not get them (listed) or the pass
// failed; 2: bad usage.
import type { Clock } from '../clock.js';
import { ConfigError, parseServeArgs } from '../config.js';
import { MB } from '../scrub/server.js';
import { openOfflineStores } from '../offline-stores.js';
import { Backfiller } from './backfiller.js';

export const BACKFILL_HELP = `Usage: oas-server backfill [--vault <name>] [options]

Adds SHA-256 1 MiB leaves (the Glacier tree hash) to archives and upload parts stored
before the server kept them. Each blob is read once; the read also re-checks its MD5
leaves, and a damaged blob is reported, never given new checksums. Blobs that already
have their leaves are skipped, so an interrupted run resumes where it stopped.

  --vault <name>   only the vaults of that name (in every account)
  --scrub-rate, --metadata, --blobs, --data-dir, --s3-*, --pg-pool-size
                   as for the server (and their OAS_* environment variables)

Exit status: 0 every blob has its leaves, 1 some blobs failed (listed) or the pass could
not run, 2 bad usage.
`;

/** Sleeps that keep the process alive (see scrub/command.ts). */
const commandClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};

function ownFlags(args: string[]): { vault: string | undefined; rest: string[] } {
  let vault: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--vault') {
      vault = args[++i];
      if (vault === undefined || vault === '') throw new ConfigError('--vault needs a vault name');
    } else if (a.startsWith('--vault=')) vault = a.slice('--vault='.length);
    else rest.push(a);
  }
  if (vault === '') throw new ConfigError('--vault needs a vault name');
  return { vault, rest };
}

export async function backfillCommand(args: string[], env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<number> {
  const { vault, rest } = ownFlags(args);
  const { help, options } = parseServeArgs(rest, env);
  if (help) {
    out(BACKFILL_HELP);
    return 0;
  }
  const { meta, blobs, where, vaultIds, close } = await openOfflineStores(options, vault);
  try {
    const backfiller = new Backfiller({
      meta, blobs, clock: commandClock, bytesPerSecond: options.scrubRate * MB, ...(vaultIds ? { vaultIds } : {}),
    });
    const started = commandClock.now();
    out(`adding SHA-256 leaves in ${vault === undefined ? 'every vault' : `vault ${vault}`} of ${where}`);
    const report = await backfiller.runPass();
    out(`looked at ${report.blobs} blobs, added leaves to ${report.added} (${report.bytes} bytes read) in ${((commandClock.now() - started) / 1000).toFixed(1)} s`);
    if (report.failed.length === 0) {
      out('every blob has its SHA-256 leaves');
      return 0;
    }
    out(`${report.failed.length} blobs failed:`);
    for (const f of report.failed) out(`  ${f.blobKey}\t${f.owner}\t${f.kind}\t${f.message}`);
    return 1;
  } finally {
    await close();
  }
}
