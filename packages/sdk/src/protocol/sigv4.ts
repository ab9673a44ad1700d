// AWS Signature Version 4 (AWS4-HMAC-SHA256) as the Glacier vault API uses it (glacier.md, "Signatures"):
// signing for our own tools and tests, verification for the server. Server-side only (node:crypto);
// the OAS signing and etag modules do not import it.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { HeaderInput } from './sign.js';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
export const SIGV4_TERMINATOR = 'aws4_request';
/** SHA-256 of nothing: the payload hash of a request without a body. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** AWS's usual window between a request's x-amz-date and the server clock. */
export const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;

/** A request as it arrived: the path and query exactly as on the wire (still percent-encoded). */
export interface SigV4Request {
  method: string;
  /** The wire path without the query, e.g. `/-/vaults/my%20vault`. */
  path: string;
  /** The wire query without `?` ('' for none). */
  query: string;
  /** Every header as received; pairs keep duplicates (node's `rawHeaders`, paired up). */
  headers: HeaderInput;
}

/** The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header. */
export interface SigV4Authorization {
  accessKeyId: string;
  /** The scope's date, `yyyymmdd`. */
  date: string;
  region: string;
  service: string;
  /** `date/region/service/aws4_request`. */
  scope: string;
  /** The SignedHeaders list as the client wrote it. */
  signedHeaders: string[];
  /** 64 hex characters. */
  signature: string;
}

/** Why a request's signature was refused; the front end maps each to its own error code. */
export type SigV4FailureReason =
  | 'missing-authorization'
  | 'unsupported-algorithm'
  | 'malformed-authorization'
  | 'malformed-credential'
  | 'wrong-service'
  | 'wrong-region'
  | 'missing-date'
  | 'malformed-date'
  | 'scope-date-mismatch'
  | 'clock-skew'
  | 'host-not-signed'
  | 'date-not-signed'
  | 'signed-header-absent'
  | 'malformed-payload-hash'
  | 'unknown-access-key'
  | 'signature-mismatch';

export interface SigV4Failure {
  ok: false;
  reason: SigV4FailureReason;
  /** One sentence for the client, AWS-worded where AWS's wording is known. */
  message: string;
  /** Set once the Authorization header could be parsed. */
  accessKeyId?: string;
  /** On a signature mismatch: what the server signed, to help a client author find the difference. */
  canonicalRequest?: string;
  stringToSign?: string;
}

export interface SigV4Success {
  ok: true;
  auth: SigV4Authorization;
  /** The request time, from x-amz-date (or Date), in ms since the epoch. */
  requestTime: number;
  /** The payload hash the signature covers (lower-case hex). */
  payloadHash: string;
  /**
   * True when the body has not been checked against `payloadHash` yet (it came from
   * x-amz-content-sha256, or an empty body was assumed): stream the body through
   * PayloadHashCheck and refuse the request if it differs.
   */
  bodyCheckNeeded: boolean;
}

export type SigV4Result = SigV4Success | SigV4Failure;

export interface SigV4VerifyOptions {
  /** The secret of an access key id; undefined when the key is unknown. */
  secretFor: (accessKeyId: string) => string | undefined | Promise<string | undefined>;
  /**
   * Services accepted in the credential scope (default `['glacier']`). `'any'` is the lenient
   * mode for clients that derive the scope from the host name (boto 2 signs `.../0/127/...`
   * for 127.0.0.1); the signature still has to match.
   */
  services?: readonly string[] | 'any';
  /** When set, the only region accepted in the scope; by default any region is. */
  region?: string;
  /** Server clock in ms (default Date.now()). */
  now?: number;
  /** Allowed distance between the request time and `now` (default 15 minutes). */
  maxSkewMs?: number;
  /**
   * SHA-256 hex of the body when the caller has already read it (small JSON bodies). Used
   * as the payload hash when x-amz-content-sha256 is absent; without either, an empty
   * body is assumed and the result asks for a body check.
   */
  bodySha256?: string;
}

function fail(reason: SigV4FailureReason, message: string, extra: Partial<SigV4Failure> = {}): SigV4Failure {
  return { ok: false, reason, message, ...extra };
}

// ---------------------------------------------------------------- canonical request pieces

/** RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - _ . ~ is escaped (upper-case hex). */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The canonical URI of a non-S3 service: the wire path with empty and dot segments removed,
 * then every segment encoded *again* (so `%20` becomes `%2520`), as botocore and the JS SDK do.
 */
