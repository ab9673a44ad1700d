// Jobs: initiate (validated here, run by the job engine), describe, list, output.
import type { Readable } from 'node:stream';
import { formatRange, isId, isMibAligned, newId, parseRange, type ByteRange } from '@oas/sdk/protocol';
import { StoreInvariantError } from '../store/errors.js';
import type { ServiceContext } from './context.js';
import { InvalidRequestError, NotFoundError, StateError } from './errors.js';
import { OTHER_PAGE, checkMarkerFound, idMarker, nextMarker, pageLimit, type ListQuery } from './pagination.js';
import { readVerified } from '../store/blob/verifying-reader.js';
import type { JobRecord, JobType, ListPage, Segment, VaultRecord } from './records.js';
import { treeEtagOfRange } from './segments.js';
import { checkDescription } from './validation.js';
import { inVault } from './vaults.js';

export const JOB_TYPES: readonly JobType[] = ['archive-retrieval', 'inventory-retrieval', 'pull-from-oss', 'push-to-oss'];

/** A job as a client asks for it; which fields a type needs is checked here. */
export interface JobRequest {
  type: JobType;
  description?: string | undefined;
  /** archive-retrieval, push-to-oss. */
  archiveId?: string | undefined;
  /** archive-retrieval: `start-end`, absent or '' for the whole archive. */
  retrievalRange?: string | undefined;
  /** pull-from-oss, push-to-oss. */
  ossHost?: string | undefined;
  bucket?: string | undefined;
  object?: string | undefined;
  /** A front end's own fields, kept with the job (see frontEndFields). */
  frontEnd?: Record<string, unknown>;
  /** Extra wait before the job runs, on top of --job-delay (a Glacier tier's delay). */
  delayMs?: number;
}

/** Parameters of an inventory job fixed when it was created (kept in the job's checkpoint text). */
export interface InventoryParams {
  /** Periodic mode: the vault's last inventory time when the job was created (null: none yet). */
  inventoryAt: number | null;
}

/**
 * The fields a front end stored with a retrieval or inventory job (JobRequest.frontEnd),
 * kept in the job's checkpoint text, which those job types use for nothing else; null when none.
 */
export function frontEndFields(job: JobRecord): Record<string, unknown> | null {
  if (job.checkpoint === '') return null;
  try {
    const value = (JSON.parse(job.checkpoint) as { frontEnd?: unknown }).frontEnd;
    return typeof value === 'object' && value !== null ? value as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

export function inventoryParams(job: JobRecord): InventoryParams | null {
  try {
    const value = JSON.parse(job.checkpoint) as InventoryParams;
    return typeof value === 'object' && value !== null && 'inventoryAt' in value ? value : null;
  } catch {
    return null;
  }
}

/** The checkpoint text a new inventory job starts with. */
export function inventoryCheckpoint(inventoryAt: number | null, frontEnd?: Record<string, unknown>): string {
  return JSON.stringify({ inventoryAt, ...(frontEnd ? { frontEnd } : {}) });
}

function required(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new InvalidRequestError('argument', `${what} is required for this job type`);
  return value;
}

async function liveArchive(ctx: ServiceContext, vault: VaultRecord, archiveId: string) {
  const archive = isId(archiveId) ? await ctx.meta.getArchive(vault.id, archiveId) : null;
  if (!archive) throw new NotFoundError('archive', archiveId);
  return archive;
}

/** S3 bucket names (3-63 of a-z 0-9 . - _; some stores allow upper case). */
const BUCKET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;

/** An OSS transfer may only name a host this server is configured for, and a valid bucket and key. */
function checkOssTarget(ctx: ServiceContext, ossHost: string, bucket: string, object: string): void {
  if (!ctx.isOssHostAllowed?.(ossHost)) {
    throw new InvalidRequestError('argument', `OSSHost ${JSON.stringify(ossHost)} is not an OSS host this server is configured to transfer with`);
  }
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..')) {
    throw new InvalidRequestError('argument', `Bucket ${JSON.stringify(bucket)} is not a valid bucket name (3 to 63 characters of a-z, 0-9, ".", "-")`);
  }
  // Object keys are UTF-8 text: any control character (\x00 included) is refused.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(object) || Buffer.from(object, 'utf8').toString('utf8') !== object) {
    throw new InvalidRequestError('argument', 'Object must be UTF-8 text without control characters');
  }
}

export async function initiateJob(ctx: ServiceContext, vault: VaultRecord, req: JobRequest): Promise<JobRecord> {
  const description = checkDescription(req.description, 'job description');
  const now = ctx.now();
  const job: JobRecord = {
    id: newId(), vaultId: vault.id, type: req.type, description, createdAt: now,
    status: 'InProgress', statusMessage: '', completedAt: null,
    archiveId: '', archiveSize: -1, archiveTreeEtag: '', treeEtag: '', retrievalRange: '', inventorySize: -1,
    ossHost: '', bucket: '', object: '', outputKey: '',
    runAfter: now + ctx.limits.jobDelayMs + (req.delayMs ?? 0), expiresAt: null, leaseOwner: null, leaseUntil: null, attempts: 0, checkpoint: '',
  };
  switch (job.type) {
    case 'archive-retrieval': {
      const archive = await liveArchive(ctx, vault, required(req.archiveId, 'ArchiveId'));
      job.archiveId = archive.id;
      if (req.retrievalRange === undefined || req.retrievalRange === '') {
        job.retrievalRange = formatRange({ start: 0, end: archive.size - 1 });
      } else {
        const range = parseRange(req.retrievalRange);
        if (!range || !isMibAligned(range, archive.size)) {
          throw new InvalidRequestError('argument',
            `RetrievalByteRange must be "start-end" inside the archive (${archive.size} bytes) with start a multiple of 1 MiB and end+1 a multiple of 1 MiB or the archive size`);
        }
        job.retrievalRange = formatRange(range);
      }
      if (req.frontEnd) job.checkpoint = JSON.stringify({ frontEnd: req.frontEnd });
      break;
    }
    case 'push-to-oss':
    case 'pull-from-oss':
      job.ossHost = required(req.ossHost, 'OSSHost');
      job.bucket = required(req.bucket, 'Bucket');
      job.object = required(req.object, 'Object');
      if (job.type === 'push-to-oss') job.archiveId = (await liveArchive(ctx, vault, required(req.archiveId, 'ArchiveId'))).id;
      checkOssTarget(ctx, job.ossHost, job.bucket, job.object);
      break;
    case 'inventory-retrieval':
      // Periodic mode serves the inventory as of the vault's last snapshot at this moment.
      job.checkpoint = inventoryCheckpoint(vault.inventoryAt, req.frontEnd);
      break;
  }
  await inVault(vault.id, () => ctx.meta.createJob(job));
  ctx.nudgeJobs();
  return job;
}

