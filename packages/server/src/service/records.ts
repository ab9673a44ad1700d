// The records the service takes and returns: what a front end renders in its own wire
// format. Stored records are reused where they already say what a client may see.
export type {
  AccountRecord, ArchiveRecord, JobRecord, JobStatus, JobType, PartRecord, Segment, UploadRecord, VaultRecord, VaultTag,
} from '../store/meta/types.js';

/** A vault as clients see it: the counters and inventory time of the mode the server runs in. */
export interface VaultInfo {
  id: string;
  accountId: string;
  name: string;
  createdAt: number;
  archiveCount: number;
  sizeBytes: number;
  /** When the reported counters were taken (null: never inventoried / never written). */
  inventoryAt: number | null;
}

/** One page of a listing: `next` is the marker of the following page, '' at the end. */
export interface ListPage<T> {
  items: T[];
  next: string;
}
