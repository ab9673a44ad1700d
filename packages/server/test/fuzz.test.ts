// Malformed requests, thousands of them, over raw sockets against an in-process server:
// hostile paths, odd methods, broken auth and dates, junk headers and bodies, garbage
// queries. Half are properly signed, so the junk reaches the deep validation behind auth.
// Every answer must be < 500, an OAS JSON error when >= 400, and carry x-oas-request-id;
// afterwards the server is alive and a vault the signed fuzz never names is untouched.
// A seeded PRNG picks everything: FUZZ_SEED=<n> replays a run (the seed is printed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { authorizationHeader, computeSignature, formatRfc1123, hashBuffer, isId, newId, stringToSign } from '@oas/sdk';
import { parseTarget } from '../src/http/state.js';
import { ROOT_ID, ROOT_SECRET, startServer } from './helpers/server.js';
import { eventually } from './helpers/assert.js';
import { prng } from './helpers/prng.js';
import { parseHeaderLines } from './helpers/raw.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 3000);
const PARALLEL = 16;
const MIB = 1048576;

class Rand {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789ABCDEF'[this.int(16)];
    return s;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

// ---- a raw HTTP/1.1 exchange ----------------------------------------------------------------

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Writes the bytes, reads one final response (1xx skipped; HEAD, 204 and 304 have no body;
 * Content-Length or chunked otherwise). null when the server closed without answering.
 */
function exchange(port: number, data: Buffer, opts: { head: boolean; endAfterWrite: boolean }): Promise<Answer | null> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (value: Answer | null | Error) => {
      if (done) return;
      done = true;
      socket.destroy();
      if (value instanceof Error) reject(value);
      else resolve(value);
    };
    const tryParse = (): Answer | undefined => {
      let rest = buf;
      for (;;) {
        const end = rest.indexOf('\r\n\r\n');
        if (end < 0) return undefined;
        const lines = rest.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1] ?? NaN);
        const body = rest.subarray(end + 4);
        if (status >= 100 && status < 200) {
          rest = body;
          continue;
        }
        const headers = parseHeaderLines(lines.slice(1));
        if (opts.head || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) };
        if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
          return body.includes('0\r\n\r\n') ? { status, headers, body: dechunk(body) } : undefined;
        }
        const length = Number(headers['content-length'] ?? 0);
        return body.length >= length ? { status, headers, body: body.subarray(0, length) } : undefined;
      }
    };
    socket.on('connect', () => {
      socket.write(data);
      if (opts.endAfterWrite) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const answer = tryParse();
      if (answer) finish(answer);
    });
    socket.on('error', () => finish(tryParse() ?? null));
    socket.on('close', () => finish(tryParse() ?? null));
    // Generous: only a server that never answers (a hang) gets here.
    socket.setTimeout(10_000, () => finish(new Error('no answer within 10 s (hung request)')));
  });
}

function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!(size > 0)) return Buffer.concat(out);
    out.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

// ---- what gets thrown at the server -------------------------------------------------------------

interface Ids {
  vault: string;
  archive: string;
  upload: string;
  job: string;
  inventoryJob: string;
}

interface Case {
  label: string;
  method: string;
  target: string;
  headers: Array<[string, string]>;
  body: Buffer;
  /** valid: a correct signature over whatever the request carries. */
  auth: 'valid' | 'none' | 'garbage' | 'wrong-secret' | 'unknown-key';
  /** The Authorization value of a 'garbage' case. */
  garbage: string;
  /** Sets Date (signed as sent); undefined: a current date. null: no Date header. */
  date?: string | null;
  /** Content-Length: 'auto' (the body's), a literal value, or omitted. */
  contentLength: 'auto' | 'omit' | string;
  /** The body is shorter than announced: the client gives up and half-closes. */
  shortBody: boolean;
}

const METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND', 'FOO', 'get', 'M-SEARCH', 'PURGE'];

