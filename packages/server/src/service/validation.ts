// Parameter rules of protocol.md §5, each failing with the §6 error a client should see.
import { MAX_DESCRIPTION_BYTES, MAX_PART_SIZE, MIB, MIN_PART_SIZE, OASError } from '@oas/sdk/protocol';

const VAULT_NAME = /^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$/;

export function checkVaultName(name: string): void {
  if (!VAULT_NAME.test(name)) {
    throw OASError.of('InvalidVaultName',
      'vault names are 3 to 63 characters of a-z, 0-9, "_" and "-", starting and ending with a letter or digit');
  }
}

/** A description: at most 1024 bytes of UTF-8 text without control characters. */
export function checkDescription(text: string | undefined, what = 'archive description'): string {
  if (text === undefined) return '';
  if (Buffer.byteLength(text, 'utf8') > MAX_DESCRIPTION_BYTES) {
    throw OASError.of('InvalidArgument', `the ${what} is longer than ${MAX_DESCRIPTION_BYTES} bytes`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(text) || Buffer.from(text, 'utf8').toString('utf8') !== text) {
    throw OASError.of('InvalidArgument', `the ${what} contains control characters or invalid text`);
  }
  return text;
}

/** A decimal count of bytes (no sign, no exponent), or null. */
export function parseDecimal(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,16}$/.test(text.trim())) return null;
  const n = Number(text.trim());
  return Number.isSafeInteger(n) ? n : null;
}

/** `x-oas-part-size`: a multiple of 1 MiB from 1 MiB to 4 GiB. */
export function checkPartSize(text: string | undefined): number {
  if (text === undefined) throw OASError.of('InvalidArgument', 'x-oas-part-size is required');
  const n = parseDecimal(text);
  if (n === null || n < MIN_PART_SIZE || n > MAX_PART_SIZE || n % MIB !== 0) {
    throw OASError.of('InvalidArgument', 'x-oas-part-size must be a multiple of 1 MiB (1048576) from 1 MiB to 4 GiB');
  }
  return n;
}

/** An etag header value: 32 hex characters, any case; returned upper-case. */
export function checkEtag(text: string | undefined, header: string): string {
  if (text === undefined || text === '') throw OASError.of('InvalidArgument', `${header} is required`);
  if (!/^[0-9a-fA-F]{32}$/.test(text.trim())) throw OASError.of('InvalidArgument', `${header} must be 32 hexadecimal characters`);
  return text.trim().toUpperCase();
}

/** The complete request's tree etag: 32 hex, optional `-<digits>` suffix ignored. */
export function checkCompleteTreeEtag(text: string | undefined): string {
  if (text === undefined || text === '') throw OASError.of('InvalidArgument', 'x-oas-tree-etag is required');
  const m = /^([0-9a-fA-F]{32})(?:-\d+)?$/.exec(text.trim());
  if (!m) throw OASError.of('InvalidArgument', 'x-oas-tree-etag must be 32 hexadecimal characters (optionally followed by -<digits>)');
  return m[1]!.toUpperCase();
}

