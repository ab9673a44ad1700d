// Glacier's error responses (glacier.md, "Errors"): `{code, message, type}` with Glacier's codes,
// statuses and, where clients or scripts match on them, AWS's exact messages. The front end
// describes what went wrong as a GlacierProblem; this module alone decides how it looks.
import type { SigV4Failure } from '@oas/sdk';

export type GlacierErrorType = 'Client' | 'Server';

/** Glacier's error codes with their HTTP status and type. */
export const GLACIER_ERROR_CODES = {
  AccessDeniedException: { status: 403, type: 'Client' },
  BadRequest: { status: 400, type: 'Client' },
  InvalidParameterValueException: { status: 400, type: 'Client' },
  InvalidSignatureException: { status: 403, type: 'Client' },
  LimitExceededException: { status: 400, type: 'Client' },
  MissingAuthenticationTokenException: { status: 400, type: 'Client' },
  MissingParameterValueException: { status: 400, type: 'Client' },
  RequestTimeoutException: { status: 408, type: 'Client' },
  ResourceNotFoundException: { status: 404, type: 'Client' },
  SerializationException: { status: 400, type: 'Client' },
  ServiceUnavailableException: { status: 500, type: 'Server' },
  ThrottlingException: { status: 400, type: 'Client' },
  UnrecognizedClientException: { status: 400, type: 'Client' },
} as const satisfies Record<string, { status: number; type: GlacierErrorType }>;

export type GlacierErrorCode = keyof typeof GLACIER_ERROR_CODES;

/** The JSON body; the keys are lower-case on Glacier's wire. */
export interface GlacierErrorBody {
  code: GlacierErrorCode;
  message: string;
  type: GlacierErrorType;
}

export interface GlacierErrorResponse {
  status: number;
  body: GlacierErrorBody;
}

/** What went wrong, in the front end's terms. ARNs and ids are passed as they should be shown. */
export type GlacierProblem =
  | { kind: 'vault-not-found'; vaultArn: string }
  | { kind: 'archive-not-found'; archiveId: string }
  | { kind: 'upload-not-found'; uploadId: string }
  | { kind: 'job-not-found'; jobId: string }
  /** The archive id belongs to another vault (AWS answers this for DeleteArchive). */
  | { kind: 'archive-in-other-vault'; vaultArn: string }
  | { kind: 'vault-not-empty'; vaultArn: string }
  | { kind: 'invalid-vault-name'; name: string }
  /** The client's tree hash (`expected`) is not the one of the bytes received (`computed`). */
  | { kind: 'checksum-mismatch'; expected: string; computed: string }
  | { kind: 'payload-hash-mismatch'; expected: string; computed: string }
  | { kind: 'invalid-content-range'; value: string }
  | { kind: 'content-range-length-mismatch'; contentRange: string; contentLength: number }
  | { kind: 'invalid-part-size'; value: string }
  | { kind: 'too-many-parts'; partNumber: number }
  | { kind: 'invalid-content-length'; value: string }
  | { kind: 'job-not-ready'; jobId: string }
  | { kind: 'range-beyond-output'; range: string }
  | { kind: 'invalid-status-code'; value: string }
  | { kind: 'account-mismatch'; accountId: string }
  | { kind: 'not-supported'; feature: string }
  | { kind: 'no-such-operation'; method: string; path: string }
  | { kind: 'turned-off' }
  | { kind: 'not-configured'; what: string; vaultArn: string }
  | { kind: 'invalid-parameter'; message: string }
  | { kind: 'missing-parameter'; message: string }
  | { kind: 'malformed-json'; message: string }
  | { kind: 'limit-exceeded'; message: string }
  | { kind: 'body-timeout' }
  | { kind: 'signature'; failure: SigV4Failure }
  | { kind: 'unavailable'; message: string }
  | { kind: 'internal' };

function error(code: GlacierErrorCode, message: string): GlacierErrorResponse {
  const { status, type } = GLACIER_ERROR_CODES[code];
  return { status, body: { code, message, type } };
}

