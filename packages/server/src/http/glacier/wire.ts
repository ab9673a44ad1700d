// The Glacier vault API's wire forms (glacier.md, "Design"), pure: account ids, vault names,
// ARNs, locations, ISO dates, the JSON bodies built from small domain records, inventory JSON
// and CSV, and the parsers of Glacier's headers, query parameters and job parameters.
// Parsers throw GlacierFailure with the problem to answer.
import {
  glacierInventoryCsv, glacierInventoryJson, isMibAligned, isTreeHashAligned, type ByteRange, type GlacierInventoryArchive,
} from '@oas/sdk';
import { GlacierFailure, type GlacierProblem } from './errors.js';

export const GLACIER_API_VERSION = '2012-06-01';
/** The path's account segment meaning "the account of the signing credentials". */
export const SELF_ACCOUNT = '-';
export const GLACIER_MAX_PARTS = 10_000;
export const GLACIER_MIN_PART_SIZE = 1024 * 1024;
export const GLACIER_MAX_PART_SIZE = 4 * 1024 * 1024 * 1024;
/** UploadArchive's limit: 4 GiB in one request. */
export const GLACIER_MAX_SINGLE_UPLOAD = 4 * 1024 * 1024 * 1024;
export const GLACIER_MAX_DESCRIPTION = 1024;

function problem(p: GlacierProblem): never {
  throw new GlacierFailure(p);
}

// ---------------------------------------------------------------- accounts, names, ARNs, dates

export function isAccountId(value: string): boolean {
  return /^\d{12}$/.test(value);
}

/** The account a path addresses: `-` or the caller's own 12-digit id; anything else is refused. */
export function resolveAccountId(pathAccount: string, callerAccount: string): string {
  if (pathAccount === SELF_ACCOUNT || pathAccount === callerAccount) return callerAccount;
  return problem({ kind: 'account-mismatch', accountId: pathAccount });
}

/** Glacier's vault names: 1–255 of `a-z A-Z 0-9 _ - .` (wider than OAS's). */
export function isGlacierVaultName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,255}$/.test(name);
}

/** Where the ARNs and the account of a response come from. */
export interface GlacierContext {
  region: string;
  /** The caller's 12-digit account id (never `-`). */
  accountId: string;
}

export function vaultArn(ctx: GlacierContext, vaultName: string): string {
  return `arn:aws:glacier:${ctx.region}:${ctx.accountId}:vaults/${vaultName}`;
}

/** The vault name in a vault ARN (a ListVaults marker); null when it is not one of ours. */
export function vaultNameFromArn(ctx: GlacierContext, arn: string): string | null {
  const m = /^arn:aws:glacier:[^:]*:(\d{12}):vaults\/(.+)$/.exec(arn);
  return m && m[1] === ctx.accountId && isGlacierVaultName(m[2]!) ? m[2]! : null;
}

/** `Location` values: always the numeric account id, even when the request said `-`. */
export const glacierLocation = {
  vault: (ctx: GlacierContext, vault: string): string => `/${ctx.accountId}/vaults/${encodeURIComponent(vault)}`,
  archive: (ctx: GlacierContext, vault: string, id: string): string => `${glacierLocation.vault(ctx, vault)}/archives/${encodeURIComponent(id)}`,
  upload: (ctx: GlacierContext, vault: string, id: string): string => `${glacierLocation.vault(ctx, vault)}/multipart-uploads/${encodeURIComponent(id)}`,
  job: (ctx: GlacierContext, vault: string, id: string): string => `${glacierLocation.vault(ctx, vault)}/jobs/${encodeURIComponent(id)}`,
};

/** ISO 8601 UTC with milliseconds: `2012-03-20T17:03:43.221Z`. */
export function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : isoDate(ms);
}

// ---------------------------------------------------------------- vaults

export interface GlacierVaultRecord {
  name: string;
  createdAt: number;
  lastInventoryAt: number | null;
  archiveCount: number | null;
  sizeInBytes: number | null;
}