const BAD_IDS = (r: Rand, real: string): string[] => [
  real.toLowerCase(), real.slice(1), `${real}0`, r.hex(32), `${r.hex(31)}G`, '..', '%2e%2e', '.%2e', '%2F..%2F..%2Fetc%2Fpasswd',
  '..%5c..%5cwindows', '%00', `${real}%00`, '%', '%zz', 'caf\u00e9', encodeURIComponent('vault\u00e9\u{1F600}'), 'A'.repeat(5000),
  '', ' ', '%20', 'null', 'undefined', '-1', '0', 'crash', "'; DROP TABLE archives;--", '${jndi:ldap://x}', '<script>', 'CON', 'nul',
  real.replace(/./, 'Z'),
];

const TEMPLATES = [
  '/vaults', '/vaults/{v}', '/vaults/{v}/archives', '/vaults/{v}/archives/{a}', '/vaults/{v}/archives/{a}/meta',
  '/vaults/{v}/multipart-uploads', '/vaults/{v}/multipart-uploads/{u}', '/vaults/{v}/jobs', '/vaults/{v}/jobs/{j}',
  '/vaults/{v}/jobs/{j}/output', '/health', '/metrics', '/', '/vaults/{v}/archives/{a}/meta/extra',
];

const QUERIES = (r: Rand): string[] => [
  'marker=', 'limit=', 'limit=0', 'limit=-1', 'limit=abc', 'limit=1e3', 'limit=99999999999999999999', 'limit=1.5', 'limit=%00',
  'limit=10&limit=x', `marker=${r.hex(32)}`, 'marker=%', 'marker=%zz', 'marker=..%2F..', `marker=${'9'.repeat(400)}`,
  'marker=-5', 'marker=0-1048575', 'marker=caf%C3%A9', 'marker=%C3%28', '&&&', '=', '==&=', 'a=b=c', 'marker', 'limit',
  `${'x=1&'.repeat(500)}y=2`, 'uploadId=x', 'acl', 'marker=%F0%9F%98%80&limit=2', `limit=${'1'.repeat(20)}`, 'marker=+',
];

const ETAGS = (r: Rand): string[] => [
  r.hex(32), r.hex(32).toLowerCase(), r.hex(31), r.hex(33), `${r.hex(32)}-123`, 'G'.repeat(32), '', ' ', 'x'.repeat(9000),
  'caf\u00e9'.repeat(8), `${r.hex(16)} ${r.hex(15)}`, '-1', 'null',
];

const SIZES = ['', '0', '-1', '1', '1048576', '1048577', '1.5', '1e6', '0x100000', '99999999999999999999', '4294967296',
  '4294967297', '33554432', '2147483648', ' 1048576 ', 'abc', '+1048576', '000001048576', '42949672960000'];

const CONTENT_RANGES = ['0-0', '0-1048575', 'bytes 0-1048575/*', 'bytes=0-1048575', '5-1', '-1-5', '0-', '-', '',
  'bytes */*', '0-99999999999999999999', '1048576-2097151', 'abc', '0-1048575/2097152', 'bytes 0-0/*', '18446744073709551615-0',
  '3-3', '0--1', '١-٢'];

const RANGES = ['bytes=0-', 'bytes=-5', 'bytes=0-1048575', 'bytes=1-2, 3-4', 'bytes=abc', 'bytes=5-1', 'bytes=0-99999999999999999999',
  'items=0-5', 'bytes=', '=', 'bytes=1048576-2097151', 'bytes=0-0', 'bytes= 0-1048575', 'bytes=-0'];

const DATES = (r: Rand): Array<string | null> => [
  null, '', 'yesterday', 'Tue, 99 Foo 2014 12:00:00 GMT', 'Tue, 25 Mar 2014 12:00:00 GMT', formatRfc1123(Date.now() + 3_600_000),
  formatRfc1123(Date.now() - 16 * 60_000), new Date().toISOString(), String(Date.now()), `${formatRfc1123()} extra`,
  formatRfc1123().replace('GMT', 'PST'), 'Mon, 01 Jan 0000 00:00:00 GMT', 'Fri, 31 Dec 275760 00:00:00 GMT', r.bytes(12).toString('latin1'),
];

