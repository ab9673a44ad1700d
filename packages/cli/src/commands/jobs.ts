// Job commands: createjob, cp, getjobdesc, listjob, wait. Jobs are started through the
// SDK's Vault (retrieveArchive, retrieveInventory, pullFromOss, pushToOss).
import type { Command } from 'commander';
import { callOk, Job, JobFailedError, type JobJson } from '@oas/sdk';
import { isOasAddress, isOssAddress, parseOssAddress, parseVaultAddress } from '../address.js';
import { examples, listOptions, type Runner } from '../command.js';
import { readOssHostFallback } from '../config.js';
import { CliError, UsageError } from '../errors.js';
import { JOB_FIELDS, jobToWire, localDate, pyString } from '../format.js';
import { optionalSize, parseCount } from '../size.js';
import type { Session } from '../session.js';

/** The official key: value listing of a job (dates in local time, booleans as True/False). */
export function printJob(s: Session, job: Record<string, unknown>): void {
  s.out.keyValues(JOB_FIELDS.map((k) => [k, k.endsWith('Date') ? localDate(job[k] as string) : pyString(job[k])]));
}

/** `--interval` in seconds (fractions allowed) → milliseconds. */
export function parseInterval(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
  if (!(seconds >= 0)) throw new UsageError(`bad --interval '${text}': expected a number of seconds`);
  return Math.round(seconds * 1000);
}

interface CreateJobOpts {
  start?: string;
  size?: string;
  desc?: string;
}

async function createJob(s: Session, [address, archiveId]: string[], opts: CreateJobOpts): Promise<void> {
  const { vault: name } = parseVaultAddress(address!);
  let start = optionalSize(opts.start, '--start');
  let size = optionalSize(opts.size, '--size');
  if (size === 0) throw new UsageError('bad --size 0: a retrieval needs at least one byte');
  const vault = await s.vault(name);
  let job: Job;
  if (!archiveId) {
    if (start !== undefined || size !== undefined) s.out.note('Tip: Inventory-retrieval does NOT support range, ignored');
    job = await vault.retrieveInventory({ description: opts.desc, signal: s.signal });
  } else {
    let range: { start: number; end: number } | undefined;
    if (start !== undefined || size !== undefined) {
      start ??= 0;
      // Only a start: to the end of the archive, whose size the archive metadata gives.
      size ??= (await vault.headArchive(archiveId, { signal: s.signal })).size - start;
      if (size <= 0) throw new UsageError(`bad --start ${start}: the archive is smaller than that`);
      range = { start, end: start + size - 1 };
      s.out.note(`Archive retrieval range: ${range.start}-${range.end}`);
    }
    job = await vault.retrieveArchive(archiveId, { range, description: opts.desc, signal: s.signal });
  }
  const type = archiveId ? 'archive-retrieval' : 'inventory-retrieval';
  s.out.result(jobToWire(job), () => {
    s.out.line(`${type} job created, job ID: ${job.id}`);
    // Only what is known: the job's state now (a self-hosted server may finish at once, the
    // hosted service takes hours), and how to wait for it.
    s.out.note(job.completed
      ? `Job status: ${job.statusCode}. Download the output with\n\n    oascmd fetch ${address} ${job.id} <localfile>\n`
      : `Job status: ${job.statusCode}. Wait for it and download the output in one step with\n\n`
        + `    oascmd fetch ${address} ${job.id} <localfile> --wait\n\n`
        + `or wait with 'oascmd wait ${address} ${job.id}', or check later with 'oascmd getjobdesc ${address} ${job.id}'.`);
  });
}

interface CpOpts {
  osshost?: string;
  desc?: string;
  wait?: boolean;
  interval?: string;
}

