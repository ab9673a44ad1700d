// Small helpers that turn OASAPI arguments into what goes on the wire: paths, query
// strings, header values and the job-creation JSON body.

/**
 * One path segment. The Python SDK interpolates ids unescaped; ids are upper-case hex and
 * vault names `[a-z0-9_-]`, which encodeURIComponent leaves alone, so the wire is the same
 * for every valid input. Escaping only matters for garbage (`a/b`, spaces), which then
 * stays one segment instead of silently addressing another resource. The signature covers
 * the escaped path because that is exactly what the request line carries (protocol.md §2.4).
 */
export function pathSegment(what: string, value: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${what} must be a non-empty string`);
  return encodeURIComponent(value);
}

/** Query parameters as decoded pairs, skipping absent (undefined or null) values. */
export function queryPairs(params: ReadonlyArray<readonly [string, string | number | undefined | null]>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of params) {
    if (value === undefined || value === null) continue;
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new TypeError(`${name} must be an integer, got ${value}`);
    out.push([name, String(value)]);
  }
  return out;
}

/**
 * `?name=value&…` with values URL-encoded; an empty value is written as a bare name
 * (`?marker&limit=10`), as the SDK does (protocol.md §1.3 #3). '' when there is nothing.
 */
export function formatQuery(pairs: ReadonlyArray<readonly [string, string]>): string {
  if (pairs.length === 0) return '';
  return '?' + pairs.map(([k, v]) => encodeURIComponent(k) + (v === '' ? '' : '=' + encodeURIComponent(v))).join('&');
}

/** Sizes sent as decimal header values: a non-negative safe integer. */
export function byteCount(what: string, value: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${what} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

// What node refuses in a header value (besides characters above U+00FF, which we transcode):
// every control character except TAB. CR/LF would also allow header injection.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_IN_HEADER = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Checks a caller-supplied header value before anything is sent. */
export function headerValue(header: string, value: string): string {
  if (typeof value !== 'string') throw new TypeError(`${header} must be a string, got ${typeof value}`);
  const bad = FORBIDDEN_IN_HEADER.exec(value);
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).padStart(2, '0');
    throw new TypeError(`${header} must not contain control characters (found 0x${code} at index ${bad.index}): CR, LF and the like cannot be sent in an HTTP header`);
  }
  return value;
}

/**
 * The form of a header value that puts its UTF-8 bytes on the wire. Node writes header
 * strings as latin1 and refuses characters above U+00FF, and would send U+0080–U+00FF as
 * one latin1 byte each; the Python SDK sends (and signs) the UTF-8 encoding. Re-reading the
 * UTF-8 bytes as latin1 makes node emit exactly those bytes. The signature is computed over
 * the ORIGINAL string (HMAC input is UTF-8), so a server that decodes the raw header bytes
 * as UTF-8 recomputes the same signature. ASCII values are returned unchanged.
 */
export function wireHeaderValue(value: string): string {
  // ASCII only (from \x00 on purpose): such values go out unchanged.
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(value) ? value : Buffer.from(value, 'utf8').toString('latin1');
}

/**
 * JSON as Python's `json.dumps` writes a flat object of strings by default: `", "` and
 * `": "` separators and every character outside printable ASCII escaped as `\uXXXX`
 * (lower-case hex, UTF-16 units), so the job body is byte-identical to the SDK's.
 */
export function pythonJson(object: Readonly<Record<string, string>>): string {
  return '{' + Object.entries(object).map(([k, v]) => `${pythonString(k)}: ${pythonString(v)}`).join(', ') + '}';
}

function pythonString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}