/** The response for a problem: status and JSON body (send it with x-amzn-RequestId). */
export function glacierError(problem: GlacierProblem): GlacierErrorResponse {
  switch (problem.kind) {
    case 'vault-not-found': return error('ResourceNotFoundException', `Vault not found for ARN: ${problem.vaultArn}`);
    case 'archive-not-found': return error('ResourceNotFoundException', `The archive ID was not found: ${problem.archiveId}`);
    case 'upload-not-found': return error('ResourceNotFoundException', `The upload ID was not found: ${problem.uploadId}`);
    case 'job-not-found': return error('ResourceNotFoundException', `The job ID was not found: ${problem.jobId}`);
    case 'archive-in-other-vault': return error('InvalidParameterValueException', `Invalid vault name: ${problem.vaultArn}`);
    case 'vault-not-empty': return error('InvalidParameterValueException', `Vault not empty or recently written to: ${problem.vaultArn}`);
    case 'invalid-vault-name':
      return error('InvalidParameterValueException',
        `Invalid vault name: ${problem.name}. A vault name is 1 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.'.`);
    case 'checksum-mismatch': return error('InvalidParameterValueException', `Checksum mismatch: expected ${problem.expected}, computed ${problem.computed}`);
    case 'payload-hash-mismatch':
      return error('InvalidParameterValueException',
        `The provided 'x-amz-content-sha256' header does not match what was computed: expected ${problem.expected}, computed ${problem.computed}`);
    case 'invalid-content-range': return error('InvalidParameterValueException', `Invalid Content-Range: ${problem.value}`);
    case 'content-range-length-mismatch':
      return error('InvalidParameterValueException', `Content-Range: ${problem.contentRange} is incompatible with Content-Length: ${problem.contentLength}`);
    case 'invalid-part-size':
      return error('InvalidParameterValueException',
        `Invalid part size: ${problem.value}. Part size must not be null, must be a power of two and be between 1048576 and 4294967296 bytes.`);
    case 'too-many-parts':
      return error('InvalidParameterValueException',
        `This is part number ${problem.partNumber} for the current multipart upload. It exceeds the limit of 10000 parts.`);
    case 'invalid-content-length': return error('InvalidParameterValueException', `Invalid Content-Length: ${problem.value}`);
    case 'job-not-ready': return error('InvalidParameterValueException', `The job is not currently available for download: ${problem.jobId}`);
    case 'range-beyond-output': return error('InvalidParameterValueException', `The start of the range is larger than size of retrieved data: ${problem.range}`);
    case 'invalid-status-code': return error('InvalidParameterValueException', `The job status code is not valid: ${problem.value}`);
    case 'account-mismatch':
      return error('AccessDeniedException', `Access denied: account id ${problem.accountId} is not the account of the signing credentials; use '-' or your own account id.`);
    case 'not-supported': return error('InvalidParameterValueException', `${problem.feature} is not supported by this server.`);
    case 'no-such-operation': return error('BadRequest', `No Glacier operation matches ${problem.method} ${problem.path}`);
    case 'turned-off': return error('AccessDeniedException', 'The Amazon Glacier API is turned off on this server (oas-server --glacier off); use the OAS API.');
    case 'not-configured': return error('ResourceNotFoundException', `No ${problem.what} is set for the vault: ${problem.vaultArn}`);
    case 'invalid-parameter': return error('InvalidParameterValueException', problem.message);
    case 'missing-parameter': return error('MissingParameterValueException', problem.message);
    case 'malformed-json': return error('SerializationException', problem.message);
    case 'limit-exceeded': return error('LimitExceededException', problem.message);
    case 'body-timeout': return error('RequestTimeoutException', 'The request body was not received in time.');
    case 'signature': return signatureError(problem.failure);
    case 'unavailable': return error('ServiceUnavailableException', problem.message);
    case 'internal': return error('ServiceUnavailableException', 'The server could not complete the request; it is safe to retry.');
  }
}

/**
 * A refused signature. Glacier's table has no code for a malformed header or a stale date, so
 * those answer InvalidSignatureException as other AWS JSON services do ("Signature expired").
 */
function signatureError(failure: SigV4Failure): GlacierErrorResponse {
  switch (failure.reason) {
    case 'missing-authorization': return error('MissingAuthenticationTokenException', failure.message);
    case 'unknown-access-key': return error('UnrecognizedClientException', failure.message);
    case 'signature-mismatch': {
      // AWS shows what it signed so that a client author can find the difference; nothing secret is in it.
      const detail = failure.canonicalRequest === undefined ? ''
        : `\n\nThe Canonical String for this request should have been\n'${failure.canonicalRequest}'\n\nThe String-to-Sign should have been\n'${failure.stringToSign}'\n`;
      return error('InvalidSignatureException', failure.message + detail);
    }
    default: return error('InvalidSignatureException', failure.message);
  }
}

/** Thrown by the wire parsers; the front end answers `glacierError(err.problem)`. */
export class GlacierFailure extends Error {
  override readonly name = 'GlacierFailure';
  constructor(readonly problem: GlacierProblem) {
    super(glacierError(problem).body.message);
  }
}