async function cp(s: Session, [source, destination]: string[], opts: CpOpts): Promise<void> {
  const interval = parseInterval(opts.interval);
  let pull: boolean;
  if (isOssAddress(source!) && isOasAddress(destination!)) pull = true;
  else if (isOasAddress(source!) && isOssAddress(destination!)) pull = false;
  else throw new UsageError('cp copies oss://bucket/object to oas://vault-name, or oas://vault-name/archive-id to oss://bucket/object');
  const oss = parseOssAddress(pull ? source! : destination!);
  const oas = parseVaultAddress(pull ? destination! : source!, { archive: pull ? 'forbidden' : 'required' });
  const ossText = `${oss.bucket}/${oss.object}`;
  const description = (opts.desc ?? `copy ${pull ? 'from' : 'to'} ${ossText}`).slice(0, 128);
  // The OSS endpoint: --osshost, else osshost in the OAS credentials file, else ~/.osscredentials.
  const ossHost = opts.osshost || (await s.credentials()).ossHost || (await readOssHostFallback(s.env));
  if (!ossHost) throw new UsageError('no OSS host: pass --osshost, or add osshost to the credentials file (see oascmd config --osshost)');
  const vault = await s.vault(oas.vault);
  const job = pull
    ? await vault.pullFromOss(ossHost, oss.bucket, oss.object, { description, signal: s.signal })
    : await vault.pushToOss(oas.archiveId!, ossHost, oss.bucket, oss.object, { description, signal: s.signal });
  if (opts.wait) {
    // The id first (also with --json, on stderr), so the job can be followed if the wait is cut short.
    s.out.important(`oss transfer job created, job ID: ${job.id}`);
    await waitForJob(s, job, interval);
    s.out.result(jobToWire(job), () => {
      if (pull) s.out.line(`Archive ID: ${job.archiveId ?? ''}`);
      else s.out.line(`Copied to oss://${ossText}`);
    });
    return;
  }
  s.out.result(jobToWire(job), () => {
    s.out.line(`oss transfer job created, job ID: ${job.id}`);
    const tip = pull ? ' and retrieve corresponding Archive ID from job status' : '.';
    s.out.note(`Use\n\n    oascmd getjobdesc oas://${oas.vault} ${job.id}\n\nto check job progress${tip}`);
    s.out.note(`Job status: ${job.statusCode}.${job.completed ? '' : ` Wait for it with 'oascmd wait oas://${oas.vault} ${job.id}' (or give cp --wait).`}`);
  });
}

async function getJobDesc(s: Session, [address, jobId]: string[]): Promise<void> {
  const vaultId = await s.vaultId(parseVaultAddress(address!).vault);
  const api = await s.api();
  const job = await (await callOk(api.getJobDesc(vaultId, jobId!, { signal: s.signal }))).json<JobJson>();
  s.out.result(job, () => printJob(s, job as unknown as Record<string, unknown>));
}

async function listJob(s: Session, [address]: string[], opts: { marker?: string; limit?: string }): Promise<void> {
  const limit = opts.limit === undefined ? undefined : parseCount(opts.limit, '--limit');
  const vaultId = await s.vaultId(parseVaultAddress(address!).vault);
  const api = await s.api();
  const page = await (await callOk(api.listJob(vaultId, opts.marker, limit, { signal: s.signal }))).json<{ Marker: string; JobList: JobJson[] }>();
  s.out.result(page, () => {
    s.out.line(`Marker: ${page.Marker ?? ''}`);
    s.out.line(`Job count: ${page.JobList.length}`);
    for (const job of page.JobList) {
      s.out.line();
      s.out.line(`================ JobId: ${job.JobId} ================`);
      printJob(s, job as unknown as Record<string, unknown>);
    }
  });
}

/** Waits for a job (telling about it on stderr); a failed job is a CliError with its message. */
export async function waitForJob(s: Session, job: Job, intervalMs: number | undefined): Promise<void> {
  if (!job.completed) {
    const every = intervalMs === undefined ? 'from every 1s up to every 30s' : `every ${intervalMs / 1000}s`;
    s.out.warn(`waiting for job ${job.id} (${job.action}, ${job.statusCode}); polling ${every}`);
    try {
      await job.wait({ pollInterval: intervalMs, signal: s.signal });
    } catch (e) {
      if (!(e instanceof JobFailedError)) throw e;
    }
  }
  if (job.failed) throw new CliError(`job ${job.id} failed${job.statusMessage ? `: ${job.statusMessage}` : ''}`);
}

async function wait(s: Session, [address, jobId]: string[], opts: { interval?: string }): Promise<void> {
  const interval = parseInterval(opts.interval);
  const vault = await s.vault(parseVaultAddress(address!).vault);
  const job = await vault.getJob(jobId!, { signal: s.signal });
  let failure: unknown;
  try {
    await waitForJob(s, job, interval);
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    failure = e;
  }
  s.out.result(jobToWire(job), () => printJob(s, jobToWire(job)));
  if (failure) throw failure;
}

