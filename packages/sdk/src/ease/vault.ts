// A vault (protocol.md §4.3) and everything done through one: uploads, archives, jobs.
import type { OASAPI } from '../client/api.js';
import { OASError } from '../protocol/errors.js';
import { formatRange, parseRange, type ByteRange } from '../protocol/ranges.js';
import { callHeaders, callJson, listAllJobs, listAllUploads, listAllVaults, requiredHeader } from './call.js';
import { Job } from './job.js';
import { toArchiveInfo, toDate, toUploadInfo, type ArchiveInfo, type UploadInfo } from './model.js';
import type { RetryOptions } from './retry.js';
import { calcPartSize } from './sizes.js';
import type { UploadSource } from './sources.js';
import { initiate, uploadArchive, type UploadOptions } from './upload.js';
import { Uploader, type UploadResult } from './uploader.js';
import type { ArchiveJson, VaultJson } from '../protocol/wire-types.js';

export interface CallOptions {
  signal?: AbortSignal;
}

export interface JobOptions extends CallOptions {
  description?: string;
}

export class Vault {
  readonly api: OASAPI;
  readonly id: string;
  name: string;
  creationDate: Date;
  lastInventoryDate: Date | null;
  numberOfArchives: number;
  sizeInBytes: number;

  constructor(api: OASAPI, json: VaultJson) {
    this.api = api;
    this.id = json.VaultId;
    this.name = json.VaultName;
    this.creationDate = toDate(json.CreationDate) ?? new Date(NaN);
    this.lastInventoryDate = toDate(json.LastInventoryDate);
    this.numberOfArchives = json.NumberOfArchives;
    this.sizeInBytes = json.SizeInBytes;
  }

  // ---- finding vaults -----------------------------------------------------------------

  /** Creates the vault (or finds the existing one of that name) and describes it. */
  static async create(api: OASAPI, name: string, options: CallOptions = {}): Promise<Vault> {
    const response = await callHeaders(api.createVault(name, options));
    return Vault.getById(api, requiredHeader(response, 'x-oas-vault-id', 'createVault'), options);
  }

  static async getById(api: OASAPI, id: string, options: CallOptions = {}): Promise<Vault> {
    return new Vault(api, await callJson<VaultJson>(api.getVaultDesc(id, options)));
  }

  /** Scans the vault listing; throws an OASError VaultNotExist (404) when there is no such name. */
  static async getByName(api: OASAPI, name: string, options: CallOptions = {}): Promise<Vault> {
    for await (const json of listAllVaults(api, options)) {
      if (json.VaultName === name) return new Vault(api, json);
    }
    throw new OASError(404, 'VaultNotExist', `there is no vault named "${name}"`, 'client');
  }

  static async listAll(api: OASAPI, options: CallOptions = {}): Promise<Vault[]> {
    const out: Vault[] = [];
    for await (const json of listAllVaults(api, options)) out.push(new Vault(api, json));
    return out;
  }

  static async deleteById(api: OASAPI, id: string, options: CallOptions = {}): Promise<void> {
    await callHeaders(api.deleteVault(id, options));
  }

  static async deleteByName(api: OASAPI, name: string, options: CallOptions = {}): Promise<void> {
    await (await Vault.getByName(api, name, options)).delete(options);
  }

  /** Re-describes the vault and updates these fields. */
  async refresh(options: CallOptions = {}): Promise<this> {
    const fresh = await Vault.getById(this.api, this.id, options);
    this.name = fresh.name;
    this.creationDate = fresh.creationDate;
    this.lastInventoryDate = fresh.lastInventoryDate;
    this.numberOfArchives = fresh.numberOfArchives;
    this.sizeInBytes = fresh.sizeInBytes;
    return this;
  }

  async delete(options: CallOptions = {}): Promise<void> {
    await Vault.deleteById(this.api, this.id, options);
  }

  // ---- archives -----------------------------------------------------------------------

  async deleteArchive(archiveId: string, options: CallOptions = {}): Promise<void> {
    await callHeaders(this.api.deleteArchive(this.id, archiveId, options));
  }

