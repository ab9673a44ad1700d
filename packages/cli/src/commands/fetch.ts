// fetch/fetchjoboutput: waits for the job if asked, then the SDK's verified, parallel,
// resumable Job.downloadToFile (or, for --start/--size, one ranged request).
import type { Command } from 'commander';
import { callOk, Job, ChecksumMismatchError, TreeEtagHasher, downloadTempPaths } from '@oas/sdk';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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
}

async function fetch(s: Session, runtime: Runtime, [address, jobId, localFile]: string[], opts: FetchOpts): Promise<void> {
  const { vault } = parseVaultAddress(address!);
  const start = optionalSize(opts.start, '--start');
  const length = optionalSize(opts.size, '--size');
  if (length === 0) throw new UsageError('bad --size 0: nothing to download');
  const concurrency = opts.concurrency === undefined ? undefined : parseCount(opts.concurrency, '--concurrency');
  const interval = parseInterval(opts.interval, 30_000);
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

  if (!opts.force && (await exists(localFile!))) {
    if (!runtime.stdin.isTTY) throw new CliError(`${localFile} exists: pass -f to overwrite it`);
    if (!(await confirm(`Output file ${localFile} exists. Do you wish to overwrite it?`, runtime.stdin, runtime.stderr, s.signal))) {
      s.out.note('Answer is no. Quit now.');
      return;
    }
  }

  const total = job.outputSize ?? undefined;
  const progress = startProgress(s.out, 'download', total, { minBarTotal: BAR_MIN });
  try {
    if (start !== undefined || length !== undefined) {
      const from = start ?? 0;
      const size = length ?? (total ?? 0) - from;
      if (size <= 0) throw new UsageError(`bad --start ${from}: the output has only ${total} bytes`);
      const r = await fetchRange(s, job, localFile!, from, from + size - 1, (done) => progress.update(done, size));
      progress.stop(true);
      s.out.result({ JobId: job.id, File: localFile, Size: r.size, RangeInBytes: `${from}-${from + size - 1}`, TreeEtag: r.treeEtag, Verified: r.verified },
        () => s.out.line('Download job output success'));
      return;
    }
    const r = await job.downloadToFile(localFile!, {
      concurrency, signal: s.signal, overwrite: true, onProgress: ({ done, total: t }) => progress.update(done, t ?? undefined),
    });
    progress.stop(true);
    const verified = { full: 'verified against the job\'s tree etag', pieces: 'every piece verified', none: 'no checksum to verify against' }[r.verified];
    s.out.result({ JobId: job.id, File: r.path, Size: r.size, TreeEtag: r.treeEtag, Verified: r.verified, PiecesReused: r.piecesReused }, () => {
      s.out.note(`${shortSize(r.size)} written to ${r.path}, ${verified}${r.piecesReused ? ` (${r.piecesReused} pieces kept from before)` : ''}`);
      s.out.line('Download job output success');
    });
  } catch (e) {
    progress.stop(false);
    if (isAbort(e)) {
      s.out.important(`Download interrupted; verified pieces are kept in ${downloadTempPaths(localFile!).temp}. Run the same command again to resume.`);
    }
    if (e instanceof ChecksumMismatchError) throw new CliError(`download failed verification: ${e.message}`);
    throw e;
  }
}

/**
 * `--start/--size`: one ranged request of the output (as the official fetch does), written
 * to a temp file and renamed into place; checked against the x-oas-tree-etag it came with.
 */
async function fetchRange(s: Session, job: Job, path: string, start: number, end: number,
  onProgress: (done: number) => void): Promise<{ size: number; treeEtag: string; verified: 'pieces' | 'none' }> {
  const response = await callOk(job.api.fetchJobOutput(job.vaultId, job.id, `bytes=${start}-${end}`, { signal: s.signal }));
  const expected = response.getHeader('x-oas-tree-etag')?.trim().toUpperCase();
  const hasher = new TreeEtagHasher();
  let done = 0;
  const temp = downloadTempPaths(path).temp;
  try {
    await pipeline(response.body, new Transform({
      transform(chunk: Buffer, _enc, callback) {
        hasher.update(chunk);
        done += chunk.length;
        onProgress(done);
        callback(null, chunk);
      },
    }), createWriteStream(temp), { signal: s.signal });
    if (done !== end - start + 1) throw new CliError(`the server sent ${done} bytes for range ${start}-${end}`);
    const treeEtag = hasher.digest();
    if (expected && expected !== treeEtag) throw new CliError(`range ${start}-${end} has tree etag ${treeEtag}, the server's x-oas-tree-etag says ${expected}`);
    await rename(temp, path);
    return { size: done, treeEtag, verified: expected ? 'pieces' : 'none' };
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

export function registerFetchCommand(program: Command, run: Runner, runtime: Runtime): void {
  const fe = program.command('fetch').alias('fetchjoboutput').argument('<vault>', 'oas://vault-name')
    .argument('<job_id>', 'job id createjob printed').argument('<local_file>', 'where to write the output')
    .option('--wait', 'wait for the job to finish first (otherwise an unfinished job just says so)')
    .option('--interval <seconds>', 'with --wait: seconds between status checks (default 30)')
    .option('--start <offset>', 'download only from this byte of the output (a multiple of 1 MiB)')
    .option('--size <size>', 'download only this many bytes')
    .option('-f, --force', 'overwrite local_file if it exists')
    .option('--concurrency <n>', 'pieces in flight at once (default 4)')
    .summary('download a job\'s output (verified, parallel, resumable)')
    .description('Download the output of a finished archive or inventory retrieval job. Without --wait, an '
      + 'unfinished job only prints a message (exit status 0), like the official tool. The archive '
      + 'output comes down in parallel pieces, each checked against its tree etag, the whole file '
      + 'against the job\'s tree etag; it is written to local_file.oasdownload and renamed into place '
      + 'only when complete and verified. Run the same command again after an interruption to resume.')
    .action(run<FetchOpts>((s, args, opts) => fetch(s, runtime, args, opts)));
  examples(fe, [
    ['oascmd fetch oas://backup 6D2F... disk.img', 'download if the job is done'],
    ['oascmd fetch oas://backup 6D2F... disk.img --wait --interval 60', 'wait for the job, then download'],
    ['oascmd fetchjoboutput oas://backup 6D2F... part.bin --start 64M --size 32M -f', 'a part of the output'],
  ]);
}
