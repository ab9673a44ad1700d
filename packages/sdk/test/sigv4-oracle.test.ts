// @smithy/signature-v4 (the signer of the AWS SDK for JavaScript) as an independent oracle:
// random requests signed by it must verify with ours, ours must sign exactly as it does, and
// one tampered element must fail with the matching reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  verifySigV4, signSigV4, parseAmzDate, uriEncode, type SigV4Request, type SigV4Result,
} from '../src/protocol/sigv4.js';
import { payloadHashTransform, PayloadHashMismatchError } from '../src/protocol/payload-hash.js';
import { prng } from '../../server/test/helpers/prng.js';

const CREDS = { accessKeyId: 'AKIDORACLE0000000001', secretAccessKey: 'oracle/secret+key/0123456789abcdefghijklm' };

/** The hash interface Smithy asks for, on node:crypto. */
class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {}
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Buffer {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);
}

function smithy(region: string): SignatureV4 {
  return new SignatureV4({ credentials: CREDS, region, service: 'glacier', sha256: NodeSha256, applyChecksum: true });
}

const ODD = ['a', 'Z', '0', '9', '-', '_', '.', '~', ' ', '%', '!', "'", '(', ')', '*', '+', '=', '@', ':', ',', ';', '$', '&', '/', '?', '#', 'é', '€', '漢'];

interface Generated {
  method: string;
  wirePath: string;
  query: Record<string, string | string[]>;
  wireQuery: string;
  headers: Record<string, string>;
  body: Buffer;
  region: string;
  date: Date;
}

function generate(random: () => number): Generated {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const text = (max: number): string => Array.from({ length: 1 + Math.floor(random() * max) }, () => pick(ODD)).join('');
  const segments = ['-', 'vaults', text(12)];
  if (random() < 0.5) segments.push(pick(['archives', 'jobs', 'multipart-uploads']), text(8));
  if (random() < 0.1) segments.splice(2, 0, pick(['.', '..', '']));
  // Clients encode labels with encodeURIComponent, some also escape !'()*; both are valid wire forms.
  const encode = random() < 0.5 ? encodeURIComponent : uriEncode;
  const wirePath = '/' + segments.map((s) => (s === '.' || s === '..' ? s : encode(s))).join('/');
  const query: Record<string, string | string[]> = {};
  const wire: string[] = [];
  for (let i = Math.floor(random() * 4); i > 0; i--) {
    const name = random() < 0.5 ? pick(['marker', 'limit', 'completed', 'statuscode', 'operation']) : text(5);
    if (name in query) continue;
    const values = random() < 0.2 ? [text(6), text(6)] : [random() < 0.1 ? '' : text(10)];
    query[name] = values.length === 1 ? values[0]! : values;
    for (const v of values) wire.push(`${encode(name)}=${encode(v)}`);
  }
  const wireQuery = wire;
  const headers: Record<string, string> = { host: `127.0.0.1:${1024 + Math.floor(random() * 60000)}`, 'x-amz-glacier-version': '2012-06-01' };
  if (random() < 0.5) {
    const start = Math.floor(random() * 8) * 1048576;
    headers.range = `bytes=${start}-${start + Math.floor(random() * 4 + 1) * 1048576 - 1}`;
  }
  if (random() < 0.4) headers['x-amz-archive-description'] = `  backup   ${text(6).replace(/[^\x20-\x7e]/g, 'x')}  of   2026 `;
  if (random() < 0.3) headers['content-type'] = 'application/json';
  if (random() < 0.3) headers['content-range'] = 'bytes 0-1048575/*';
  const body = random() < 0.5 ? Buffer.alloc(0) : Buffer.from(text(40));
  return {
    method: pick(['GET', 'PUT', 'POST', 'DELETE']), wirePath, query, wireQuery: wireQuery.join('&'), headers, body,
    region: pick(['us-east-1', 'eu-west-1', 'ap-southeast-2']),
    date: new Date(Date.UTC(2026, Math.floor(random() * 12), 1 + Math.floor(random() * 28), Math.floor(random() * 24), Math.floor(random() * 60), Math.floor(random() * 60))),
  };
}

async function smithySign(g: Generated, extraHeaders: Record<string, string> = {}): Promise<Record<string, string>> {
  const signed = await smithy(g.region).sign({
    method: g.method, protocol: 'http:', hostname: '127.0.0.1', path: g.wirePath, query: g.query,
    headers: { ...g.headers, ...extraHeaders }, body: g.body,
  }, { signingDate: g.date });
  return signed.headers as Record<string, string>;
}

function asRequest(g: Generated, headers: Record<string, string>): SigV4Request & { headers: Array<[string, string]> } {
  return { method: g.method, path: g.wirePath, query: g.wireQuery, headers: Object.entries(headers) };
}

async function ours(request: SigV4Request, g: Generated): Promise<SigV4Result> {
  return verifySigV4(request, { secretFor: (id) => (id === CREDS.accessKeyId ? CREDS.secretAccessKey : undefined), now: g.date.getTime() });
}

const ROUNDS = 300;

test(`${ROUNDS} random requests signed by Smithy verify with ours`, async () => {
  const random = prng(0x5164);
  for (let i = 0; i < ROUNDS; i++) {
    const g = generate(random);
    const headers = await smithySign(g);
    const result = await ours(asRequest(g, headers), g);
    assert.ok(result.ok, `round ${i}: ${JSON.stringify({ g: { ...g, body: g.body.toString() }, headers, result })}`);
    assert.equal(result.payloadHash, createHash('sha256').update(g.body).digest('hex'));
  }
});

