// Request signing, protocol.md §2, without node: imports: the string to sign (VERB, Date,
// the x-oas-* headers and the canonical resource) and the Authorization header. The HMAC
// itself is node:crypto in sign.ts and WebCrypto in the browser console.
//
// A browser cannot set Date (a forbidden header name), so it sends `x-oas-date` instead:
// the Date line of the string to sign is then empty and x-oas-date is signed with the other
// x-oas-* headers; the server takes the request time from it when Date is absent (§2.5).

/** Headers as a plain object (values may be arrays, as node gives them) or as name/value pairs. */
export type HeaderInput =
  | Iterable<readonly [string, string]>
  | Record<string, string | number | readonly string[] | undefined>;

/** Query parameters as decoded name/value pairs; a bare name has the value ''. */
export type QueryPairs = Iterable<readonly [string, string]>;

/** The sub-resources the SDK signs, in case-sensitive ASCII order (protocol.md §2.4). */
export const SIGNED_SUBRESOURCES: readonly string[] = [
  'acl', 'delete', 'group', 'limit', 'location', 'logging', 'marker', 'objectInfo',
  'partNumber', 'response-cache-control', 'response-content-disposition',
  'response-content-encoding', 'response-content-language', 'response-content-type',
  'response-expires', 'uploadId', 'uploads', 'website',
].sort();

function headerPairs(headers: HeaderInput): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (Symbol.iterator in headers) {
    for (const [k, v] of headers as Iterable<readonly [string, string]>) out.push([k, v]);
    return out;
  }
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out.push([k, Array.isArray(v) ? v.join(', ') : String(v)]);
  }
  return out;
}

/** `name:value\n` for every x-oas-* header, names lower-cased and sorted, values verbatim. */
export function canonicalizeOasHeaders(headers: HeaderInput): string {
  const oas = new Map<string, string>();
  for (const [name, value] of headerPairs(headers)) {
    const lower = name.toLowerCase();
    if (lower.startsWith('x-oas-')) oas.set(lower, value);
  }
  return [...oas.keys()].sort().map((k) => `${k}:${oas.get(k)}\n`).join('');
}

/** The request path plus the signed sub-resources, `?a=1&b` style (protocol.md §2.4). */
export function canonicalizeResource(path: string, query: QueryPairs = []): string {
  const byLower = new Map<string, string>();
  for (const [name, value] of query) byLower.set(name.toLowerCase(), value);
  let out = path;
  let sep = '?';
  for (const name of SIGNED_SUBRESOURCES) {
    const value = byLower.get(name.toLowerCase());
    if (value === undefined) continue;
    out += sep + name + (value === '' ? '' : `=${value}`);
    sep = '&';
  }
  return out;
}

export function stringToSign(verb: string, headers: HeaderInput, path: string, query: QueryPairs = []): string {
  let date = '';
  for (const [name, value] of headerPairs(headers)) {
    if (name.toLowerCase() === 'date') { date = value; break; }
  }
  return `${verb}\n${date}\n${canonicalizeOasHeaders(headers)}${canonicalizeResource(path, query)}`;
}

export function authorizationHeader(accessKeyId: string, signature: string): string {
  return `OAS ${accessKeyId}:${signature}`;
}

/** Base64 HMAC-SHA1 of a text keyed with a secret, from whatever crypto the platform has. */
export type HmacSha1Base64 = (secret: string, text: string) => Promise<string>;

/** The Authorization header of a request, signed with the given HMAC implementation. */
export async function authorizationFor(hmac: HmacSha1Base64, accessKeyId: string, accessKeySecret: string,
  verb: string, headers: HeaderInput, path: string, query: QueryPairs = []): Promise<string> {
  return authorizationHeader(accessKeyId, await hmac(accessKeySecret, stringToSign(verb, headers, path, query)));
}

/** Splits `OAS <id>:<signature>`; null when the value is not of that form. */
export function parseAuthorization(value: string | undefined): { accessKeyId: string; signature: string } | null {
  if (!value) return null;
  const m = /^OAS ([^:\s]+):(\S+)$/.exec(value.trim());
  return m ? { accessKeyId: m[1]!, signature: m[2]! } : null;
}

/**
 * Decodes a raw query string (without `?`) into pairs. A bare name (`marker`) has the
 * value ''. Undecodable escapes are kept as written.
 */
export function parseQuery(raw: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!raw) return out;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    out.push([decode(name), decode(value)]);
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
