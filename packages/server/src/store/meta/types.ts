// The metadata contract. The service layer talks only to this interface; each backend
// (sqlite embedded default, postgres for scale-out) is one folder implementing it.
// Times are milliseconds since the epoch. Every multi-row change is one transaction.

export interface AccountRecord {
  id: string;
  accessKeyId: string;
  accessKeySecret: string;
  createdAt: number;
}

export interface VaultRecord {
  id: string;
  accountId: string;
  name: string;
  createdAt: number;
  /** Live counters, changed in the same transaction as the archives they count. */
  archiveCount: number;
  sizeBytes: number;
  /** Last archive insert or delete in this vault (null: never written). */
  lastWriteAt: number | null;
  /** The latest periodic inventory snapshot (null: none taken yet). */
  inventoryAt: number | null;
  inventoryArchiveCount: number;
  inventorySizeBytes: number;
}

/** One stored piece of an archive: a blob of `size` bytes with its 1 MiB leaf digests. */
export interface Segment {
  blobKey: string;
  size: number;
}

export interface ArchiveRecord {
  id: string;
  vaultId: string;
  description: string;
  size: number;
  /** Tree etag of the whole data (what jobs report as ArchiveTreeEtag). */
  treeEtag: string;
  createdAt: number;
  /** Set when deleted; the bytes stay until no unexpired job needs them. */
  deletedAt: number | null;
}

export interface UploadRecord {
  id: string;
  vaultId: string;
  description: string;
  partSize: number;
  createdAt: number;
  /** Set by complete; a completed upload answers complete again with this id. */
  archiveId: string | null;
  completedAt: number | null;
  /** Archive size and tree etag accepted by complete (for idempotent repeats). */
  archiveSize: number | null;
  archiveTreeEtag: string | null;
}

export interface PartRecord {
  uploadId: string;
  start: number;
  end: number;
  contentEtag: string;
  treeEtag: string;
  blobKey: string;
  createdAt: number;
}

export type JobType = 'archive-retrieval' | 'inventory-retrieval' | 'pull-from-oss' | 'push-to-oss';
export type JobStatus = 'InProgress' | 'Succeeded' | 'Failed';

export interface JobRecord {
  id: string;
  vaultId: string;
  type: JobType;
  description: string;
  createdAt: number;
  status: JobStatus;
  statusMessage: string;
  completedAt: number | null;
  /** Requested archive (retrieval, push) or the archive created (pull, once done); '' otherwise. */
  archiveId: string;
  /** -1 when not applicable or not yet known. */
  archiveSize: number;
  archiveTreeEtag: string;
  /** Tree etag of the retrieved range when tree-hash aligned, else ''. */
  treeEtag: string;
  /** `start-end` for archive-retrieval, '' otherwise. */
  retrievalRange: string;
  /** Inventory output size once done, else -1. */
  inventorySize: number;
  ossHost: string;
  bucket: string;
  object: string;
  /** Blob holding the job's own output (inventory), '' when none. */
  outputKey: string;
  /** The job does not start before this time (--job-delay). */
  runAfter: number;
  /** Completed jobs disappear after this time (--job-output-ttl). */
  expiresAt: number | null;
  /** Which node runs the job, and until when its claim holds. */
  leaseOwner: string | null;
  leaseUntil: number | null;
  attempts: number;
  /** Job-type specific progress kept across restarts (JSON text), '' when none. */
  checkpoint: string;
}

/** An archive's scrub state (scrub/): when its bytes last passed a full check, and what was wrong. */
export interface ScrubRecord {
  archiveId: string;
  vaultId: string;
  size: number;
  /** Last full check (passed or not); 0: never checked. */
  verifiedAt: number;
  /** Why the last check failed (the archive is damaged), or null when it passed. */
  damage: string | null;
}

/** Where the live archives stand (in some vaults, or all of them). */
export interface ScrubProgress {
  archives: number;
  bytes: number;
  /** Checked at or after the given time. */
  verified: number;
  verifiedBytes: number;
  damaged: number;
  /** The oldest last check among them (0: one was never checked; null: no archives). */
  oldestVerifiedAt: number | null;
}