const AUTHS = ['', 'OAS', 'OAS ', 'OAS :', `OAS ${ROOT_ID}:`, `OAS ${ROOT_ID}`, `OAS :${'A'.repeat(28)}`, 'Basic dXNlcjpwYXNz',
  `OAS ${ROOT_ID}:${'A'.repeat(28)}`, `OAS ${ROOT_ID}:${'A'.repeat(9000)}`, `oas ${ROOT_ID}:abc`, `OAS  ${ROOT_ID}:abc`,
  `OAS ${ROOT_ID}:abc def`, `OAS ${'k'.repeat(300)}:abc`, 'OAS caf\u00e9:abc', 'Bearer x.y.z'];

const JOB_BODIES = (r: Rand, ids: Ids): string[] => [
  '', '{', '[]', 'null', '"str"', '42', 'true', '{"Type":5}', '{"Type":null}', '{"Type":"archive-retrieval"}',
  `{"Type":"archive-retrieval","ArchiveId":"${r.hex(32)}"}`, `{"Type":"archive-retrieval","ArchiveId":"${ids.archive}","RetrievalByteRange":"${r.pick(CONTENT_RANGES)}"}`,
  `{"Type":"archive-retrieval","ArchiveId":["${ids.archive}"]}`, `{"Type":"archive-retrieval","ArchiveId":"${ids.archive}","Description":"\\u0000"}`,
  `{"Type":"archive-retrieval","ArchiveId":"${ids.archive}","Description":"${'d'.repeat(2000)}"}`,
  '{"Type":"inventory-retrieval","Description":{"a":1}}', '{"Type":"unknown-type"}', '{"__proto__":{"Type":"inventory-retrieval"}}',
  '{"constructor":{"prototype":{"x":1}},"Type":"toString"}', '{"Type":"hasOwnProperty"}', '{"Type":"pull-from-oss","OSSHost":"x","Bucket":"b","Object":"o"}',
  `{"Type":"push-to-oss","OSSHost":"oss-cn-hangzhou.aliyuncs.com","Bucket":"","Object":"o","ArchiveId":"${ids.archive}"}`,
  '{"Type":"pull-from-oss","OSSHost":"127.0.0.1:1","Bucket":"../..","Object":"/etc/passwd"}',
  `${'['.repeat(5000)}${']'.repeat(5000)}`, '{"Type":"inventory-retrieval"}'.repeat(3), '\ufeff{"Type":"inventory-retrieval"}',
  '{"Type":"inventory-retrieval","Type":"archive-retrieval"}', '{"Type":1e999}', `{"Type":"${'x'.repeat(60_000)}"}`,
];

