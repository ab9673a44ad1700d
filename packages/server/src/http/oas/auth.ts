// Request authentication, protocol.md §2: the sdk's own signing code over the raw path, the
// decoded query and the raw x-oas-* header values, compared in constant time.
import type { FastifyRequest } from 'fastify';
import { OASError, computeSignature, parseAuthorization, parseRfc1123, signaturesEqual, stringToSign } from '@oas/sdk/protocol';
import type { KeyLookup } from '../../service/accounts.js';
import type { AccountRecord } from '../../service/records.js';
import { SIGNED_PREFIX } from './headers.js';

/** x-oas-* headers and the Date header as they arrived (node joins or drops nothing here). */
function rawSignedHeaders(req: FastifyRequest): { date: string | undefined; oas: Array<[string, string]> } {
  const raw = req.raw.rawHeaders;
  let date: string | undefined;
  const oas: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'date') date ??= raw[i + 1];
    else if (name.startsWith(SIGNED_PREFIX)) oas.push([name, raw[i + 1]!]);
  }
  return { date, oas };
}

/**
 * Header bytes reach us as latin1 characters. A client that sent UTF-8 text (and signed
 * it as UTF-8) is matched by decoding; a value that is not valid UTF-8 has no such variant.
 */
function utf8Variant(values: Array<[string, string]>): Array<[string, string]> | null {
  let changed = false;
  const out: Array<[string, string]> = [];
  for (const [name, value] of values) {
    // Any byte outside ASCII (the class starts at \x00 on purpose).
    // eslint-disable-next-line no-control-regex
    if (/[^\x00-\x7f]/.test(value)) {
      const bytes = Buffer.from(value, 'latin1');
      const text = bytes.toString('utf8');
      if (Buffer.from(text, 'utf8').equals(bytes) && text !== value) {
        out.push([name, text]);
        changed = true;
        continue;
      }
    }
    out.push([name, value]);
  }
  return changed ? out : null;
}

function lastWins(pairs: Array<[string, string]>): Map<string, string> {
  const map = new Map<string, string>();
  for (const [k, v] of pairs) map.set(k, v);
  return map;
}

export interface AuthResult {
  account: AccountRecord;
  oasHeaders: Map<string, string>;
}

export async function authenticate(req: FastifyRequest, lookupKey: KeyLookup, now: number, maxSkewMs: number): Promise<AuthResult> {
  const authorization = req.headers.authorization;
  const parsed = parseAuthorization(typeof authorization === 'string' ? authorization : undefined);
  if (!parsed) {
    throw OASError.of('AccessDenied', authorization ? 'the Authorization header is not of the form "OAS <AccessKeyId>:<Signature>"' : 'the request is not signed (no Authorization header)');
  }
  const { date, oas } = rawSignedHeaders(req);
  // A browser cannot set Date: it signs x-oas-date instead, with an empty Date line (protocol.md §2.5).
  const xDate = date === undefined ? lastWins(oas).get('x-oas-date') : undefined;
  const when = date ?? xDate;
  const dateName = date === undefined && xDate !== undefined ? 'x-oas-date' : 'Date';
  if (when === undefined || when === '') throw OASError.of('AccessDenied', 'the Date header (or, from a browser, x-oas-date) is required');
  const time = parseRfc1123(when);
  if (time === null) throw OASError.of('AccessDenied', `the ${dateName} header is not an RFC 1123 date such as "Tue, 25 Mar 2014 12:00:00 GMT"`);
  const account = await lookupKey(parsed.accessKeyId);
  if (!account) throw OASError.of('InvalidAccessKeyId', 'the AccessKeyId does not exist');

  const method = req.raw.method ?? 'GET';
  const { path, query } = req.call;
  const matches = (headers: Array<[string, string]>): boolean => {
    const sts = stringToSign(method, date === undefined ? headers : [['date', date], ...headers], path, query);
    return signaturesEqual(computeSignature(account.accessKeySecret, sts), parsed.signature);
  };
  let verified: Array<[string, string]> | null = null;
  if (matches(oas)) verified = oas;
  else {
    const decoded = utf8Variant(oas);
    if (decoded && matches(decoded)) verified = decoded;
  }
  if (!verified) {
    throw OASError.of('SignatureDoesNotMatch', 'the request signature does not match; check the AccessKeySecret and how the request is signed');
  }
  if (Math.abs(time - now) > maxSkewMs) {
    throw OASError.of('RequestTimeTooSkewed', `the ${dateName} header differs from the server time by more than ${Math.round(maxSkewMs / 60000)} minutes`);
  }
  return { account, oasHeaders: lastWins(verified) };
}