export function sigV4CanonicalUri(wirePath: string): string {
  const segments: string[] = [];
  for (const segment of wirePath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const leading = wirePath.startsWith('/') ? '/' : '';
  const trailing = segments.length > 0 && wirePath.endsWith('/') ? '/' : '';
  return leading + segments.map(uriEncode).join('/') + trailing;
}

function decodeQueryPart(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The canonical query string: each name and value decoded, RFC 3986-encoded, sorted by name
 * then value; a bare name becomes `name=`. `+` is a literal plus, as in RFC 3986.
 */
export function sigV4CanonicalQuery(wireQuery: string): string {
  const pairs: string[][] = [];
  for (const part of wireQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    pairs.push([uriEncode(decodeQueryPart(name)), uriEncode(decodeQueryPart(value))]);
  }
  pairs.sort((a, b) => compare(a[0]!, b[0]!) || compare(a[1]!, b[1]!));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Every header value under its lower-case name, duplicates in arrival order. */
export function headerValueLists(headers: HeaderInput): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (name: string, value: string): void => {
    const key = name.toLowerCase();
    const list = out.get(key);
    if (list) list.push(value);
    else out.set(key, [value]);
  };
  if (Symbol.iterator in headers) {
    for (const [k, v] of headers as Iterable<readonly [string, string]>) add(k, v);
  } else {
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const one of v) add(k, String(one));
      else add(k, String(v));
    }
  }
  return out;
}

