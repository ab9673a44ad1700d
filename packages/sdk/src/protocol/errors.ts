// The error codes of protocol.md §6 and the error type both sides use.

export type ErrorType = 'client' | 'server';

export const ERROR_CODES = {
  InvalidArgument: { status: 400, type: 'client' },
  InvalidDigest: { status: 400, type: 'client' },
  InvalidVaultName: { status: 400, type: 'client' },
  IncompleteBody: { status: 400, type: 'client' },
  EntityTooLarge: { status: 400, type: 'client' },
  MultipartIncomplete: { status: 400, type: 'client' },
  AccessDenied: { status: 403, type: 'client' },
  InvalidAccessKeyId: { status: 403, type: 'client' },
  SignatureDoesNotMatch: { status: 403, type: 'client' },
  RequestTimeTooSkewed: { status: 403, type: 'client' },
  VaultNotExist: { status: 404, type: 'client' },
  ArchiveNotExist: { status: 404, type: 'client' },
  MultipartUploadNotExist: { status: 404, type: 'client' },
  JobNotExist: { status: 404, type: 'client' },
  NotFound: { status: 404, type: 'client' },
  MethodNotAllowed: { status: 405, type: 'client' },
  VaultAlreadyExists: { status: 409, type: 'client' },
  VaultNotEmpty: { status: 409, type: 'client' },
  TooManyVaults: { status: 409, type: 'client' },
  JobNotReady: { status: 409, type: 'client' },
  MissingContentLength: { status: 411, type: 'client' },
  InvalidRange: { status: 416, type: 'client' },
  RequestTimeout: { status: 408, type: 'client' },
  InternalError: { status: 500, type: 'server' },
  ServiceUnavailable: { status: 503, type: 'server' },
  StorageFull: { status: 507, type: 'server' },
} as const satisfies Record<string, { status: number; type: ErrorType }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The JSON body of an OAS error response. */
export interface ErrorBody {
  code: string;
  message: string;
  type: ErrorType | string;
  request_id?: string;
}

/** An error answered by an OAS server (or raised by a server for one). */
export class OASError extends Error {
  override readonly name = 'OASError';
  readonly status: number;
  readonly code: string;
  readonly type: ErrorType | string;
  readonly requestId: string | undefined;

  constructor(status: number, code: string, message: string, type: ErrorType | string = status >= 500 ? 'server' : 'client', requestId?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.type = type;
    this.requestId = requestId;
  }

  /** An error of one of the protocol's codes (protocol.md §6), with its status and type. */
  static of(code: ErrorCode, message: string): OASError {
    const { status, type } = ERROR_CODES[code];
    return new OASError(status, code, message, type);
  }

  toJSON(): ErrorBody {
    return { code: this.code, message: this.message, type: this.type, ...(this.requestId ? { request_id: this.requestId } : {}) };
  }

  /** One line for people: `Code: message (HTTP 400, request id X)`. */
  describe(): string {
    return `${this.code}: ${this.message} (HTTP ${this.status}${this.requestId ? `, request id ${this.requestId}` : ''})`;
  }
}