export async function getJob(ctx: ServiceContext, vault: VaultRecord, jobId: string): Promise<JobRecord> {
  const job = isId(jobId) ? await ctx.meta.getJob(vault.id, jobId, ctx.now()) : null;
  if (!job) throw new NotFoundError('job', jobId);
  return job;
}

export async function listJobs(ctx: ServiceContext, vault: VaultRecord, query: ListQuery): Promise<ListPage<JobRecord>> {
  const limit = pageLimit(query.limit, OTHER_PAGE);
  const marker = idMarker(query.marker);
  const page = await ctx.meta.listJobs(vault.id, marker, limit, ctx.now());
  checkMarkerFound(page, marker, (j) => j.id);
  return { next: nextMarker(page), items: page.items };
}

export interface JobOutput {
  /** Archive bytes, or the inventory's JSON text. */
  kind: 'archive' | 'inventory';
  /** The bytes served, inclusive, within the whole output of `size` bytes. */
  start: number;
  end: number;
  size: number;
  /** A range of the output was asked for. */
  ranged: boolean;
  /** Tree etag of exactly the returned bytes, when the job has a TreeEtag. */
  treeEtag?: string;
  body: Readable;
}

/** Where a succeeded job's output lives: the bytes base..base+size-1 of these segments. */
export async function outputSource(ctx: ServiceContext, job: JobRecord): Promise<{ segments: Segment[]; base: number; size: number }> {
  if (job.type === 'archive-retrieval') {
    const range = parseRange(job.retrievalRange);
    if (!range) throw new StoreInvariantError(`job ${job.id} has no valid retrieval range`);
    return { segments: await ctx.meta.getSegments(job.archiveId), base: range.start, size: range.end - range.start + 1 };
  }
  return { segments: [{ blobKey: job.outputKey, size: job.inventorySize }], base: 0, size: job.inventorySize };
}

/**
 * A job's output: whole (`range` null) or a MiB-aligned range of it; 'unreadable' is a
 * range the client sent that could not be parsed.
 */
export async function jobOutput(ctx: ServiceContext, vault: VaultRecord, jobId: string, range: ByteRange | 'unreadable' | null): Promise<JobOutput> {
  const job = await getJob(ctx, vault, jobId);
  if (job.type === 'pull-from-oss' || job.type === 'push-to-oss') {
    throw new StateError('job-not-ready', `${job.type} jobs have no output to download`);
  }
  if (job.status === 'InProgress') throw new StateError('job-not-ready', `job ${job.id} is still in progress`);
  if (job.status === 'Failed') throw new StateError('job-not-ready', `job ${job.id} failed: ${job.statusMessage}`);
  const source = await outputSource(ctx, job);
  let start = 0;
  let end = source.size - 1;
  if (range) {
    if (range === 'unreadable' || !isMibAligned(range, source.size)) throw outputRangeError(source.size);
    ({ start, end } = range);
  }
  const whole = start === 0 && end === source.size - 1;
  let treeEtag: string | undefined;
  if (job.treeEtag !== '') {
    treeEtag = whole ? job.treeEtag : await treeEtagOfRange(ctx.blobs, source.segments, source.base + start, source.base + end);
  }
  return {
    kind: job.type === 'archive-retrieval' ? 'archive' : 'inventory',
    start, end, size: source.size, ranged: range !== null,
    ...(treeEtag !== undefined ? { treeEtag } : {}),
    body: readOutput(ctx, job, source, start, end),
  };
}

/**
 * Bytes start..end (inclusive, relative to the output) of a succeeded job's output. Every
 * leaf is checked before it is sent: a corrupt one aborts the response.
 */
export function readOutput(ctx: ServiceContext, job: JobRecord, source: { segments: Segment[]; base: number }, start: number, end: number): Readable {
  return readVerified(ctx.blobs, source.segments, source.base + start, source.base + end, {
    label: job.type === 'archive-retrieval' ? `archive ${job.archiveId}` : `the inventory of job ${job.id}`,
    ...(ctx.onCorruptRead ? { onCorrupt: (err) => ctx.onCorruptRead!(err) } : {}),
  });
}

function outputRangeError(size: number): InvalidRequestError {
  return new InvalidRequestError('range',
    `Range must be "bytes=start-end" inside the output (${size} bytes) with start a multiple of 1 MiB and end+1 a multiple of 1 MiB or the output size`);
}
