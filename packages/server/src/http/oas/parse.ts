// OAS header values as text, parsed into the values the service takes. A header that is
// missing or malformed is the client's mistake, named by its header.
import { OASError } from '@oas/sdk/protocol';

/** A decimal count of bytes (no sign, no exponent), or null. */
export function parseDecimal(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,16}$/.test(text.trim())) return null;
  const n = Number(text.trim());
  return Number.isSafeInteger(n) ? n : null;
}

/** Content-Length of an upload: required (411) and a number. */
export function parseContentLength(text: string | undefined, what: string): number {
  if (text === undefined) throw OASError.of('MissingContentLength', `Content-Length is required to upload ${what}`);
  const size = parseDecimal(text);
  if (size === null) throw OASError.of('InvalidArgument', 'Content-Length is not a number');
  return size;
}

/** A byte count in an x-oas-* header. */
export function parseSizeHeader(text: string | undefined, header: string, rule: string): number {
  if (text === undefined) throw OASError.of('InvalidArgument', `${header} is required`);
  const n = parseDecimal(text);
  if (n === null) throw OASError.of('InvalidArgument', `${header} must be ${rule}`);
  return n;
}

/** An etag header value: 32 hex characters, any case; returned upper-case. */
export function parseEtag(text: string | undefined, header: string): string {
  if (text === undefined || text === '') throw OASError.of('InvalidArgument', `${header} is required`);
  if (!/^[0-9a-fA-F]{32}$/.test(text.trim())) throw OASError.of('InvalidArgument', `${header} must be 32 hexadecimal characters`);
  return text.trim().toUpperCase();
}

/** The complete request's tree etag: 32 hex, optional `-<digits>` suffix ignored. */
export function parseCompleteTreeEtag(text: string | undefined): string {
  if (text === undefined || text === '') throw OASError.of('InvalidArgument', 'x-oas-tree-etag is required');
  const m = /^([0-9a-fA-F]{32})(?:-\d+)?$/.exec(text.trim());
  if (!m) throw OASError.of('InvalidArgument', 'x-oas-tree-etag must be 32 hexadecimal characters (optionally followed by -<digits>)');
  return m[1]!.toUpperCase();
}