export interface GlacierVaultJson {
  CreationDate: string;
  LastInventoryDate: string | null;
  NumberOfArchives: number | null;
  SizeInBytes: number | null;
  VaultARN: string;
  VaultName: string;
}

export function vaultJson(ctx: GlacierContext, vault: GlacierVaultRecord): GlacierVaultJson {
  return {
    CreationDate: isoDate(vault.createdAt),
    LastInventoryDate: isoOrNull(vault.lastInventoryAt),
    NumberOfArchives: vault.archiveCount,
    SizeInBytes: vault.sizeInBytes,
    VaultARN: vaultArn(ctx, vault.name),
    VaultName: vault.name,
  };
}

/** ListVaults; `nextVault` is the first vault of the next page (its ARN is the marker), null at the end. */
export function listVaultsJson(ctx: GlacierContext, vaults: readonly GlacierVaultRecord[], nextVault: string | null): { Marker: string | null; VaultList: GlacierVaultJson[] } {
  return { Marker: nextVault === null ? null : vaultArn(ctx, nextVault), VaultList: vaults.map((v) => vaultJson(ctx, v)) };
}

// ---------------------------------------------------------------- multipart

export interface GlacierUploadRecord {
  id: string;
  description: string;
  createdAt: number;
  partSize: number;
}

export interface GlacierUploadJson {
  ArchiveDescription: string | null;
  CreationDate: string;
  MultipartUploadId: string;
  PartSizeInBytes: number;
  VaultARN: string;
}

export function uploadJson(ctx: GlacierContext, vaultName: string, upload: GlacierUploadRecord): GlacierUploadJson {
  return {
    ArchiveDescription: upload.description === '' ? null : upload.description,
    CreationDate: isoDate(upload.createdAt),
    MultipartUploadId: upload.id,
    PartSizeInBytes: upload.partSize,
    VaultARN: vaultArn(ctx, vaultName),
  };
}

export function listUploadsJson(
  ctx: GlacierContext, vaultName: string, uploads: readonly GlacierUploadRecord[], marker: string | null,
): { Marker: string | null; UploadsList: GlacierUploadJson[] } {
  return { Marker: marker, UploadsList: uploads.map((u) => uploadJson(ctx, vaultName, u)) };
}

export interface GlacierPartRecord {
  start: number;
  end: number;
  /** The part's SHA-256 tree hash, lower-case hex. */
  treeHash: string;
}

export function listPartsJson(
  ctx: GlacierContext, vaultName: string, upload: GlacierUploadRecord, parts: readonly GlacierPartRecord[], marker: string | null,
): GlacierUploadJson & { Marker: string | null; Parts: Array<{ RangeInBytes: string; SHA256TreeHash: string }> } {
  return {
    ...uploadJson(ctx, vaultName, upload),
    Marker: marker,
    Parts: parts.map((p) => ({ RangeInBytes: `${p.start}-${p.end}`, SHA256TreeHash: p.treeHash })),
  };
}

// ---------------------------------------------------------------- jobs

export type GlacierJobStatus = 'InProgress' | 'Succeeded' | 'Failed';
export type GlacierTier = 'Expedited' | 'Standard' | 'Bulk';
export type GlacierInventoryFormat = 'JSON' | 'CSV';

export interface GlacierInventoryParams {
  format: GlacierInventoryFormat;
  startDate: number | null;
  endDate: number | null;
  limit: number | null;
  /** The request's marker before completion; the continuation marker once a limited job is done. */
  marker: string | null;
}

export interface GlacierJobRecord {
  id: string;
  type: 'archive-retrieval' | 'inventory-retrieval';
  description: string | null;
  createdAt: number;
  status: GlacierJobStatus;
  statusMessage: string | null;
  completedAt: number | null;
  snsTopic: string | null;
  tier: GlacierTier | null;
  /** Archive retrieval: the archive, its size and whole tree hash. */
  archiveId: string | null;
  archiveSize: number | null;
  archiveTreeHash: string | null;
  /** Archive retrieval: the requested range, null for the whole archive. */
  retrievalRange: ByteRange | null;
  /** Archive retrieval: the tree hash of `retrievalRange` when it is tree-hash aligned (from the stored leaves). */
  rangeTreeHash: string | null;
  /** Inventory retrieval: the output size once done, and the parameters. */
  inventorySize: number | null;
  inventory: GlacierInventoryParams | null;
}