export function registerJobCommands(program: Command, run: Runner): void {
  program.commandsGroup('Job commands:');

  const cj = program.command('createjob').argument('<vault>', 'oas://vault-name')
    .argument('[archive_id]', 'archive to retrieve; without it an inventory retrieval is started')
    .option('--start <offset>', 'first byte to retrieve (default 0); a multiple of 1 MiB')
    .option('--size <size>', 'bytes to retrieve (default: to the end of the archive)')
    .option('--desc <description>', 'job description')
    .summary('start an archive or inventory retrieval job')
    .description('Start a job that makes an archive (or a byte range of it) downloadable, or, without an '
      + 'archive id, the vault\'s inventory. Ranges must start on a 1 MiB boundary and end on one or at '
      + 'the end of the archive. --start alone retrieves to the end; --size alone from byte 0. '
      + 'Then use fetch (with --wait to wait for the job) to download the output.')
    .action(run(createJob));
  examples(cj, [['oascmd createjob oas://photos 0E3F...', 'the whole archive'],
    ['oascmd createjob oas://photos 0E3F... --start 64M --size 32M', 'bytes 67108864..100663295'],
    ['oascmd createjob oas://photos', 'an inventory (list of archives)'],
    ['oascmd createjob oas://photos 0E3F... --json | jq -r .JobId', 'just the job id']]);

  const cpCmd = program.command('cp').argument('<source>', 'oss://bucket/object, or oas://vault-name/archive-id')
    .argument('<destination>', 'oas://vault-name, or oss://bucket/object')
    .option('--osshost <host>', 'OSS endpoint (default: osshost of the credentials file, then host of ~/.osscredentials)')
    .option('--desc <description>', 'job description (default: "copy from/to bucket/object")')
    .option('--wait', 'wait for the copy to finish; a pull then prints the new Archive ID')
    .option('--interval <seconds>', 'with --wait: seconds between status checks (default: 1, doubling up to 30)')
    .summary('copy between OSS and OAS (a pull or push job)')
    .description('Start a job that copies an OSS object into a new archive (pull-from-oss), or an archive '
      + 'to an OSS object (push-to-oss). The copy happens on the service; follow it with getjobdesc/wait, '
      + 'or pass --wait (exit status 1 with the job\'s status message if the copy fails).')
    .action(run<CpOpts>(cp));
  examples(cpCmd, [['oascmd cp oss://mybucket/dir/obj.bin oas://photos --osshost oss-cn-hangzhou.aliyuncs.com', 'pull into a new archive'],
    ['oascmd cp oas://photos/0E3F... oss://mybucket/restore.bin', 'push an archive to OSS'],
    ['oascmd cp oss://mybucket/obj.bin oas://photos --wait --interval 10', 'prints: Archive ID: ... once copied']]);

  const gj = program.command('getjobdesc').argument('<vault>', 'oas://vault-name').argument('<job_id>', 'job id createjob printed')
    .summary('describe a job').description('Print the 14 fields of a job: status, archive, sizes, tree etags, range, dates.')
    .action(run(getJobDesc));
  examples(gj, [['oascmd getjobdesc oas://photos 6D2F...', ''], ['oascmd getjobdesc oas://photos 6D2F... --json', 'the server\'s JSON']]);

  const lj = program.command('listjob').argument('<vault>', 'oas://vault-name').summary('list the jobs of a vault')
    .description('List the (unexpired) jobs of a vault, one page, every field of each.');
  listOptions(lj, 'jobs').action(run(listJob));
  examples(lj, [['oascmd listjob oas://photos', ''], ['oascmd listjob oas://photos --limit 5 --json', '']]);

  const w = program.command('wait').argument('<vault>', 'oas://vault-name').argument('<job_id>', 'job to wait for')
    .option('--interval <seconds>', 'seconds between status checks (default: 1, doubling up to 30)')
    .summary('wait until a job has finished')
    .description('Poll a job until it completes, then print it. Exit status 1 if the job failed.')
    .action(run(wait));
  examples(w, [['oascmd wait oas://photos 6D2F...', ''], ['oascmd wait oas://photos 6D2F... --interval 5 && oascmd fetch oas://photos 6D2F... out.bin', '']]);
}
