// fetch/fetchjoboutput: waits for the job if asked, then the SDK's verified, parallel,
// resumable Job.downloadToFile (of the whole output, or of --start/--size).
import type { Command } from 'commander';
import { Job, ChecksumMismatchError, downloadTempPaths } from '@oas/sdk';
import { parseVaultAddress } from '../address.js';
import { examples, type Runner, type Runtime } from '../command.js';
import { CliError, UsageError, isAbort } from '../errors.js';
import { BAR_MIN, exists } from '../files.js';
import { startProgress } from '../progress.js';
import { confirm } from '../prompt.js';
import { optionalSize, parseCount, shortSize } from '../size.js';
import type { Session } from '../session.js';
import { parseInterval, waitForJob } from './jobs.js';

interface FetchOpts {
  wait?: boolean;
  interval?: string;
  start?: string;
  size?: string;
  force?: boolean;
  concurrency?: string;
  fsync?: boolean;
}

async function fetch(s: Session, runtime: Runtime, [address, jobId, localFile]: string[], opts: FetchOpts): Promise<void> {
  const { vault } = parseVaultAddress(address!);
  const start = optionalSize(opts.start, '--start');
  const length = optionalSize(opts.size, '--size');
  if (length === 0) throw new UsageError('bad --size 0: nothing to download');
  const concurrency = opts.concurrency === undefined ? undefined : parseCount(opts.concurrency, '--concurrency');
  const interval = parseInterval(opts.interval);
  const vaultId = await s.vaultId(vault);
  const api = await s.api();
  const job = await Job.get(api, vaultId, jobId!, { signal: s.signal });
  const type = job.action === 'InventoryRetrieval' ? 'inventory-retrieval' : 'archive-retrieval';

  if (!job.completed && !opts.wait) {
    // The official behaviour: not an error, try again later (or use --wait).
    s.out.result({ JobId: job.id, StatusCode: job.statusCode, Completed: false, Downloaded: false },
      () => s.out.line(`${type} job still in progress. Repeat this command later (or add --wait)`));
    return;
  }
  await waitForJob(s, job, interval);

  const total = job.outputSize ?? undefined;
  const ranged = start !== undefined || length !== undefined;
  let range: { start: number; end: number } | undefined;
  if (ranged) {
    if (job.action === 'InventoryRetrieval') throw new UsageError('--start/--size apply to archive retrievals; an inventory downloads whole');
    const from = start ?? 0;
    const size = length ?? (total ?? 0) - from;
    if (size <= 0) throw new UsageError(`bad --start ${from}: the output has only ${total} bytes`);
    range = { start: from, end: from + size - 1 };
  }

  if (!opts.force && (await exists(localFile!))) {
    if (!runtime.stdin.isTTY) throw new CliError(`${localFile} exists: pass -f to overwrite it`);
    if (!(await confirm(`Output file ${localFile} exists. Do you wish to overwrite it?`, runtime.stdin, runtime.stderr, s.signal))) {
      s.out.note('Answer is no. Quit now.');
      return;
    }
  }

  const progress = startProgress(s.out, 'download', range ? range.end - range.start + 1 : total, { minBarTotal: BAR_MIN, summary: 'downloaded' });
  try {
    const r = await job.downloadToFile(localFile!, {
      concurrency, signal: s.signal, overwrite: true, range, fsync: opts.fsync === true, onProgress: ({ done, total: t }) => progress.update(done, t ?? undefined),
    });
    progress.stop(true);
    const verified = {
      full: 'verified against the job\'s tree etag',
      pieces: range ? 'every piece verified' : 'every piece verified (the job has no tree etag for the whole)',
      none: 'no checksum to verify against',
    }[r.verified];
    s.out.result({
      JobId: job.id, File: r.path, Size: r.size, ...(range ? { RangeInBytes: `${range.start}-${range.end}` } : {}),
      TreeEtag: r.treeEtag, Verified: r.verified, PiecesReused: r.piecesReused, Synced: r.synced,
    }, () => {
      s.out.note(`${shortSize(r.size)} written to ${r.path}, ${verified}${r.piecesReused ? ` (${r.piecesReused} pieces kept from before)` : ''}`);
      s.out.line('Download job output success');
    });
  } catch (e) {
    progress.stop(false);
    if (isAbort(e)) {
      s.out.important(`Download interrupted; verified pieces are kept in ${downloadTempPaths(localFile!).temp}. Run the same command again to resume.`);
    }
    if (e instanceof ChecksumMismatchError) throw new CliError(`download failed verification: ${e.message}`);
    // The SDK checks a range against the output and the server's alignment rule.
    if (e instanceof RangeError && range) throw new UsageError(`bad --start/--size: ${e.message}`);
    throw e;
  }
}

export function registerFetchCommand(program: Command, run: Runner, runtime: Runtime): void {
  const fe = program.command('fetch').alias('fetchjoboutput').argument('<vault>', 'oas://vault-name')
    .argument('<job_id>', 'job id createjob printed').argument('<local_file>', 'where to write the output')
    .option('--wait', 'wait for the job to finish first (otherwise an unfinished job just says so)')
    .option('--interval <seconds>', 'with --wait: seconds between status checks (default: 1, doubling up to 30)')
    .option('--start <offset>', 'download only from this byte of the output (a multiple of 1 MiB)')
    .option('--size <size>', 'download only this many bytes (to a multiple of 1 MiB, or to the end)')
    .option('-f, --force', 'overwrite local_file if it exists')
    .option('--concurrency <n>', 'pieces in flight at once (default 4)')
    .option('--fsync', 'flush the file to disk before reporting success (default: left to the kernel, like curl -o)')
    .summary('download a job\'s output (verified, parallel, resumable)')
    .description('Download the output of a finished archive or inventory retrieval job. Without --wait, an '
      + 'unfinished job only prints a message (exit status 0), like the official tool. The archive '
      + 'output comes down in parallel pieces, each checked against its tree etag, the whole file '
      + 'against the job\'s tree etag; it is written to local_file.oasdownload and renamed into place '
      + 'only when complete and verified (not fsynced unless --fsync is given). Run the same command again after an interruption to resume. '
      + '--start/--size download part of the output the same way. A failed job is an error (exit 1) '
      + 'with the job\'s status message.')
    .action(run<FetchOpts>((s, args, opts) => fetch(s, runtime, args, opts)));
  examples(fe, [
    ['oascmd fetch oas://backup 6D2F... disk.img', 'download if the job is done'],
    ['oascmd fetch oas://backup 6D2F... disk.img --wait --interval 60', 'wait for the job, then download'],
    ['oascmd fetchjoboutput oas://backup 6D2F... part.bin --start 64M --size 32M -f', 'a part of the output'],
  ]);
}