export interface GlacierJobJson {
  JobId: string;
  JobDescription: string | null;
  Action: 'ArchiveRetrieval' | 'InventoryRetrieval';
  ArchiveId: string | null;
  VaultARN: string;
  CreationDate: string;
  Completed: boolean;
  StatusCode: GlacierJobStatus;
  StatusMessage: string | null;
  ArchiveSizeInBytes: number | null;
  InventorySizeInBytes: number | null;
  SNSTopic: string | null;
  CompletionDate: string | null;
  SHA256TreeHash: string | null;
  ArchiveSHA256TreeHash: string | null;
  RetrievalByteRange: string | null;
  Tier: GlacierTier | null;
  InventoryRetrievalParameters: { Format: GlacierInventoryFormat; StartDate: string | null; EndDate: string | null; Limit: string | null; Marker: string | null } | null;
  JobOutputPath: null;
  SelectParameters: null;
  OutputLocation: null;
}

/** The range an archive job retrieves: its own, or the whole archive. */
export function jobRange(job: Pick<GlacierJobRecord, 'retrievalRange' | 'archiveSize'>): ByteRange | null {
  if (job.retrievalRange) return job.retrievalRange;
  return job.archiveSize ? { start: 0, end: job.archiveSize - 1 } : null;
}

/**
 * SHA256TreeHash of a job: null for inventory jobs, for ranges that are not tree-hash aligned,
 * and for a whole-archive job still in progress; the archive's hash for a whole-archive job.
 */
function jobTreeHash(job: GlacierJobRecord): string | null {
  if (job.type !== 'archive-retrieval' || job.archiveSize === null) return null;
  const range = jobRange(job);
  if (range === null) return job.archiveTreeHash;
  const whole = range.start === 0 && range.end === job.archiveSize - 1;
  if (whole) return job.status === 'InProgress' ? null : job.archiveTreeHash;
  return isTreeHashAligned(range, job.archiveSize) ? job.rangeTreeHash : null;
}

export function jobJson(ctx: GlacierContext, vaultName: string, job: GlacierJobRecord): GlacierJobJson {
  const archive = job.type === 'archive-retrieval';
  const range = archive ? jobRange(job) : null;
  const inv = job.inventory;
  return {
    JobId: job.id,
    JobDescription: job.description === '' ? null : job.description,
    Action: archive ? 'ArchiveRetrieval' : 'InventoryRetrieval',
    ArchiveId: archive ? job.archiveId : null,
    VaultARN: vaultArn(ctx, vaultName),
    CreationDate: isoDate(job.createdAt),
    Completed: job.status !== 'InProgress',
    StatusCode: job.status,
    StatusMessage: job.statusMessage,
    ArchiveSizeInBytes: archive ? job.archiveSize : null,
    InventorySizeInBytes: !archive && job.status === 'Succeeded' ? job.inventorySize : null,
    SNSTopic: job.snsTopic,
    CompletionDate: isoOrNull(job.completedAt),
    SHA256TreeHash: jobTreeHash(job),
    ArchiveSHA256TreeHash: archive ? job.archiveTreeHash : null,
    RetrievalByteRange: range ? `${range.start}-${range.end}` : null,
    Tier: job.tier,
    InventoryRetrievalParameters: !archive && inv ? {
      Format: inv.format,
      StartDate: isoOrNull(inv.startDate),
      EndDate: isoOrNull(inv.endDate),
      Limit: inv.limit === null ? null : String(inv.limit),
      Marker: inv.marker,
    } : null,
    JobOutputPath: null,
    SelectParameters: null,
    OutputLocation: null,
  };
}

export function listJobsJson(
  ctx: GlacierContext, vaultName: string, jobs: readonly GlacierJobRecord[], marker: string | null,
): { JobList: GlacierJobJson[]; Marker: string | null } {
  return { JobList: jobs.map((j) => jobJson(ctx, vaultName, j)), Marker: marker };
}

