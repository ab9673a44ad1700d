// A job (protocol.md §4.15) with waiting, verified download and inventory parsing.
import type { OASAPI } from '../client/api.js';
import { parseRange, type ByteRange } from '../protocol/ranges.js';
import { sleep, throwIfAborted } from './abort.js';
import { callJson, callOk } from './call.js';
import { downloadJobOutput, type DownloadOptions, type DownloadResult } from './download.js';
import { JobFailedError, JobStateError } from './errors.js';
import { parseInventory, type Inventory } from './inventory.js';
import { emptyToNull, sizeOrNull, toDate } from './model.js';
import { withRetry, type RetryOptions } from './retry.js';
import { rangeLength } from './sizes.js';
import type { JobJson } from '../protocol/wire-types.js';

/** Job Action values (protocol.md §4.15). */
export type JobAction = 'ArchiveRetrieval' | 'InventoryRetrieval' | 'PullFromOSS' | 'PushToOSS';

export interface WaitOptions {
  /** Fixed time between describes in ms (default: 1 s, doubling up to 30 s). */
  pollInterval?: number;
  signal?: AbortSignal;
  /** Told the job after every describe. */
  onPoll?: (job: Job) => void;
  /** For each describe (default: the standard policy). */
  retry?: RetryOptions;
}

export class Job {
  readonly api: OASAPI;
  readonly vaultId: string;
  readonly id: string;
  action!: JobAction | string;
  statusCode!: 'InProgress' | 'Succeeded' | 'Failed' | string;
  statusMessage!: string | null;
  completed!: boolean;
  creationDate!: Date | null;
  completionDate!: Date | null;
  archiveId!: string | null;
  archiveSizeInBytes!: number | null;
  /** Tree etag of the retrieved range (null when not tree-hash aligned, or not done). */
  treeEtag!: string | null;
  archiveTreeEtag!: string | null;
  /** `start-end` of an archive retrieval. */
  retrievalByteRange!: string | null;
  inventorySizeInBytes!: number | null;
  description!: string | null;

  constructor(api: OASAPI, vaultId: string, json: JobJson) {
    this.api = api;
    this.vaultId = vaultId;
    this.id = json.JobId;
    this.update(json);
  }

  /** Describes job `jobId` of vault `vaultId`. */
  static async get(api: OASAPI, vaultId: string, jobId: string, options: { signal?: AbortSignal } = {}): Promise<Job> {
    return new Job(api, vaultId, await callJson<JobJson>(api.getJobDesc(vaultId, jobId, { signal: options.signal })));
  }

  /** Re-describes the job and updates these fields. */
  async refresh(options: { signal?: AbortSignal } = {}): Promise<this> {
    this.update(await callJson<JobJson>(this.api.getJobDesc(this.vaultId, this.id, { signal: options.signal })));
    return this;
  }

  get succeeded(): boolean {
    return this.completed && this.statusCode === 'Succeeded';
  }

  get failed(): boolean {
    return this.completed && this.statusCode === 'Failed';
  }

  /** The retrieval range as numbers (archive retrievals). */
  get range(): ByteRange | null {
    return parseRange(this.retrievalByteRange ?? undefined);
  }

  /** Bytes of output once complete: the retrieved range, or the inventory size. */
  get outputSize(): number | null {
    if (this.action === 'InventoryRetrieval') return this.inventorySizeInBytes;
    if (this.action !== 'ArchiveRetrieval') return null;
    const range = this.range;
    return range ? rangeLength(range) : this.archiveSizeInBytes;
  }

  /**
   * Polls until the job completes. Resolves with this job when it succeeded; throws
   * JobFailedError (with the StatusMessage) when it failed.
   */
  async wait(options: WaitOptions = {}): Promise<this> {
    // Without a fixed interval: 1 s, doubling up to 30 s, so a job on a fast server is
    // picked up at once and a job of hours still costs few requests.
    let interval = options.pollInterval ?? 1_000;
    for (let first = true; ; first = false) {
      if (!first || !this.completed) {
        await withRetry(() => this.refresh({ signal: options.signal }), options.retry, options.signal, 'wait');
        options.onPoll?.(this);
      }
      if (this.completed) {
        if (this.statusCode === 'Failed') throw new JobFailedError(this.id, this.statusMessage);
        return this;
      }
      await sleep(interval, options.signal, 'wait');
      if (options.pollInterval === undefined) interval = Math.min(interval * 2, 30_000);
    }
  }

  /**
   * Downloads the output to `path`: an archive retrieval in parallel verified pieces
   * (resumable), an inventory in one stream. See DownloadOptions.
   */
  downloadToFile(path: string, options: DownloadOptions = {}): Promise<DownloadResult> {
    return downloadJobOutput(this, path, options);
  }

  /** Reads and parses an inventory job's output. */
  async readInventory(options: { signal?: AbortSignal; retry?: RetryOptions } = {}): Promise<Inventory> {
    throwIfAborted(options.signal, 'readInventory');
    if (this.action !== 'InventoryRetrieval') throw new JobStateError(this.id, `job ${this.id} is ${this.action}, not an inventory retrieval`);
    if (!this.completed) await this.refresh(options);
    this.assertDownloadable();
    const body = await withRetry(async () => (await callOk(this.api.fetchJobOutput(this.vaultId, this.id, undefined, { signal: options.signal }))).read(),
      options.retry, options.signal, 'readInventory');
    return parseInventory(body);
  }

  /** @internal Throws unless the output can be downloaded now. */
  assertDownloadable(): void {
    if (this.action !== 'ArchiveRetrieval' && this.action !== 'InventoryRetrieval') {
      throw new JobStateError(this.id, `job ${this.id} is ${this.action}: it has no output to download`);
    }
    if (this.failed) throw new JobFailedError(this.id, this.statusMessage);
    if (!this.completed) throw new JobStateError(this.id, `job ${this.id} is still ${this.statusCode}; wait() for it first`);
  }

  private update(json: JobJson): void {
    this.action = json.Action;
    this.statusCode = json.StatusCode;
    this.statusMessage = emptyToNull(json.StatusMessage);
    this.completed = json.Completed === true;
    this.creationDate = toDate(json.CreationDate);
    this.completionDate = toDate(json.CompletionDate);
    this.archiveId = emptyToNull(json.ArchiveId);
    this.archiveSizeInBytes = sizeOrNull(json.ArchiveSizeInBytes);
    this.treeEtag = emptyToNull(json.TreeEtag)?.toUpperCase() ?? null;
    this.archiveTreeEtag = emptyToNull(json.ArchiveTreeEtag)?.toUpperCase() ?? null;
    this.retrievalByteRange = emptyToNull(json.RetrievalByteRange);
    this.inventorySizeInBytes = sizeOrNull(json.InventorySizeInBytes);
    this.description = emptyToNull(json.JobDescription);
  }

  toJSON(): Record<string, unknown> {
    const { api: _api, ...rest } = this;
    return rest;
  }
}
