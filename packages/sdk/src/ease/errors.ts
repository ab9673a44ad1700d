// Errors of the high-level layer. Server answers stay OASError (protocol/errors.ts);
// transport failures stay the client's OASTransportError; aborts are OASAbortError.
import type { ByteRange } from '../protocol/ranges.js';

/**
 * Bytes did not match their checksum. `retryable` when refetching or resending can cure
 * it (a download piece against its x-oas-tree-etag); not when the local data disagrees
 * with what the server holds (resume).
 */
export class ChecksumMismatchError extends Error {
  override readonly name: string = 'ChecksumMismatchError';
  constructor(message: string, readonly range: ByteRange | null, readonly expected: string, readonly actual: string,
    readonly retryable: boolean) {
    super(message);
  }
}

/** A part already on the server differs from the local bytes of that range (resume). */
export class PartMismatchError extends ChecksumMismatchError {
  override readonly name = 'PartMismatchError';
  constructor(range: ByteRange, detail: string, expected = '', actual = '') {
    super(`part ${range.start}-${range.end} on the server does not match the local file${detail ? ` (${detail})` : ''}`,
      range, expected, actual, false);
  }
}

/** The job finished with StatusCode Failed; `statusMessage` is the server's explanation. */
export class JobFailedError extends Error {
  override readonly name = 'JobFailedError';
  constructor(readonly jobId: string, readonly statusMessage: string | null) {
    super(`job ${jobId} failed${statusMessage ? `: ${statusMessage}` : ''}`);
  }
}

/** The operation needs a completed job (download before the job is done, pull/push output). */
export class JobStateError extends Error {
  override readonly name = 'JobStateError';
  constructor(readonly jobId: string, message: string) {
    super(message);
  }
}

/** A transfer failed in a way a retry may cure (body cut short, wrong length): the protocol core's. */
export { TransferError } from '../protocol/transient.js';