// ---------------------------------------------------------------- inventory output

export { INVENTORY_CSV_HEADER, csvField, type GlacierInventoryArchive } from '@oas/sdk';

/** The JSON inventory (the SDK's glacierInventoryJson for this vault). */
export function inventoryJsonChunks(
  ctx: GlacierContext, vaultName: string, inventoryDate: number,
  archives: AsyncIterable<GlacierInventoryArchive> | Iterable<GlacierInventoryArchive>,
): AsyncGenerator<string> {
  return glacierInventoryJson(vaultArn(ctx, vaultName), inventoryDate, archives);
}

/** The CSV inventory with its header row. */
export const inventoryCsvChunks = glacierInventoryCsv;

// ---------------------------------------------------------------- request parsers

/** A paging `limit`: a positive integer, clamped to the operation's maximum. */
export function parseLimit(value: string | undefined, { fallback, max }: { fallback: number; max: number }): number {
  if (value === undefined || value === '') return fallback;
  if (!/^\d{1,10}$/.test(value) || Number(value) < 1) {
    return problem({ kind: 'invalid-parameter', message: `Invalid limit: ${value}. The limit must be a positive integer.` });
  }
  return Math.min(Number(value), max);
}

/** `x-amz-part-size`: 1 MiB × 2^k, up to 4 GiB. */
export function parsePartSize(value: string | undefined): number {
  const size = value !== undefined && /^\d{1,11}$/.test(value) ? Number(value) : NaN;
  if (!(size >= GLACIER_MIN_PART_SIZE && size <= GLACIER_MAX_PART_SIZE && Number.isInteger(Math.log2(size)))) {
    return problem({ kind: 'invalid-part-size', value: value ?? 'null' });
  }
  return size;
}

/**
 * A part's `Content-Range: bytes a-b/*` against its Content-Length and the upload's part size:
 * it starts on a part boundary, is at most one part long, and is within 10,000 parts. A short
 * part is accepted here; Complete refuses it unless it is the last.
 */
export function parsePartRange(contentRange: string | undefined, contentLength: number, partSize: number): ByteRange & { partNumber: number } {
  const m = contentRange === undefined ? null : /^bytes (\d{1,16})-(\d{1,16})\/\*$/.exec(contentRange.trim());
  if (!m) return problem(contentRange === undefined
    ? { kind: 'missing-parameter', message: 'Required header Content-Range is missing.' }
    : { kind: 'invalid-content-range', value: contentRange });
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start || start % partSize !== 0 || end - start + 1 > partSize) return problem({ kind: 'invalid-content-range', value: contentRange! });
  if (end - start + 1 !== contentLength) {
    return problem({ kind: 'content-range-length-mismatch', contentRange: contentRange!.trim(), contentLength });
  }
  const partNumber = start / partSize + 1;
  if (partNumber > GLACIER_MAX_PARTS) return problem({ kind: 'too-many-parts', partNumber });
  return { start, end, partNumber };
}

/** UploadArchive's Content-Length: present and at most 4 GiB. */
export function checkSingleUploadLength(contentLength: string | undefined): number {
  if (contentLength === undefined) return problem({ kind: 'missing-parameter', message: 'Required header Content-Length is missing.' });
  const n = /^\d{1,16}$/.test(contentLength) ? Number(contentLength) : NaN;
  if (!(n <= GLACIER_MAX_SINGLE_UPLOAD)) return problem({ kind: 'invalid-content-length', value: contentLength });
  return n;
}

/** `x-amz-archive-size` of CompleteMultipartUpload. */
export function parseArchiveSize(value: string | undefined): number {
  if (value === undefined) return problem({ kind: 'missing-parameter', message: 'Required header x-amz-archive-size is missing.' });
  if (!/^\d{1,16}$/.test(value)) return problem({ kind: 'invalid-parameter', message: `Invalid x-amz-archive-size: ${value}` });
  return Number(value);
}

