// Parameter rules of protocol.md §5 on parsed values, each failing with a domain error.
import { MAX_DESCRIPTION_BYTES, isValidPartSize } from '@oas/sdk/protocol';
import { InvalidRequestError } from './errors.js';

const VAULT_NAME = /^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$/;

export function checkVaultName(name: string): void {
  if (!VAULT_NAME.test(name)) {
    throw new InvalidRequestError('vault-name',
      'vault names are 3 to 63 characters of a-z, 0-9, "_" and "-", starting and ending with a letter or digit');
  }
}

/** A description: at most 1024 bytes of UTF-8 text without control characters. */
export function checkDescription(text: string | undefined, what = 'archive description'): string {
  if (text === undefined) return '';
  if (Buffer.byteLength(text, 'utf8') > MAX_DESCRIPTION_BYTES) {
    throw new InvalidRequestError('argument', `the ${what} is longer than ${MAX_DESCRIPTION_BYTES} bytes`);
  }
  // Control characters other than tab (the \x00 in the class is meant).
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(text) || Buffer.from(text, 'utf8').toString('utf8') !== text) {
    throw new InvalidRequestError('argument', `the ${what} contains control characters or invalid text`);
  }
  return text;
}

/** The size of an upload's body: a positive number of bytes (no zero-byte archives), at most `max`. */
export function checkBodySize(size: number, max: number, what: string): number {
  if (size === 0) throw new InvalidRequestError('argument', `${what} must not be empty (zero-byte archives are not supported)`);
  if (size > max) throw new InvalidRequestError('too-large', `${what} is larger than ${max} bytes`);
  return size;
}

/** A multipart upload's part size: a multiple of 1 MiB from 1 MiB to 4 GiB. */
export function checkPartSize(size: number): number {
  if (!isValidPartSize(size)) {
    throw new InvalidRequestError('argument', 'the part size must be a multiple of 1 MiB (1048576) from 1 MiB to 4 GiB');
  }
  return size;
}