  /** Archive metadata (size, tree etag, description, creation date). */
  async headArchive(archiveId: string, options: CallOptions = {}): Promise<ArchiveInfo> {
    return toArchiveInfo(await callJson<ArchiveJson>(this.api.headArchive(this.id, archiveId, options)), archiveId);
  }

  /**
   * Uploads a file (path) or a stream: one request up to `singleUploadThreshold`
   * (64 MiB), otherwise a parallel multipart upload; with `uploadId`, resumes that upload.
   */
  uploadArchive(source: UploadSource, options: UploadOptions = {}): Promise<UploadResult> {
    return uploadArchive(this.api, this.id, source, options);
  }

  /** Starts a multipart upload sized for `size` bytes (or with `partSize`); call upload() on it. */
  async initiateUploader(options: { size?: number; partSize?: number; description?: string; signal?: AbortSignal } = {}): Promise<Uploader> {
    return initiate(this.api, this.id, calcPartSize(options.size, options.partSize), options);
  }

  /** The Uploader of an existing upload with the parts on the server; then resume(source). */
  recoverUploader(uploadId: string, options: { signal?: AbortSignal; retry?: RetryOptions } = {}): Promise<Uploader> {
    return Uploader.recover(this.api, this.id, uploadId, options);
  }

  async listUploads(options: CallOptions = {}): Promise<UploadInfo[]> {
    const out: UploadInfo[] = [];
    for await (const json of listAllUploads(this.api, this.id, options)) out.push(toUploadInfo(json));
    return out;
  }

  /** Aborts a multipart upload (its parts are discarded). */
  async cancelUpload(uploadId: string, options: CallOptions = {}): Promise<void> {
    await callHeaders(this.api.deleteMultipartUpload(this.id, uploadId, options));
  }

  // ---- jobs ---------------------------------------------------------------------------

  async listJobs(options: CallOptions = {}): Promise<Job[]> {
    const out: Job[] = [];
    for await (const json of listAllJobs(this.api, this.id, options)) out.push(new Job(this.api, this.id, json));
    return out;
  }

  getJob(jobId: string, options: CallOptions = {}): Promise<Job> {
    return Job.get(this.api, this.id, jobId, options);
  }

  /** Starts an archive retrieval of the whole archive or `range` (inclusive, MiB-aligned). */
  async retrieveArchive(archiveId: string, options: JobOptions & { range?: ByteRange | string } = {}): Promise<Job> {
    let byteRange: string | undefined;
    if (options.range !== undefined) {
      const range = typeof options.range === 'string' ? parseRange(options.range) : options.range;
      if (!range || !Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start) {
        throw new RangeError(`range must be start-end with 0 <= start <= end, got ${JSON.stringify(options.range)}`);
      }
      byteRange = formatRange(range);
    }
    return this.jobFrom(this.api.createJob(this.id, 'archive-retrieval', archiveId, options.description, byteRange, options), options);
  }

  retrieveInventory(options: JobOptions = {}): Promise<Job> {
    return this.jobFrom(this.api.createJob(this.id, 'inventory-retrieval', undefined, options.description, undefined, options), options);
  }

  /** Copies oss://bucket/object at `ossHost` into a new archive of this vault (its id is on the job once done). */
  pullFromOss(ossHost: string, bucket: string, object: string, options: JobOptions = {}): Promise<Job> {
    return this.jobFrom(this.api.createOssTransferJob(this.id, 'pull-from-oss', ossHost, bucket, object, undefined, options.description, options), options);
  }

  /** Copies an archive to oss://bucket/object at `ossHost`. */
  pushToOss(archiveId: string, ossHost: string, bucket: string, object: string, options: JobOptions = {}): Promise<Job> {
    return this.jobFrom(this.api.createOssTransferJob(this.id, 'push-to-oss', ossHost, bucket, object, archiveId, options.description, options), options);
  }

  private async jobFrom(call: ReturnType<OASAPI['createJob']>, options: CallOptions): Promise<Job> {
    const response = await callHeaders(call);
    return this.getJob(requiredHeader(response, 'x-oas-job-id', 'createJob'), options);
  }

  toJSON(): Record<string, unknown> {
    const { api: _api, ...rest } = this;
    return rest;
  }
}