/** Vault tags, vault settings and account settings (MetadataStore.settings). */
export interface SettingsStore {
  /** The vault's tags, by key in byte order. */
  listTags(vaultId: string): Promise<VaultTag[]>;
  /**
   * Atomic: adds the tags (a key already there gets the new value) unless the vault would
   * then hold more than `maxTags`; 'missing' when there is no such vault.
   */
  addTags(vaultId: string, tags: readonly VaultTag[], maxTags: number): Promise<'ok' | 'limit' | 'missing'>;
  /** Removes the tags of these keys; keys the vault does not have are ignored. */
  removeTags(vaultId: string, keys: readonly string[]): Promise<void>;
  /** The vault's setting of that name, or null when unset. */
  vaultSetting(vaultId: string, name: string): Promise<string | null>;
  /** Every setting of the vault, by name. */
  vaultSettings(vaultId: string): Promise<StoredSetting[]>;
  /** Sets a setting (replacing it), or removes it when `value` is null; false when there is no such vault. */
  putVaultSetting(vaultId: string, name: string, value: string | null): Promise<boolean>;
  /** The account's setting of that name, or null when unset. */
  accountSetting(accountId: string, name: string): Promise<string | null>;
  /** Every setting of the account, by name. */
  accountSettings(accountId: string): Promise<StoredSetting[]>;
  /** Sets a setting (replacing it), or removes it when `value` is null. */
  putAccountSetting(accountId: string, name: string, value: string | null): Promise<void>;
}

/**
 * Scrubbing (scrub/). Every live archive has a scrub row once enrolled; a node checks an archive under a lease, like a job, so in a cluster each archive is checked by one node.
 */
export interface ScrubStore {
  /** Adds a scrub row (never checked) for every live archive that has none; returns how many. */
  enroll(): Promise<number>;
  /**
   * Leases one live archive last checked before `dueBefore` whose lease is free or expired
   * (never-checked and oldest first), optionally only in these vaults; null when none is due.
   */
  claim(owner: string, now: number, leaseUntil: number, dueBefore: number, vaultIds?: readonly string[]): Promise<ArchiveRecord | null>;
  /** Extends a scrub lease; false when another node took the archive over. */
  renew(archiveId: string, owner: string, leaseUntil: number): Promise<boolean>;
  /**
   * Ends a lease. With `verifiedAt` the check is recorded (damage null: it passed); without,
   * the archive is only released (the check could not finish). False when the lease was lost.
   */
  finish(archiveId: string, owner: string, result: { verifiedAt: number; damage: string | null } | null): Promise<boolean>;
  /** An archive's scrub state, or null when it was never enrolled. */
  get(archiveId: string): Promise<ScrubRecord | null>;
  /** Live archives whose last check failed (at most `limit`, by archive id). */
  damaged(limit: number, vaultIds?: readonly string[]): Promise<ScrubRecord[]>;
  /** Counts over live archives: checked since `since`, damaged, oldest check. */
  progress(since: number, vaultIds?: readonly string[]): Promise<ScrubProgress>;
}

/** A vault tag (Glacier's AddTagsToVault). */
export interface VaultTag {
  key: string;
  value: string;
}

/** A named setting of a vault or account (Glacier's notification configuration, policies), as JSON text. */
export interface StoredSetting {
  name: string;
  value: string;
}

/** A page of a listing: `next` is the first item of the following page, or null at the end. */
export interface Page<T> {
  items: T[];
  next: string | null;
}

export type CreateVaultResult =
  | { kind: 'created'; vault: VaultRecord }
  | { kind: 'exists'; vault: VaultRecord }
  | { kind: 'limit' };

export type DeleteVaultResult = 'deleted' | 'not-empty' | 'missing';

export interface CompleteUploadInput {
  upload: UploadRecord;
  archive: ArchiveRecord;
  /** The parts in range order; their blobs become the archive's segments without a copy. */
  parts: PartRecord[];
}

export interface MetadataStore {
  close(): Promise<void>;

  // Accounts and keys.
  createAccount(account: AccountRecord): Promise<void>;
  getAccountByKeyId(accessKeyId: string): Promise<AccountRecord | null>;
  listAccounts(): Promise<AccountRecord[]>;
  /** Deletes the account's key; false when there is none. */
  deleteAccountByKeyId(accessKeyId: string): Promise<boolean>;
  /**
   * Replaces a key's secret in place (root key from the environment changed); false when
   * there is no such key. Optional: without it the server deletes and re-creates the key.
   */
  updateAccountSecret?(accessKeyId: string, accessKeySecret: string): Promise<boolean>;

  // Vaults (always scoped to an account: a foreign id is an unknown id).
  /** Atomic: returns the existing vault of that name, or creates one unless at `maxVaults`. */
  createVault(vault: VaultRecord, maxVaults: number): Promise<CreateVaultResult>;
  getVault(accountId: string, vaultId: string): Promise<VaultRecord | null>;
  /** The account's vault of that name (the Glacier front end addresses vaults by name). */
  getVaultByName(accountId: string, name: string): Promise<VaultRecord | null>;
  /** Vaults with name >= `fromName` (null: from the start), in byte order of the name, at most `limit`. */
  listVaultsByName(accountId: string, fromName: string | null, limit: number): Promise<Page<VaultRecord>>;
  /** Vaults with id >= `fromId` (null: from the start), ascending, at most `limit`. */
  listVaults(accountId: string, fromId: string | null, limit: number): Promise<Page<VaultRecord>>;
  /** Atomic: deletes only a vault with no live archives and no open uploads. */
  deleteVault(accountId: string, vaultId: string): Promise<DeleteVaultResult>;
  /** Stores a periodic inventory snapshot of every vault's counters (--inventory-interval). */
  snapshotInventories(at: number): Promise<void>;

