// What every service function works with: the two storage contracts, the limits and a clock.
import type { LeafFamily } from '../store/blob/leaf-families.js';
import type { BlobStore } from '../store/blob/types.js';
import type { CorruptDataError } from '../store/blob/verifying-reader.js';
import type { MetadataStore } from '../store/meta/types.js';
import type { SpaceGuard } from './space.js';

export interface ServiceLimits {
  maxVaults: number;
  /** null: statistics and inventories are live. */
  inventoryIntervalMs: number | null;
  jobDelayMs: number;
}

export interface ServiceContext {
  readonly meta: MetadataStore;
  readonly blobs: BlobStore;
  readonly limits: ServiceLimits;
  now(): number;
  /** Tells the job engine a job was created (so a due job starts without waiting for a poll). */
  nudgeJobs(): void;
  /** Whether OSS transfer jobs may name this OSSHost (configured hosts only; none when absent). */
  isOssHostAllowed?(ossHost: string): boolean;
  /** The free-space reserve uploads must leave (--min-free); absent: none. */
  space?: SpaceGuard | null;
  /** Told of stored bytes that failed verification on their way out (log, metrics). */
  onCorruptRead?(err: CorruptDataError): void;
  /** The leaf families uploads store (default: STORED_LEAF_FAMILIES; MD5 alone with --glacier off). */
  leafFamilies?: readonly LeafFamily[];
}
