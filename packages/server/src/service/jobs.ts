// Jobs: initiate (validated here, run by the job engine), describe, list, output.
import type { Readable } from 'node:stream';
import {
  OASError, formatRange, formatRfc1123, isId, isMibAligned, newId, parseRange, parseRangeHeader, type JobJson,
} from '@oas/sdk/protocol';
import type { JobRecord, JobType, Segment, VaultRecord } from '../store/meta/types.js';
import type { ServiceContext } from './context.js';
import { OTHER_PAGE, checkMarkerFound, idMarker, nextMarker, pageLimit, type ListQuery } from './pagination.js';
import { treeEtagOfRange } from './segments.js';
import { readVerified } from '../store/blob/verifying-reader.js';
import { checkDescription } from './validation.js';
import { inventoryCheckpoint } from '../jobs/runners/inventory.js';

export const JOB_ACTIONS: Record<JobType, string> = {
  'archive-retrieval': 'ArchiveRetrieval',
  'inventory-retrieval': 'InventoryRetrieval',
  'pull-from-oss': 'PullFromOSS',
  'push-to-oss': 'PushToOSS',
};

export function jobJson(job: JobRecord): JobJson {
  const done = job.status !== 'InProgress';
  return {
    JobId: job.id,
    Action: JOB_ACTIONS[job.type],
    StatusCode: job.status,
    StatusMessage: job.statusMessage,
    Completed: done,
    CreationDate: formatRfc1123(job.createdAt),
    CompletionDate: done && job.completedAt !== null ? formatRfc1123(job.completedAt) : '',
    ArchiveId: job.archiveId,
    ArchiveSizeInBytes: done ? job.archiveSize : -1,
    TreeEtag: done ? job.treeEtag : '',
    ArchiveTreeEtag: done ? job.archiveTreeEtag : '',
    RetrievalByteRange: job.retrievalRange,
    InventorySizeInBytes: done ? job.inventorySize : -1,
    JobDescription: job.description,
  };
}

/** The largest job request body read (the SDK's bodies are a few hundred bytes). */
export const MAX_JOB_BODY = 64 * 1024;