/** A tree hash or SHA-256 header: 64 hex characters, compared in lower case. */
export function parseSha256Header(name: string, value: string | undefined): string {
  if (value === undefined) return problem({ kind: 'missing-parameter', message: `Required header ${name} is missing.` });
  if (!/^[0-9a-fA-F]{64}$/.test(value.trim())) return problem({ kind: 'invalid-parameter', message: `Invalid ${name}: ${value}` });
  return value.trim().toLowerCase();
}

function isPrintableAscii(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

/** `x-amz-archive-description`: up to 1,024 printable ASCII characters ('' when absent). */
export function parseArchiveDescription(value: string | undefined): string {
  if (value === undefined) return '';
  if (value.length > GLACIER_MAX_DESCRIPTION || !isPrintableAscii(value)) {
    return problem({ kind: 'invalid-parameter', message: 'Invalid archive description: it must be at most 1024 printable ASCII characters.' });
  }
  return value;
}

/**
 * The description as a response header, or null to leave the header out: archives uploaded
 * through OAS may carry text a Glacier header cannot.
 */
export function archiveDescriptionHeader(description: string): string | null {
  return description !== '' && description.length <= GLACIER_MAX_DESCRIPTION && isPrintableAscii(description) ? description : null;
}

/** A job's RetrievalByteRange `start-end`: inside the archive and megabyte aligned. */
export function parseRetrievalByteRange(value: string, archiveSize: number): ByteRange {
  const m = /^(\d{1,16})-(\d{1,16})$/.exec(value.trim());
  if (!m) return problem({ kind: 'invalid-parameter', message: `Invalid RetrievalByteRange: ${value}. It must be of the form StartByteValue-EndByteValue.` });
  const range = { start: Number(m[1]), end: Number(m[2]) };
  if (range.end < range.start || range.end >= archiveSize) {
    return problem({ kind: 'invalid-parameter', message: `The RetrievalByteRange ${value} is outside the archive of ${archiveSize} bytes.` });
  }
  if (!isMibAligned(range, archiveSize)) {
    return problem({ kind: 'invalid-parameter',
      message: `The RetrievalByteRange ${value} is not megabyte aligned: the start must be a multiple of 1048576 and the end one less than a multiple of 1048576 or the last byte of the archive.` });
  }
  return range;
}

/**
 * GetJobOutput's `Range: bytes=a-b` (or `bytes=a-`), relative to the job output; undefined
 * without a Range. The end is clipped to the output; a start beyond it is refused.
 */
export function parseOutputRange(header: string | undefined, outputSize: number): ByteRange | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const m = /^bytes=(\d{1,16})-(\d{0,16})$/i.exec(header.trim());
  if (!m) return problem({ kind: 'invalid-parameter', message: `Invalid Range: ${header}. Use bytes=start-end.` });
  const start = Number(m[1]);
  const end = m[2] === '' ? outputSize - 1 : Math.min(Number(m[2]), outputSize - 1);
  if (start >= outputSize || (m[2] !== '' && Number(m[2]) < start)) return problem({ kind: 'range-beyond-output', range: header.trim() });
  return { start, end };
}

/** ListJobs filters: `completed` (true/false) and `statuscode`. */
export function parseJobFilters(completed: string | undefined, statuscode: string | undefined): { completed?: boolean; status?: GlacierJobStatus } {
  const out: { completed?: boolean; status?: GlacierJobStatus } = {};
  if (completed !== undefined) {
    if (completed !== 'true' && completed !== 'false') {
      return problem({ kind: 'invalid-parameter', message: `Invalid completed value: ${completed}. It must be true or false.` });
    }
    out.completed = completed === 'true';
  }
  if (statuscode !== undefined) {
    if (statuscode !== 'InProgress' && statuscode !== 'Succeeded' && statuscode !== 'Failed') {
      return problem({ kind: 'invalid-status-code', value: statuscode });
    }
    out.status = statuscode;
  }
  return out;
}

export interface GlacierJobRequestCommon {
  description: string | null;
  snsTopic: string | null;
  tier: GlacierTier;
}

export type GlacierJobRequest =
  | (GlacierJobRequestCommon & { type: 'archive-retrieval'; archiveId: string; retrievalByteRange: string | null })
  | (GlacierJobRequestCommon & { type: 'inventory-retrieval'; inventory: GlacierInventoryParams });

