// The domain errors: what went wrong in words any front end can render. Each carries the
// facts a wire protocol needs (which resource, which rule); http/<protocol>/errors.ts maps
// them to that protocol's status codes and error codes. Anything else thrown is a bug or
// an outage and leaves as a logged internal error.

export type ResourceKind = 'vault' | 'archive' | 'upload' | 'job';

export abstract class DomainError extends Error {}

/** The resource does not exist (or belongs to another account, or is gone). */
export class NotFoundError extends DomainError {
  override readonly name = 'NotFoundError';
  constructor(readonly resource: ResourceKind, readonly id: string, message?: string) {
    super(message ?? `${RESOURCE_WORDS[resource]} ${id} does not exist`);
  }
}

const RESOURCE_WORDS: Record<ResourceKind, string> = { vault: 'vault', archive: 'archive', upload: 'multipart upload', job: 'job' };

/**
 * The request breaks a rule about its own content:
 * - `argument`: a value is malformed or out of bounds;
 * - `vault-name`: the vault name is not allowed;
 * - `length-required`: the body's length was not given;
 * - `too-large`: more bytes than the limit;
 * - `digest`: the data does not match the checksum the client gave;
 * - `incomplete-body`: the body ended early;
 * - `parts-incomplete`: the parts of a multipart upload do not cover the archive;
 * - `range`: a byte range of a job's output is not allowed.
 */
export type InvalidRule = 'argument' | 'vault-name' | 'length-required' | 'too-large' | 'digest' | 'incomplete-body' | 'parts-incomplete' | 'range';

export class InvalidRequestError extends DomainError {
  override readonly name = 'InvalidRequestError';
  constructor(readonly rule: InvalidRule, message: string) {
    super(message);
  }
}

/**
 * The request is well formed but the resource's state refuses it:
 * - `vault-not-empty`: only empty vaults can be deleted;
 * - `vault-limit`: the account has its maximum number of vaults;
 * - `job-not-ready`: the job has no output (yet).
 */
export type StateRule = 'vault-not-empty' | 'vault-limit' | 'job-not-ready';

export class StateError extends DomainError {
  override readonly name = 'StateError';
  constructor(readonly rule: StateRule, message: string) {
    super(message);
  }
}

/** The server cannot take the request now (shutting down). */
export class UnavailableError extends DomainError {
  override readonly name = 'UnavailableError';
}

/**
 * Storage is full (a disk, a quota, or the free-space reserve of service/space.ts): the
 * server's problem, not the client's. Recognised in whatever a store throws.
 */
export { StorageFullError, isStorageFull } from '../store/storage-full.js';
/** A store unreachable or busy for the moment (S3, PostgreSQL): worth another try later. */
export { isTransientStoreError } from '../store/transient.js';
/** Stored bytes that failed their leaf check: what a job output stream fails with (the front ends say so). */
export { CorruptDataError } from '../store/blob/verifying-reader.js';