function parseJobBody(text: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw OASError.of('InvalidArgument', 'the request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw OASError.of('InvalidArgument', 'the request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

function stringField(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw OASError.of('InvalidArgument', `${name} must be a string`);
  return value;
}

function requiredField(body: Record<string, unknown>, name: string, max = 1024): string {
  const value = stringField(body, name);
  if (value === undefined || value === '') throw OASError.of('InvalidArgument', `${name} is required for this job type`);
  if (Buffer.byteLength(value) > max) throw OASError.of('InvalidArgument', `${name} is longer than ${max} bytes`);
  return value;
}

async function liveArchive(ctx: ServiceContext, vault: VaultRecord, archiveId: string) {
  const archive = isId(archiveId) ? await ctx.meta.getArchive(vault.id, archiveId) : null;
  if (!archive) throw OASError.of('ArchiveNotExist', `archive ${archiveId} does not exist`);
  return archive;
}

/** S3 bucket names (3-63 of a-z 0-9 . - _; some stores allow upper case). */
const BUCKET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;

/** An OSS transfer may only name a host this server is configured for, and a valid bucket and key. */
function checkOssTarget(ctx: ServiceContext, ossHost: string, bucket: string, object: string): void {
  if (!ctx.isOssHostAllowed?.(ossHost)) {
    throw OASError.of('InvalidArgument', `OSSHost ${JSON.stringify(ossHost)} is not an OSS host this server is configured to transfer with`);
  }
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..')) {
    throw OASError.of('InvalidArgument', `Bucket ${JSON.stringify(bucket)} is not a valid bucket name (3 to 63 characters of a-z, 0-9, ".", "-")`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(object) || Buffer.from(object, 'utf8').toString('utf8') !== object) {
    throw OASError.of('InvalidArgument', 'Object must be UTF-8 text without control characters');
  }
}

export async function initiateJob(ctx: ServiceContext, vault: VaultRecord, bodyText: string): Promise<JobRecord> {
  const body = parseJobBody(bodyText);
  const type = stringField(body, 'Type');
  if (type === undefined) throw OASError.of('InvalidArgument', 'Type is required');
  if (!Object.hasOwn(JOB_ACTIONS, type)) {
    throw OASError.of('InvalidArgument', `Type must be one of ${Object.keys(JOB_ACTIONS).join(', ')}`);
  }
  const description = checkDescription(stringField(body, 'Description'), 'job description');
  const now = ctx.now();
  const job: JobRecord = {
    id: newId(), vaultId: vault.id, type: type as JobType, description, createdAt: now,
    status: 'InProgress', statusMessage: '', completedAt: null,
    archiveId: '', archiveSize: -1, archiveTreeEtag: '', treeEtag: '', retrievalRange: '', inventorySize: -1,
    ossHost: '', bucket: '', object: '', outputKey: '',
    runAfter: now + ctx.limits.jobDelayMs, expiresAt: null, leaseOwner: null, leaseUntil: null, attempts: 0, checkpoint: '',
  };
  switch (job.type) {
    case 'archive-retrieval': {
      const archive = await liveArchive(ctx, vault, requiredField(body, 'ArchiveId'));
      job.archiveId = archive.id;
      const rangeText = stringField(body, 'RetrievalByteRange');
      if (rangeText === undefined || rangeText === '') {
        job.retrievalRange = formatRange({ start: 0, end: archive.size - 1 });
      } else {
        const range = parseRange(rangeText);
        if (!range || !isMibAligned(range, archive.size)) {
          throw OASError.of('InvalidArgument',
            `RetrievalByteRange must be "start-end" inside the archive (${archive.size} bytes) with start a multiple of 1 MiB and end+1 a multiple of 1 MiB or the archive size`);
        }
        job.retrievalRange = formatRange(range);
      }
      break;
    }
    case 'push-to-oss':
    case 'pull-from-oss':
      job.ossHost = requiredField(body, 'OSSHost', 255);
      job.bucket = requiredField(body, 'Bucket', 255);
      job.object = requiredField(body, 'Object');
      if (job.type === 'push-to-oss') job.archiveId = (await liveArchive(ctx, vault, requiredField(body, 'ArchiveId'))).id;
      checkOssTarget(ctx, job.ossHost, job.bucket, job.object);
      break;
    case 'inventory-retrieval':
      // Periodic mode serves the inventory as of the vault's last snapshot at this moment.
      job.checkpoint = inventoryCheckpoint(vault.inventoryAt);
      break;
  }
  await ctx.meta.createJob(job);
  ctx.nudgeJobs();
  return job;
}

export async function getJob(ctx: ServiceContext, vault: VaultRecord, jobId: string): Promise<JobRecord> {
  const job = isId(jobId) ? await ctx.meta.getJob(vault.id, jobId, ctx.now()) : null;
  if (!job) throw OASError.of('JobNotExist', `job ${jobId} does not exist`);
  return job;
}

export async function listJobs(ctx: ServiceContext, vault: VaultRecord, query: ListQuery): Promise<{ Marker: string; JobList: JobJson[] }> {
  const limit = pageLimit(query.limit, OTHER_PAGE);
  const marker = idMarker(query.marker);
  const page = await ctx.meta.listJobs(vault.id, marker, limit, ctx.now());
  checkMarkerFound(page, marker, (j) => j.id);
  return { Marker: nextMarker(page), JobList: page.items.map(jobJson) };
}

export interface JobOutput {
  status: 200 | 206;
  contentType: string;
  length: number;
  /** `bytes a-b/total` for a ranged answer. */
  contentRange?: string;
  /** Tree etag of exactly the returned bytes, when the job has a TreeEtag. */
  treeEtag?: string;
  body: Readable;
}

/** Where a succeeded job's output lives: the bytes base..base+size-1 of these segments. */
export async function outputSource(ctx: ServiceContext, job: JobRecord): Promise<{ segments: Segment[]; base: number; size: number; contentType: string }> {
  if (job.type === 'archive-retrieval') {
    const range = parseRange(job.retrievalRange);
    if (!range) throw new Error(`job ${job.id} has no valid retrieval range`);
    return { segments: await ctx.meta.getSegments(job.archiveId), base: range.start, size: range.end - range.start + 1, contentType: 'application/octet-stream' };
  }
  return { segments: [{ blobKey: job.outputKey, size: job.inventorySize }], base: 0, size: job.inventorySize, contentType: 'application/json' };
}

export async function jobOutput(ctx: ServiceContext, vault: VaultRecord, jobId: string, rangeHeader: string | undefined): Promise<JobOutput> {
  const job = await getJob(ctx, vault, jobId);
  if (job.type === 'pull-from-oss' || job.type === 'push-to-oss') {
    throw OASError.of('JobNotReady', `${JOB_ACTIONS[job.type]} jobs have no output to download`);
  }
  if (job.status === 'InProgress') throw OASError.of('JobNotReady', `job ${job.id} is still in progress`);
  if (job.status === 'Failed') throw OASError.of('JobNotReady', `job ${job.id} failed: ${job.statusMessage}`);
  const source = await outputSource(ctx, job);
  let start = 0;
  let end = source.size - 1;
  let ranged = false;
  if (rangeHeader !== undefined && rangeHeader !== '') {
    const range = parseRangeHeader(rangeHeader);
    if (!range || !isMibAligned(range, source.size)) {
      throw OASError.of('InvalidRange',
        `Range must be "bytes=start-end" inside the output (${source.size} bytes) with start a multiple of 1 MiB and end+1 a multiple of 1 MiB or the output size`);
    }
    ({ start, end } = range);
    ranged = true;
  }
  const whole = start === 0 && end === source.size - 1;
  let treeEtag: string | undefined;
  if (job.treeEtag !== '') {
    treeEtag = whole ? job.treeEtag : await treeEtagOfRange(ctx.blobs, source.segments, source.base + start, source.base + end);
  }
  return {
    status: ranged ? 206 : 200,
    contentType: source.contentType,
    length: end - start + 1,
    ...(ranged ? { contentRange: `bytes ${start}-${end}/${source.size}` } : {}),
    ...(treeEtag !== undefined ? { treeEtag } : {}),
    // Every leaf is checked before it is sent: a corrupt one aborts the response.
    body: readVerified(ctx.blobs, source.segments, source.base + start, source.base + end, {
      label: job.type === 'archive-retrieval' ? `archive ${job.archiveId}` : `the inventory of job ${job.id}`,
      ...(ctx.onCorruptRead ? { onCorrupt: (err) => ctx.onCorruptRead!(err) } : {}),
    }),
  };
}