const JUNK_HEADERS = (r: Rand): Array<[string, string]> => [
  ['Expect', '100-continue'], ['Expect', 'something-else'], ['Connection', 'upgrade'], ['Upgrade', 'websocket'],
  ['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'gzip, chunked'], ['Transfer-Encoding', 'identity'],
  ['Content-Type', 'application/json'], ['Content-Type', 'multipart/form-data; boundary=x'], ['Content-Encoding', 'gzip'],
  ['Content-MD5', 'garbage'], ['X-Forwarded-For', '1.2.3.4'], ['Host', 'a'], ['Host', ''], ['Accept-Encoding', 'gzip'],
  ['x-oas-version', r.pick(['', '0.2.5', '9999', 'caf\u00e9'])], ['x-oas-unknown', r.bytes(8).toString('base64')],
  ['X-Very-Long', 'v'.repeat(8000)], [`X-${'n'.repeat(200)}`, 'v'], ['Trailer', 'x-oas-tree-etag'], ['Range', r.pick(RANGES)],
  ['Content-Range', r.pick(CONTENT_RANGES)], ['If-None-Match', '*'], ['Cookie', 'a=b'],
];

function fillIds(template: string, r: Rand, ids: Ids, hostile: boolean): string {
  const sub = (real: string) => (hostile && r.chance(0.5) ? r.pick(BAD_IDS(r, real)) : real);
  return template
    .replace('{v}', sub(ids.vault))
    .replace('{a}', sub(ids.archive))
    .replace('{u}', sub(ids.upload))
    .replace('{j}', sub(r.chance(0.5) ? ids.job : ids.inventoryJob));
}

function mutatePath(path: string, r: Rand): string {
  switch (r.int(12)) {
    case 0: return `/..${path}`;
    case 1: return path.replace(/\//g, '//');
    case 2: return `${path}/`;
    case 3: return path.replace('/vaults', '/vaults/.');
    case 4: return path.replace(/\//g, '\\');
    case 5: return `${path};jsessionid=1`;
    case 6: return `${path}#frag`;
    case 7: return `http://127.0.0.1${path}`;
    case 8: return '*';
    case 9: return `/${'a/'.repeat(9000)}`;
    case 10: return path.replace(/v/g, '%76');
    default: return `${path}/..%2F..%2F`;
  }
}

/** The route's own method most of the time (to reach its handler), else anything. */
function methodFor(template: string, r: Rand): string {
  if (r.chance(0.25)) return r.pick(METHODS);
  if (template.endsWith('/archives')) return 'POST';
  if (template.endsWith('/multipart-uploads/{u}')) return r.pick(['PUT', 'POST', 'GET', 'DELETE']);
  if (template.endsWith('/multipart-uploads') || template.endsWith('/jobs')) return r.pick(['POST', 'GET']);
  if (template.endsWith('/{a}')) return 'DELETE';
  if (template === '/vaults/{v}') return r.pick(['GET', 'PUT', 'DELETE']);
  return 'GET';
}

/** `idsFor(signed)`: signed requests only ever aim at the playground. */
function makeCase(r: Rand, idsFor: (signed: boolean) => Ids): Case {
  const template = r.pick(TEMPLATES);
  const signed = r.chance(0.55);
  const auth: Case['auth'] = signed ? 'valid' : r.pick(['none', 'garbage', 'wrong-secret', 'unknown-key'] as const);
  const ids = idsFor(signed);
  let path = fillIds(template, r, ids, r.chance(0.4));
  if (r.chance(0.15)) path = mutatePath(path, r);
  const query = r.chance(0.3) ? `?${r.pick(QUERIES(r))}` : '';
  const method = methodFor(template, r);
  const headers: Array<[string, string]> = [];
  let body: Buffer = Buffer.alloc(0);
  let contentLength: Case['contentLength'] = 'auto';
  let shortBody = false;
  const labels: string[] = [];

  // Operation-shaped junk: the headers and bodies each route reads.
  if (method === 'POST' && template.endsWith('/archives') || method === 'PUT' && template.endsWith('/{u}')) {
    body = r.chance(0.3) ? pattern(r.int(2 * MIB)) : r.bytes(r.int(4096));
    const real = hashBuffer(body);
    // Real checksums sometimes, so a request can get past them to the next check.
    headers.push(['x-oas-content-etag', r.chance(0.4) ? real.etag : r.pick(ETAGS(r))]);
    if (r.chance(0.9)) headers.push(['x-oas-tree-etag', r.chance(0.4) ? real.treeEtag : r.pick(ETAGS(r))]);
    if (method === 'PUT') headers.push(['Content-Range', r.chance(0.3) ? `0-${body.length - 1}` : r.pick(CONTENT_RANGES)]);
    if (r.chance(0.3)) headers.push(['x-oas-archive-description', r.pick(['caf\u00e9', 'd'.repeat(1500), 'tab\there', '\u{1F600}', ''])]);
    labels.push('upload');
  } else if (method === 'POST' && template.endsWith('/jobs')) {
    body = Buffer.from(r.pick(JOB_BODIES(r, ids)), r.chance(0.9) ? 'utf8' : 'latin1');
    labels.push('job-body');
  } else if (method === 'POST' && template.endsWith('/multipart-uploads')) {
    if (r.chance(0.9)) headers.push(['x-oas-part-size', r.pick(SIZES)]);
    labels.push('initiate');
  } else if (method === 'POST' && template.endsWith('/{u}')) {
    if (r.chance(0.9)) headers.push(['x-oas-archive-size', r.pick(SIZES)]);
    if (r.chance(0.9)) headers.push(['x-oas-tree-etag', r.pick(ETAGS(r))]);
    labels.push('complete');
  } else if (template.endsWith('/output')) {
    if (r.chance(0.8)) headers.push(['Range', r.pick(RANGES)]);
    labels.push('output');
  }
  // Any request: junk headers, a body where none belongs, a lying Content-Length.
  for (let i = r.int(3); i > 0; i--) headers.push(r.pick(JUNK_HEADERS(r)));
  if (body.length === 0 && r.chance(0.1)) body = r.bytes(r.int(2048));
  switch (r.int(12)) {
    case 0:
      contentLength = String(body.length + 1 + r.int(1000));
      shortBody = true;
      labels.push('short-body');
      break;
    case 1:
      contentLength = r.pick(['-1', 'abc', '1e3', '99999999999999999999', ' 5', '0x10', '']);
      labels.push('bad-content-length');
      break;
    case 2:
      if (body.length > 0) {
        contentLength = String(r.int(body.length));
        labels.push('long-body');
      }
      break;
    case 3:
      contentLength = 'omit';
      break;
  }
  // Chunked with a Content-Length is refused by the parser; chunked alone (whether the
  // Content-Length was left out on purpose or not) needs real chunks, or the server rightly
  // waits for the rest of a chunk that never comes.
  if (headers.some(([k, v]) => k === 'Transfer-Encoding' && v.includes('chunked')) && (contentLength === 'auto' || contentLength === 'omit')) {
    body = r.chance(0.7) ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) : Buffer.from('zz\r\nxx\r\n');
    contentLength = 'omit';
  }
  // A Content-Length the parser accepts (" 5" is 5) but the body does not fill: the server
  // rightly waits for the rest, so the client gives up and half-closes.
  if (/^\s*\d{1,15}\s*$/.test(contentLength) && Number(contentLength) > body.length) shortBody = true;
  const date = r.chance(0.15) ? r.pick(DATES(r)) : undefined;
  return {
    label: `${method} ${template} [${[auth, ...labels].join(',')}]`, method, target: path + query, headers, body, auth,
    garbage: r.pick(AUTHS), date, contentLength, shortBody,
  };
}

/** The bytes of a case: request line, Host, Date, Authorization (signed over what is sent), the rest. */
function serialize(c: Case, port: number): Buffer {
  const date = c.date === undefined ? formatRfc1123() : c.date;
  const lines = [`${c.method} ${c.target} HTTP/1.1`];
  if (!c.headers.some(([k]) => k === 'Host')) lines.push(`Host: 127.0.0.1:${port}`);
  if (date !== null) lines.push(`Date: ${date}`);
  if (c.auth !== 'none') {
    // Signed exactly as the server will read it: raw path, decoded query, x-oas-* as sent.
    const { path, query } = parseTarget(c.target);
    const signed: Array<[string, string]> = [['Date', date ?? ''], ...c.headers];
    const sign = (secret: string) => computeSignature(secret, stringToSign(c.method, signed, path, query));
    const value = {
      valid: () => authorizationHeader(ROOT_ID, sign(ROOT_SECRET)),
      'wrong-secret': () => authorizationHeader(ROOT_ID, sign('not-the-secret')),
      'unknown-key': () => authorizationHeader(`NOSUCHKEY${newId().slice(0, 8)}`, sign(ROOT_SECRET)),
      garbage: () => c.garbage,
    }[c.auth]();
    lines.push(`Authorization: ${value}`);
  }
  for (const [k, v] of c.headers) lines.push(`${k}: ${v}`);
  if (c.contentLength === 'auto') lines.push(`Content-Length: ${c.body.length}`);
  else if (c.contentLength !== 'omit') lines.push(`Content-Length: ${c.contentLength}`);
  // Header text goes out as UTF-8 (non-ASCII descriptions), the way our own client sends it.
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'), c.body]);
}

/** What is wrong with an answer, or null. */
function check(c: Case, answer: Answer | null): string | null {
  if (answer === null) {
    // A client that hangs up mid-body cannot be answered; anything else must be.
    return c.shortBody ? null : 'closed the connection without an answer';
  }
  if (!(answer.status >= 200 && answer.status < 500)) return `status ${answer.status}`;
  if (!isId(answer.headers['x-oas-request-id'])) return 'no x-oas-request-id';
  if (answer.status < 400 || c.method === 'HEAD') return null;
  if (answer.headers['content-type'] !== 'application/json') return `error with content-type ${answer.headers['content-type']}`;
  let body: { code?: unknown; message?: unknown; type?: unknown; request_id?: unknown };
  try {
    body = JSON.parse(answer.body.toString('utf8'));
  } catch {
    return `error body is not JSON: ${answer.body.toString('utf8').slice(0, 120)}`;
  }
  if (typeof body.code !== 'string' || typeof body.message !== 'string' || body.type !== 'client') {
    return `not an OAS client error: ${answer.body.toString('utf8').slice(0, 200)}`;
  }
  if (body.request_id !== answer.headers['x-oas-request-id']) return 'request_id differs from x-oas-request-id';
  return null;
}

/** Vault statistics are live here, so LastInventoryDate is simply "now". */
function withoutLiveDate(vault: Record<string, unknown>): Record<string, unknown> {
  const { LastInventoryDate: _, ...rest } = vault;
  return rest;
}

test('thousands of malformed requests: never a 5xx, always an OAS JSON error, the server stays up and its data intact', { timeout: 300_000 }, async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`FUZZ_SEED=${seed} FUZZ_REQUESTS=${REQUESTS}`);
  process.stderr.write(`fuzz: FUZZ_SEED=${seed}\n`); // also visible if the process dies
  const r = new Rand(prng(seed));
  const s = await startServer({ jobPollMs: 20 });
  t.after(() => s.close());
  const c = s.client;

  // A vault only unsigned and badly signed requests ever name; it must come out untouched.
  const kept = await c.vaultId('fuzz-kept');
  const keptData = pattern(MIB + 12345);
  const keptArchive = await c.archiveId(kept, keptData, 'keep me');
  const keptUploadRes = await c.request({ method: 'POST', path: `/vaults/${kept}/multipart-uploads`, headers: { 'x-oas-part-size': String(MIB) } });
  const keptUpload = String(keptUploadRes.headers['x-oas-multipart-upload-id']);
  const part = pattern(MIB, 7);
  const partSums = hashBuffer(part);
  assert.equal((await c.request({
    method: 'PUT', path: `/vaults/${kept}/multipart-uploads/${keptUpload}`, body: part,
    headers: { 'Content-Range': `0-${MIB - 1}`, 'x-oas-content-etag': partSums.etag, 'x-oas-tree-etag': partSums.treeEtag },
  })).status, 204);
  const keptJob = await c.jobId(kept, { Type: 'archive-retrieval', ArchiveId: keptArchive });
  await c.waitJob(kept, keptJob);
  const before = {
    vault: withoutLiveDate((await c.get(`/vaults/${kept}`)).json),
    parts: (await c.get(`/vaults/${kept}/multipart-uploads/${keptUpload}`)).json,
  };
  const keptIds: Ids = { vault: kept, archive: keptArchive, upload: keptUpload, job: keptJob, inventoryJob: keptJob };

  // The playground: real ids for signed requests to aim at (they may change things here).
  const play = await c.vaultId('fuzz-play');
  const playData = pattern(2 * MIB + 3);
  const playArchive = await c.archiveId(play, playData);
  const playUpload = String((await c.request({ method: 'POST', path: `/vaults/${play}/multipart-uploads`, headers: { 'x-oas-part-size': String(MIB) } })).headers['x-oas-multipart-upload-id']);
  const playJob = await c.jobId(play, { Type: 'archive-retrieval', ArchiveId: playArchive });
  const playInventory = await c.jobId(play, { Type: 'inventory-retrieval' });
  await c.waitJob(play, playJob);
  await c.waitJob(play, playInventory);
  const playIds: Ids = { vault: play, archive: playArchive, upload: playUpload, job: playJob, inventoryJob: playInventory };

  const cases = Array.from({ length: REQUESTS }, () => makeCase(r, (signed) => (signed || r.chance(0.5) ? playIds : keptIds)));
  // Fixed cases first: what earlier runs found (node answered an unknown Expect with a bare 417).
  const fixed = (method: string, target: string, headers: Array<[string, string]>, auth: Case['auth']): Case => ({
    label: `fixed ${method} ${target}`, method, target, headers, body: Buffer.alloc(0), auth, garbage: '', contentLength: 'auto', shortBody: false,
  });
  cases.unshift(
    fixed('GET', '/health', [['Expect', 'something-else']], 'none'),
    fixed('GET', `/vaults/${play}`, [['Expect', '200-ok']], 'valid'),
    fixed('GET', `/vaults/${kept}`, [['Expect', 'x']], 'wrong-secret'),
  );

  const failures: string[] = [];
  const statuses = new Map<number | string, number>();
  let next = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < cases.length) {
      const i = next++;
      const k = cases[i]!;
      let answer: Answer | null;
      try {
        answer = await exchange(s.port, serialize(k, s.port), { head: k.method === 'HEAD', endAfterWrite: k.shortBody });
      } catch (err) {
        failures.push(`#${i} ${k.label} ${k.target.slice(0, 120)}: ${(err as Error).message}`);
        continue;
      }
      const key = answer?.status ?? 'none';
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      const problem = check(k, answer);
      if (problem) failures.push(`#${i} ${k.label} ${JSON.stringify(k.target.slice(0, 120))} ${JSON.stringify(k.headers.map(([h, v]) => `${h}: ${v.slice(0, 40)}`))}: ${problem}`);
    }
  }));
  t.diagnostic(`answers by status: ${[...statuses].sort((a, b) => String(a[0]).localeCompare(String(b[0]))).map(([k, v]) => `${k}: ${v}`).join(', ')}`);
  assert.deepEqual(failures.slice(0, 20), [], `FUZZ_SEED=${seed}: ${failures.length} bad answers`);
  const signedOk = cases.filter((k) => k.auth === 'valid').length;
  assert.ok(signedOk > REQUESTS / 3, 'too few signed requests to reach the deep validation');

  // Still alive, and the kept vault is exactly as it was.
  const health = await c.request({ method: 'GET', path: '/health', sign: false });
  assert.equal(health.status, 200);
  assert.deepEqual(withoutLiveDate((await c.get(`/vaults/${kept}`)).json), before.vault);
  assert.deepEqual((await c.get(`/vaults/${kept}/multipart-uploads/${keptUpload}`)).json, before.parts);
  const meta = await c.get(`/vaults/${kept}/archives/${keptArchive}/meta`);
  assert.equal(meta.status, 200);
  assert.equal(meta.json.ArchiveTreeEtag, hashBuffer(keptData).treeEtag);
  const out = await c.get(`/vaults/${kept}/jobs/${keptJob}/output`);
  assert.equal(out.status, 200);
  assert.ok(out.body.equals(keptData), 'the kept archive no longer reads back as uploaded');
  // A fresh retrieval re-verifies the stored bytes against their checksums.
  const again = await c.jobId(kept, { Type: 'archive-retrieval', ArchiveId: keptArchive });
  assert.equal((await c.waitJob(kept, again)).StatusCode, 'Succeeded');
  // Every refused or cut-short upload removed its temporary file.
  await eventually(async () => (await readdir(join(s.dataDir, 'blobs', 'tmp'))).length === 0);
});
