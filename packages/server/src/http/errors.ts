// Errors of the HTTP plumbing itself, before any service is called. Each front end renders
// them (with the domain errors) in its own format.

/**
 * - `bad-request`: the request could not be parsed, or its body could not be read;
 * - `no-route`: no operation at that path;
 * - `method-not-allowed`: the path exists, the method does not;
 * - `request-timeout`: the request headers did not arrive in time.
 */
export type HttpErrorKind = 'bad-request' | 'incomplete-body' | 'no-route' | 'method-not-allowed' | 'request-timeout';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(readonly kind: HttpErrorKind, message: string) {
    super(message);
  }
}