/** Node's `rawHeaders` (`[name, value, name, value, ...]`) as pairs. */
export function pairRawHeaders(raw: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/** A header value as signed: trimmed, inner runs of whitespace collapsed to one space. */
function canonicalValue(value: string): string {
  return value.trim().replace(/\s+/g, ' ');
}

/** `name:value` lines for the signed headers, in the list's order; duplicates joined by `,`. */
export function sigV4CanonicalHeaders(values: Map<string, string[]>, signedHeaders: readonly string[]): string {
  return signedHeaders
    .map((name) => `${name}:${(values.get(name.toLowerCase()) ?? []).map(canonicalValue).join(',')}\n`)
    .join('');
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sigV4CanonicalRequest(
  method: string, wirePath: string, wireQuery: string,
  values: Map<string, string[]>, signedHeaders: readonly string[], payloadHash: string,
): string {
  return [
    method.toUpperCase(), sigV4CanonicalUri(wirePath), sigV4CanonicalQuery(wireQuery),
    sigV4CanonicalHeaders(values, signedHeaders), signedHeaders.join(';'), payloadHash,
  ].join('\n');
}

export function sigV4StringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${SIGV4_ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}

// ---------------------------------------------------------------- signing key

const KEY_CACHE_LIMIT = 512;
const keyCache = new Map<string, Buffer>();

/**
 * HMAC chain `"AWS4"+secret → date → region → service → "aws4_request"`. Cached per
 * (secret, date, region, service): a key serves a whole day of requests.
 */
export function sigV4SigningKey(secret: string, date: string, region: string, service: string): Buffer {
  const cacheKey = `${date}\0${region}\0${service}\0${secret}`;
  const hit = keyCache.get(cacheKey);
  if (hit) return hit;
  let key = createHmac('sha256', `AWS4${secret}`).update(date).digest();
  for (const part of [region, service, SIGV4_TERMINATOR]) key = createHmac('sha256', key).update(part).digest();
  if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(cacheKey, key);
  return key;
}

export function sigV4Signature(key: Buffer, stringToSign: string): string {
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

// ---------------------------------------------------------------- Authorization header

/**
 * Parses `AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request, SignedHeaders=a;b,
 * Signature=hex`. The three fields may come in any order, separated by commas.
 */
export function parseSigV4Authorization(value: string | undefined): SigV4Authorization | SigV4Failure {
  if (value === undefined || value.trim() === '') return fail('missing-authorization', 'Missing Authentication Token');
  const text = value.trim();
  const space = text.search(/\s/);
  const algorithm = space < 0 ? text : text.slice(0, space);
  if (algorithm !== SIGV4_ALGORITHM) {
    return fail('unsupported-algorithm', `Unsupported authorization type: '${algorithm}'. Only ${SIGV4_ALGORITHM} is accepted.`);
  }
  const fields = new Map<string, string>();
  for (const item of (space < 0 ? '' : text.slice(space)).split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    const name = eq < 0 ? trimmed : trimmed.slice(0, eq);
    if (eq < 0 || fields.has(name)) {
      return fail('malformed-authorization', `Authorization header is malformed near '${trimmed}'.`);
    }
    fields.set(name, trimmed.slice(eq + 1));
  }
  for (const required of ['Credential', 'SignedHeaders', 'Signature']) {
    if (!fields.get(required)) {
      return fail('malformed-authorization', `Authorization header requires '${required}' parameter.`);
    }
  }
  const credential = fields.get('Credential')!.split('/');
  if (credential.length !== 5 || credential.some((p) => p === '') || !/^\d{8}$/.test(credential[1]!)) {
    return fail('malformed-credential',
      `Credential must have the form <access key>/<yyyymmdd>/<region>/<service>/${SIGV4_TERMINATOR}; got '${fields.get('Credential')}'.`);
  }
  const [accessKeyId, date, region, service, terminator] = credential as [string, string, string, string, string];
  if (terminator !== SIGV4_TERMINATOR) {
    return fail('malformed-credential', `Credential should be scoped with a valid terminator: '${SIGV4_TERMINATOR}', not '${terminator}'.`, { accessKeyId });
  }
  const signature = fields.get('Signature')!;
  if (!HEX64.test(signature)) {
    return fail('malformed-authorization', 'Signature must be 64 hexadecimal characters.', { accessKeyId });
  }
  const signedHeaders = fields.get('SignedHeaders')!.split(';');
  if (signedHeaders.some((h) => h === '')) {
    return fail('malformed-authorization', `SignedHeaders has an empty name: '${fields.get('SignedHeaders')}'.`, { accessKeyId });
  }
  return { accessKeyId, date, region, service, scope: `${date}/${region}/${service}/${SIGV4_TERMINATOR}`, signedHeaders, signature: signature.toLowerCase() };
}

/** `yyyymmddThhmmssZ` in ms since the epoch; null when malformed or impossible. */
export function parseAmzDate(text: string): number | null {
  const m = AMZ_DATE.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  return back.getUTCMonth() === mo - 1 && back.getUTCDate() === d && h < 24 && mi < 60 && s < 60 ? ms : null;
}

export function formatAmzDate(time: Date | number): string {
  return new Date(time).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

// ---------------------------------------------------------------- verification

/**
 * Verifies a request's SigV4 signature. It checks, in order: the header's shape, the scope
 * (terminator, service, region), the request time (present, signed, matching the scope's
 * day, within the skew window), that host is signed and every signed header present, the
 * payload hash's form, the access key, and the signature itself (constant time).
 */
export async function verifySigV4(request: SigV4Request, options: SigV4VerifyOptions): Promise<SigV4Result> {
  const values = headerValueLists(request.headers);
  const first = (name: string): string | undefined => values.get(name)?.[0];
  const auth = parseSigV4Authorization(first('authorization'));
  if ('ok' in auth) return auth;
  const { accessKeyId } = auth;
  const services = options.services ?? ['glacier'];
  if (services !== 'any' && !services.includes(auth.service)) {
    return fail('wrong-service', `Credential should be scoped to correct service: '${services.join("' or '")}'.`, { accessKeyId });
  }
  if (options.region !== undefined && auth.region !== options.region) {
    return fail('wrong-region', `Credential should be scoped to a valid region, not '${auth.region}'.`, { accessKeyId });
  }
  const signed = new Set(auth.signedHeaders.map((h) => h.toLowerCase()));
  const dateHeader = first('x-amz-date') !== undefined ? 'x-amz-date' : first('date') !== undefined ? 'date' : null;
  if (dateHeader === null) {
    return fail('missing-date', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", { accessKeyId });
  }
  const amzDate = first(dateHeader)!.trim();
  const requestTime = parseAmzDate(amzDate);
  if (requestTime === null) {
    return fail('malformed-date', `${dateHeader} must be an ISO 8601 basic date such as 20120525T002453Z; got '${amzDate}'.`, { accessKeyId });
  }
  if (!signed.has(dateHeader)) {
    return fail('date-not-signed', `'${dateHeader}' must be a SignedHeader in the AWS Authorization.`, { accessKeyId });
  }
  if (amzDate.slice(0, 8) !== auth.date) {
    return fail('scope-date-mismatch',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
      { accessKeyId });
  }
  const now = options.now ?? Date.now();
  const skew = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  if (requestTime < now - skew) {
    return fail('clock-skew',
      `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(now - skew)} (${formatAmzDate(now)} - ${skew / 60000} min.)`,
      { accessKeyId });
  }
  if (requestTime > now + skew) {
    return fail('clock-skew',
      `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(now + skew)} (${formatAmzDate(now)} + ${skew / 60000} min.)`,
      { accessKeyId });
  }
  if (!signed.has('host')) {
    return fail('host-not-signed', "'Host' must be a 'SignedHeader' in the AWS Authorization.", { accessKeyId });
  }
  for (const name of signed) {
    if (!values.has(name)) {
      return fail('signed-header-absent', `The signed header '${name}' is not in the request.`, { accessKeyId });
    }
  }
  const declared = first('x-amz-content-sha256')?.trim();
  if (declared !== undefined && !HEX64.test(declared)) {
    return fail('malformed-payload-hash', `x-amz-content-sha256 must be the SHA-256 of the body as 64 hexadecimal characters; got '${declared}'.`, { accessKeyId });
  }
  const payloadHash = declared ?? options.bodySha256 ?? EMPTY_SHA256;
  const secret = await options.secretFor(accessKeyId);
  if (secret === undefined) {
    return fail('unknown-access-key', 'The security token included in the request is invalid.', { accessKeyId });
  }
  const canonical = sigV4CanonicalRequest(request.method, request.path, request.query, values, auth.signedHeaders, payloadHash);
  const toSign = sigV4StringToSign(amzDate, auth.scope, canonical);
  const expected = Buffer.from(sigV4Signature(sigV4SigningKey(secret, auth.date, auth.region, auth.service), toSign));
  const given = Buffer.from(auth.signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return fail('signature-mismatch',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
      { accessKeyId, canonicalRequest: canonical, stringToSign: toSign });
  }
  return {
    ok: true, auth, requestTime, payloadHash,
    bodyCheckNeeded: declared !== undefined || options.bodySha256 === undefined,
  };
}

// ---------------------------------------------------------------- signing

export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SigV4SignOptions {
  region: string;
  /** Default 'glacier'. */
  service?: string;
  /** Signing time (default now). */
  date?: Date | number;
  /**
   * The payload's SHA-256 hex. It is sent as x-amz-content-sha256 (and signed) unless
   * `sendPayloadHash` is false; default: the empty body's hash.
   */
  payloadHash?: string;
  /** Default true, as Glacier clients do for uploads. */
  sendPayloadHash?: boolean;
  /** Header names (any case) to leave out of the signature. */
  unsigned?: readonly string[];
  /** Where the time goes: x-amz-date (default, as every client does) or an ISO-basic Date. */
  dateHeader?: 'x-amz-date' | 'date';
}

/** Headers no client signs: hop-by-hop ones and those proxies rewrite. */
const NEVER_SIGNED = new Set(['authorization', 'connection', 'expect', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent']);

/**
 * Signs a request. `headers` must include `host`; every header given is signed except the
 * hop-by-hop ones and `unsigned`. Returns the headers to add (they replace any given): x-amz-date, optionally
 * x-amz-content-sha256, and authorization.
 */
export function signSigV4(
  request: SigV4Request, credentials: SigV4Credentials, options: SigV4SignOptions,
): Record<string, string> {
  const service = options.service ?? 'glacier';
  const amzDate = formatAmzDate(options.date ?? Date.now());
  const payloadHash = options.payloadHash ?? EMPTY_SHA256;
  const added: Record<string, string> = { [options.dateHeader ?? 'x-amz-date']: amzDate };
  if (options.sendPayloadHash ?? true) added['x-amz-content-sha256'] = payloadHash;
  const values = headerValueLists(request.headers);
  for (const name of ['x-amz-date', 'date', 'x-amz-content-sha256', 'authorization']) values.delete(name);
  for (const [name, value] of Object.entries(added)) values.set(name, [value]);
  if (!values.has('host')) throw new Error('signSigV4: the request needs a host header');
  const skip = new Set((options.unsigned ?? []).map((h) => h.toLowerCase()));
  const signedHeaders = [...values.keys()].filter((h) => !NEVER_SIGNED.has(h) && !skip.has(h)).sort();
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${options.region}/${service}/${SIGV4_TERMINATOR}`;
  const canonical = sigV4CanonicalRequest(request.method, request.path, request.query, values, signedHeaders, payloadHash);
  const signature = sigV4Signature(sigV4SigningKey(credentials.secretAccessKey, date, options.region, service),
    sigV4StringToSign(amzDate, scope, canonical));
  added.authorization = `${SIGV4_ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, `
    + `SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`;
  return added;
}