  // Archives.
  /** Inserts the archive with its segments and bumps the vault counters, in one transaction. */
  insertArchive(archive: ArchiveRecord, segments: Segment[]): Promise<void>;
  /** A live (not deleted) archive of the vault. */
  getArchive(vaultId: string, archiveId: string): Promise<ArchiveRecord | null>;
  /** Any archive by id, deleted or not (jobs still serve deleted archives' bytes). */
  getArchiveAnyState(archiveId: string): Promise<ArchiveRecord | null>;
  getSegments(archiveId: string): Promise<Segment[]>;
  /** Marks it deleted and updates counters; false when there is no such live archive. */
  deleteArchive(vaultId: string, archiveId: string, at: number): Promise<boolean>;
  /** Live archives of the vault in ascending id order, fetched in batches (never all at once). */
  iterateArchives(vaultId: string, createdBefore?: number): AsyncIterable<ArchiveRecord>;

  // Multipart uploads.
  createUpload(upload: UploadRecord): Promise<void>;
  /** An upload of the vault, completed or not. */
  getUpload(vaultId: string, uploadId: string): Promise<UploadRecord | null>;
  /** Open (not completed) uploads with id >= fromId, ascending. */
  listUploads(vaultId: string, fromId: string | null, limit: number): Promise<Page<UploadRecord>>;
  /**
   * Records a part, replacing any part with the same range. Returns the replaced part (its
   * blob is now unreferenced), or null. Fails with 'missing' if the upload is gone or completed.
   */
  putPart(part: PartRecord): Promise<{ replaced: PartRecord | null } | 'missing'>;
  /** Parts with start >= fromStart, ascending; Page.next is the next part's start as text. */
  listParts(uploadId: string, fromStart: number | null, limit: number): Promise<Page<PartRecord>>;
  allParts(uploadId: string): Promise<PartRecord[]>;
  /** Atomic: inserts the archive (parts' blobs as segments), marks the upload completed. 'missing' if it vanished or was already completed. */
  completeUpload(input: CompleteUploadInput): Promise<'ok' | 'missing'>;
  /** Removes an open upload; returns its parts so their blobs can be deleted. */
  deleteUpload(vaultId: string, uploadId: string): Promise<PartRecord[] | 'missing'>;

  // Jobs.
  createJob(job: JobRecord): Promise<void>;
  /** An unexpired job of the vault. */
  getJob(vaultId: string, jobId: string, now: number): Promise<JobRecord | null>;
  listJobs(vaultId: string, fromId: string | null, limit: number, now: number): Promise<Page<JobRecord>>;
  /**
   * Claims up to `max` due, unfinished jobs whose lease is free or expired for `owner`
   * until `leaseUntil`, atomically (several nodes may claim at once; each job goes to one).
   */
  claimJobs(owner: string, now: number, leaseUntil: number, max: number): Promise<JobRecord[]>;
  /** Extends the lease; false when another node took the job over. */
  renewLease(jobId: string, owner: string, leaseUntil: number): Promise<boolean>;
  /** Saves a checkpoint under the lease; false when the lease was lost. */
  saveCheckpoint(jobId: string, owner: string, checkpoint: string): Promise<boolean>;
  /** Finishes a job under the lease with the given fields; false when the lease was lost. */
  finishJob(jobId: string, owner: string, fields: Partial<JobRecord>): Promise<boolean>;
  countJobsByStatus(): Promise<Record<JobStatus, number>>;

  /** Scrubbing (scrub/): see ScrubStore. */
  readonly scrub: ScrubStore;
  /** Ids of the vaults of that name, in every account. */
  vaultIdsNamed(name: string): Promise<string[]>;

  /**
   * Vault tags and settings, account settings (the Glacier side operations). A vault's rows
   * go with the vault when it is deleted.
   */
  readonly settings: SettingsStore;

  // Garbage collection.
  /** Blob keys referenced by anything (segments, parts, job outputs): a blob not in here may be removed. */
  isBlobReferenced(blobKey: string): Promise<boolean>;
  /**
   * Deletes expired jobs and deleted archives that no unexpired job needs any more;
   * returns the blob keys (segments, job outputs) that are now unreferenced.
   */
  purge(now: number): Promise<string[]>;
}
