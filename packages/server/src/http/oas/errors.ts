// Every error leaves as an OAS JSON error with x-oas-request-id. The one table below maps
// the domain errors (service/errors.ts) and the plumbing's (http/errors.ts) to OAS codes;
// status and type come with the code (protocol.md §6). Anything else is a server fault:
// logged by the caller, answered as InternalError.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OASError, type ErrorCode } from '@oas/sdk/protocol';
import {
  CorruptDataError, DomainError, InvalidRequestError, NotFoundError, StateError, StorageFullError, UnavailableError, isStorageFull, isTransientStoreError,
  type InvalidRule, type ResourceKind, type StateRule,
} from '../../service/errors.js';
import { HttpError, type HttpErrorKind } from '../errors.js';
import { REQUEST_ID } from './headers.js';

const CODES: {
  notFound: Record<ResourceKind, ErrorCode>;
  invalid: Record<InvalidRule, ErrorCode>;
  state: Record<StateRule, ErrorCode>;
  http: Record<HttpErrorKind, ErrorCode>;
  unavailable: ErrorCode;
} = {
  notFound: { vault: 'VaultNotExist', archive: 'ArchiveNotExist', upload: 'MultipartUploadNotExist', job: 'JobNotExist' },
  invalid: {
    'argument': 'InvalidArgument',
    'vault-name': 'InvalidVaultName',
    'length-required': 'MissingContentLength',
    'too-large': 'EntityTooLarge',
    'digest': 'InvalidDigest',
    'incomplete-body': 'IncompleteBody',
    'parts-incomplete': 'MultipartIncomplete',
    'range': 'InvalidRange',
  },
  state: { 'vault-not-empty': 'VaultNotEmpty', 'vault-limit': 'TooManyVaults', 'job-not-ready': 'JobNotReady' },
  http: { 'bad-request': 'InvalidArgument', 'incomplete-body': 'IncompleteBody', 'no-route': 'NotFound', 'method-not-allowed': 'MethodNotAllowed', 'request-timeout': 'RequestTimeout' },
  unavailable: 'ServiceUnavailable',
};

function codeOf(err: DomainError | HttpError): ErrorCode {
  if (err instanceof HttpError) return CODES.http[err.kind];
  if (err instanceof NotFoundError) return CODES.notFound[err.resource];
  if (err instanceof InvalidRequestError) return CODES.invalid[err.rule];
  if (err instanceof StateError) return CODES.state[err.rule];
  if (err instanceof UnavailableError) return CODES.unavailable;
  return 'InternalError';
}

/** Whether `err` is one the client is told about as it is (not a server fault to log). */
export function isExpectedError(err: unknown): boolean {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return err instanceof OASError || err instanceof DomainError || err instanceof HttpError
    || (typeof status === 'number' && status >= 400 && status < 500);
}

/** Maps anything thrown to the error the client sees. */
export function toOASError(err: unknown): OASError {
  if (err instanceof OASError) return err;
  if (err instanceof DomainError || err instanceof HttpError) return OASError.of(codeOf(err), err.message);
  // Not the client's fault and not a bug: an operator has to free space (logged by the caller).
  if (isStorageFull(err)) return OASError.of('StorageFull', storageFullMessage(err));
  // S3 or PostgreSQL unreachable or busy for the moment: 503, which clients retry.
  if (isTransientStoreError(err)) return OASError.of('ServiceUnavailable', TRANSIENT_MESSAGE);
  // Stored bytes failed their check before anything was sent: say so, not a bare fault.
  if (err instanceof CorruptDataError) return OASError.of('InternalError', `${err.message}; the stored data is damaged and is not served`);
  const e = err as { statusCode?: unknown; message?: unknown } | null;
  if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // Errors fastify raises about the request itself (bad URL, bad content, ...).
    return OASError.of('InvalidArgument', typeof e.message === 'string' ? e.message : 'the request is not valid');
  }
  return OASError.of('InternalError', 'the server could not complete the request');
}

/** What a client is told when the server's storage cannot be reached for the moment. */
const TRANSIENT_MESSAGE = 'the server\'s storage cannot be reached for the moment; retry shortly';

function storageFullMessage(err: unknown): string {
  const reserve = err instanceof StorageFullError ? ` (${err.message})` : '';
  return `the server has no storage space left for this request${reserve}; retry once space is freed`;
}

export function errorBody(err: OASError, requestId: string): string {
  return JSON.stringify({ code: err.code, message: err.message, type: err.type, request_id: requestId });
}

/** A request body larger than this that was never read is not drained: the connection closes. */
const DRAIN_LIMIT = 16 * 1024 * 1024;

export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const e = toOASError(err);
  const raw = request.raw;
  if (e.code === 'StorageFull') {
    // The rest of a body would have nowhere to go, and draining it could take as long as
    // the upload itself: answer now and close (node stops reading the request).
    reply.header('connection', 'close');
  } else if (!raw.complete && !raw.readableDidRead && Number(raw.headers['content-length'] ?? 0) > DRAIN_LIMIT) {
    // Refused before reading (e.g. EntityTooLarge): do not read gigabytes only to drop them.
    reply.header('connection', 'close');
  }
  const body = Buffer.from(errorBody(e, String(request.id)), 'utf8');
  request.call.bytesOut = body.byteLength;
  return reply
    .code(e.status)
    .header(REQUEST_ID, String(request.id))
    .header('content-type', 'application/json')
    .header('content-length', body.byteLength)
    .send(body);
}
