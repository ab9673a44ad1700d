// Errors the client raises itself. Server-side errors are not thrown: a non-2xx answer is
// returned as an OASResponse and turned into an OASError with response.toError().

/** Where a failed request was going, so messages name the method and the endpoint. */
export interface RequestTarget {
  /** The OASAPI method, e.g. `listVault`. */
  operation: string;
  method: string;
  host: string;
  port: number;
  path: string;
}

/**
 * The request could not be completed: connection refused or reset, timeout, TLS failure,
 * the upload reader failing or ending early. `cause` keeps the underlying error.
 */
export class OASTransportError extends Error {
  override readonly name = 'OASTransportError';
  readonly operation: string;
  readonly host: string;
  readonly port: number;
  /** The cause's errno-style code when it has one (ECONNREFUSED, ECONNRESET, ETIMEDOUT…). */
  readonly code: string | undefined;

  constructor(target: RequestTarget, detail: string, cause?: unknown) {
    super(`${target.operation}: ${target.method} ${target.host}:${target.port}${target.path} failed: ${detail}`,
      cause === undefined ? undefined : { cause });
    this.operation = target.operation;
    this.host = target.host;
    this.port = target.port;
    const code = (cause as { code?: unknown } | undefined)?.code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

/**
 * The caller's AbortSignal fired. `name` is 'AbortError' and `code` 'ABORT_ERR', like the
 * errors node's own APIs reject with, so `err.name === 'AbortError'` checks work.
 */
export class OASAbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';

  constructor(operation: string, reason?: unknown) {
    super(`${operation}: the operation was aborted`, reason === undefined ? undefined : { cause: reason });
  }
}

/** A short description of any thrown value, for messages. */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    const message = cause.message || cause.name;
    return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
  }
  return String(cause);
}
