// What a job runner gets and returns. One runner per job type; the engine owns leases,
// retries after a crash, and writing the result.
import type { LeafFamily } from '../store/blob/leaf-families.js';
import type { BlobStore } from '../store/blob/types.js';
import type { CorruptDataError } from '../store/blob/verifying-reader.js';
import type { JobRecord, JobType, MetadataStore } from '../store/meta/types.js';
import type { SpaceGuard } from '../service/space.js';

export interface JobRunContext {
  meta: MetadataStore;
  blobs: BlobStore;
  /** Aborted on shutdown or when the lease is lost: stop, clean up, and throw. */
  signal: AbortSignal;
  now(): number;
  /** Live statistics (null) or the periodic inventory interval. */
  inventoryIntervalMs: number | null;
  /**
   * Stores the job's progress (JSON text) under its lease, so that a run after a restart
   * can resume. Resolves false when the lease was lost (the run is being aborted).
   */
  saveCheckpoint(checkpoint: string): Promise<boolean>;
  /** Told of stored bytes that failed verification on their way out (log, metrics). */
  onCorruptRead?(err: CorruptDataError): void;
  /** The free-space reserve (--min-free) data coming into the server must leave: OSS pulls check it first. */
  space?: SpaceGuard | null;
  /** The leaf families archives written by a job store (default: STORED_LEAF_FAMILIES). */
  leafFamilies?: readonly LeafFamily[];
}

/** The fields a finished job gets (status and message at least). */
export type JobResult = Partial<JobRecord> & { status: 'Succeeded' | 'Failed'; statusMessage: string };

export type JobRunner = (job: JobRecord, ctx: JobRunContext) => Promise<JobResult>;

export type JobRunners = Record<JobType, JobRunner>;

export function failed(statusMessage: string, fields: Partial<JobRecord> = {}): JobResult {
  return { ...fields, status: 'Failed', statusMessage };
}