function optionalString(body: Record<string, unknown>, key: string): string | null {
  const value = body[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') return problem({ kind: 'malformed-json', message: `${key} must be a string.` });
  return value;
}

function optionalDate(body: Record<string, unknown>, key: string): number | null {
  const text = optionalString(body, key);
  if (text === null) return null;
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) return problem({ kind: 'invalid-parameter', message: `Invalid ${key}: ${text}. Use an ISO 8601 date such as 2013-03-20T17:03:43Z.` });
  return ms;
}

/**
 * InitiateJob's body: the JobParameters object itself, parsed as JSON whatever the
 * Content-Type (some clients send form-encoded content types). `select` is refused clearly.
 */
export function parseJobParameters(text: string): GlacierJobRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return problem({ kind: 'malformed-json', message: 'The job parameters are not valid JSON.' });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return problem({ kind: 'malformed-json', message: 'The job parameters must be a JSON object.' });
  }
  const body = parsed as Record<string, unknown>;
  const type = optionalString(body, 'Type');
  const description = optionalString(body, 'Description');
  if (description !== null && (description.length > GLACIER_MAX_DESCRIPTION || !isPrintableAscii(description))) {
    return problem({ kind: 'invalid-parameter', message: 'Invalid job description: it must be at most 1024 printable ASCII characters.' });
  }
  const tier = optionalString(body, 'Tier') ?? 'Standard';
  if (tier !== 'Expedited' && tier !== 'Standard' && tier !== 'Bulk') {
    return problem({ kind: 'invalid-parameter', message: `Invalid Tier: ${tier}. It must be Expedited, Standard or Bulk.` });
  }
  const common = { description, snsTopic: optionalString(body, 'SNSTopic'), tier } as const;
  switch (type) {
    case null: return problem({ kind: 'missing-parameter', message: 'The job parameters need a Type.' });
    case 'archive-retrieval': {
      const archiveId = optionalString(body, 'ArchiveId');
      if (archiveId === null || archiveId === '') return problem({ kind: 'missing-parameter', message: 'An archive-retrieval job needs an ArchiveId.' });
      return { ...common, type, archiveId, retrievalByteRange: optionalString(body, 'RetrievalByteRange') };
    }
    case 'inventory-retrieval': {
      const format = optionalString(body, 'Format') ?? 'JSON';
      if (format !== 'JSON' && format !== 'CSV') return problem({ kind: 'invalid-parameter', message: `Invalid Format: ${format}. It must be JSON or CSV.` });
      const p = body.InventoryRetrievalParameters ?? {};
      if (typeof p !== 'object' || p === null || Array.isArray(p)) {
        return problem({ kind: 'malformed-json', message: 'InventoryRetrievalParameters must be a JSON object.' });
      }
      const params = p as Record<string, unknown>;
      const rawLimit = params.Limit;
      const limitText = typeof rawLimit === 'number' ? String(rawLimit) : optionalString(params, 'Limit');
      if (limitText !== null && (!/^\d{1,10}$/.test(limitText) || Number(limitText) < 1)) {
        return problem({ kind: 'invalid-parameter', message: `Invalid inventory Limit: ${limitText}. It must be a positive integer.` });
      }
      const inventory: GlacierInventoryParams = {
        format, startDate: optionalDate(params, 'StartDate'), endDate: optionalDate(params, 'EndDate'),
        limit: limitText === null ? null : Number(limitText), marker: optionalString(params, 'Marker'),
      };
      if (inventory.startDate !== null && inventory.endDate !== null && inventory.startDate >= inventory.endDate) {
        return problem({ kind: 'invalid-parameter', message: 'The inventory StartDate must be earlier than its EndDate.' });
      }
      return { ...common, type, inventory };
    }
    case 'select': return problem({ kind: 'not-supported', feature: 'Select (job type "select")' });
    default: return problem({ kind: 'invalid-parameter', message: `Invalid job type: ${type}. It must be archive-retrieval or inventory-retrieval.` });
  }
}
