// The one table from anything thrown to the Glacier problem the client is told about
// (docs/glacier.md, "Errors"): the front end's own GlacierFailure, the domain errors of the
// service layer, the plumbing's HttpError, a body that did not hash to x-amz-content-sha256.
// Anything else is a server fault.
import { PayloadHashMismatchError } from '@oas/sdk';
import {
  DomainError, InvalidRequestError, NotFoundError, StateError, StorageFullError, UnavailableError, isStorageFull, isTransientStoreError,
} from '../../service/errors.js';
import { ChecksumMismatchError } from '../../service/ingest.js';
import { HttpError } from '../errors.js';
import { GlacierFailure, type GlacierProblem } from './errors.js';

/** What the request addressed, for messages that name the vault by ARN. */
export interface ProblemScope {
  vaultArn?: string;
}

export function isExpectedGlacierError(err: unknown): boolean {
  return err instanceof GlacierFailure || err instanceof DomainError || err instanceof HttpError || err instanceof PayloadHashMismatchError;
}

export function toGlacierProblem(err: unknown, scope: ProblemScope = {}, method = 'GET', path = '/'): GlacierProblem {
  if (err instanceof GlacierFailure) return err.problem;
  if (err instanceof PayloadHashMismatchError) return { kind: 'payload-hash-mismatch', expected: err.expected, computed: err.computed };
  if (err instanceof ChecksumMismatchError) return { kind: 'checksum-mismatch', expected: err.expected, computed: err.computed };
  if (err instanceof NotFoundError) {
    switch (err.resource) {
      case 'vault': return { kind: 'vault-not-found', vaultArn: scope.vaultArn ?? err.id };
      case 'archive': return { kind: 'archive-not-found', archiveId: err.id };
      case 'upload': return { kind: 'upload-not-found', uploadId: err.id };
      case 'job': return { kind: 'job-not-found', jobId: err.id };
    }
  }
  if (err instanceof StateError) {
    switch (err.rule) {
      case 'vault-not-empty': return { kind: 'vault-not-empty', vaultArn: scope.vaultArn ?? '' };
      case 'vault-limit': return { kind: 'limit-exceeded', message: err.message };
      case 'job-not-ready': return { kind: 'invalid-parameter', message: err.message };
    }
  }
  if (err instanceof InvalidRequestError) {
    return err.rule === 'length-required' ? { kind: 'missing-parameter', message: err.message } : { kind: 'invalid-parameter', message: err.message };
  }
  if (err instanceof UnavailableError) return { kind: 'unavailable', message: err.message };
  // Glacier has no "storage full" code: the closest is its server-side unavailability, with
  // words an operator can act on (the OAS front end answers 507 StorageFull).
  if (isStorageFull(err)) {
    const reserve = err instanceof StorageFullError ? ` (${err.message})` : '';
    return { kind: 'unavailable', message: `The server has no storage space left for this request${reserve}; retry once space is freed.` };
  }
  if (isTransientStoreError(err)) return { kind: 'unavailable', message: 'The server\'s storage cannot be reached for the moment; retry shortly.' };
  if (err instanceof HttpError) {
    return err.kind === 'no-route' || err.kind === 'method-not-allowed'
      ? { kind: 'no-such-operation', method, path: path.length > 200 ? `${path.slice(0, 200)}...` : path }
      : { kind: 'invalid-parameter', message: err.message };
  }
  const e = err as { statusCode?: unknown; message?: unknown } | null;
  if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { kind: 'invalid-parameter', message: typeof e.message === 'string' ? e.message : 'The request is not valid.' };
  }
  return { kind: 'internal' };
}