test(`${ROUNDS} random requests signed by ours carry exactly Smithy's Authorization`, async () => {
  const random = prng(0x7a11);
  for (let i = 0; i < ROUNDS; i++) {
    const g = generate(random);
    const payloadHash = createHash('sha256').update(g.body).digest('hex');
    const added = signSigV4({ method: g.method, path: g.wirePath, query: g.wireQuery, headers: g.headers }, CREDS,
      { region: g.region, date: g.date, payloadHash });
    const reference = await smithySign(g, { 'x-amz-content-sha256': payloadHash });
    assert.equal(added.authorization, reference.authorization, `round ${i}: ${g.method} ${g.wirePath}?${g.wireQuery}`);
    assert.equal(added['x-amz-date'], reference['x-amz-date']);
  }
});

type Tamper = { name: string; reason: string; apply: (r: SigV4Request & { headers: Array<[string, string]> }) => SigV4Request };

function setHeader(headers: Array<[string, string]>, name: string, f: (v: string) => string): Array<[string, string]> {
  return headers.map(([k, v]) => (k.toLowerCase() === name ? [k, f(v)] : [k, v]));
}

const TAMPERS: Tamper[] = [
  { name: 'host header', reason: 'signature-mismatch', apply: (r) => ({ ...r, headers: setHeader(r.headers, 'host', (v) => v + '1') }) },
  { name: 'glacier version header', reason: 'signature-mismatch', apply: (r) => ({ ...r, headers: setHeader(r.headers, 'x-amz-glacier-version', () => '2012-06-02') }) },
  { name: 'path', reason: 'signature-mismatch', apply: (r) => ({ ...r, path: r.path + 'x' }) },
  { name: 'method', reason: 'signature-mismatch', apply: (r) => ({ ...r, method: r.method === 'GET' ? 'HEAD' : 'GET' }) },
  { name: 'query', reason: 'signature-mismatch', apply: (r) => ({ ...r, query: r.query ? `${r.query}&x=1` : 'x=1' }) },
  { name: 'body hash', reason: 'signature-mismatch', apply: (r) => ({ ...r, headers: setHeader(r.headers, 'x-amz-content-sha256', (v) => (v[0] === 'a' ? 'b' : 'a') + v.slice(1)) }) },
  { name: 'x-amz-date second', reason: 'signature-mismatch', apply: (r) => ({ ...r, headers: setHeader(r.headers, 'x-amz-date', (v) => v.slice(0, 13) + (v[13] === '0' ? '1' : '0') + v.slice(14)) }) },
  { name: 'scope date', reason: 'scope-date-mismatch', apply: (r) => ({ ...r, headers: setHeader(r.headers, 'authorization', (v) => v.replace(/\/(\d{8})\//, (_m, d: string) => `/${d.slice(0, 7)}${d[7] === '1' ? '2' : '1'}/`)) }) },
  { name: 'scope region', reason: 'signature-mismatch', apply: (r) => ({ ...r, headers: setHeader(r.headers, 'authorization', (v) => v.replace(/\/\d{8}\/([^/]+)\//, (m, region: string) => m.replace(region, 'sa-east-1'))) }) },
  { name: 'scope service', reason: 'wrong-service', apply: (r) => ({ ...r, headers: setHeader(r.headers, 'authorization', (v) => v.replace('/glacier/', '/s3/')) }) },
  { name: 'signature', reason: 'signature-mismatch', apply: (r) => ({ ...r, headers: setHeader(r.headers, 'authorization', (v) => v.slice(0, -1) + (v.endsWith('0') ? '1' : '0')) }) },
  { name: 'access key', reason: 'unknown-access-key', apply: (r) => ({ ...r, headers: setHeader(r.headers, 'authorization', (v) => v.replace(CREDS.accessKeyId, 'AKIDUNKNOWN000000000')) }) },
];

test('tampering with one element of a Smithy-signed request fails with the matching reason', async () => {
  const random = prng(0x7a3e);
  for (let i = 0; i < ROUNDS; i++) {
    const g = generate(random);
    const request = asRequest(g, await smithySign(g));
    const tamper = TAMPERS[i % TAMPERS.length]!;
    const result = await ours(tamper.apply(request), g);
    assert.equal(result.ok ? 'ok' : result.reason, tamper.reason, `round ${i}, ${tamper.name}`);
  }
});

test('a body that differs from the signed x-amz-content-sha256 passes the signature and fails the stream check', async () => {
  const random = prng(0xb0d1);
  for (let i = 0; i < 20; i++) {
    const g = generate(random);
    const result = await ours(asRequest(g, await smithySign(g)), g);
    assert.ok(result.ok && result.bodyCheckNeeded);
    await pipeline(Readable.from([g.body]), payloadHashTransform(result.payloadHash), async function* (src) { for await (const _ of src); });
    const tampered = Buffer.concat([g.body, Buffer.from('!')]);
    await assert.rejects(
      pipeline(Readable.from([tampered]), payloadHashTransform(result.payloadHash), async function* (src) { for await (const _ of src); }),
      (err: unknown) => err instanceof PayloadHashMismatchError && err.expected === result.payloadHash
        && err.computed === createHash('sha256').update(tampered).digest('hex'));
  }
  assert.ok(parseAmzDate('20260101T000000Z'));
});
