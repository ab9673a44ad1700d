import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  verifySigV4, signSigV4, parseSigV4Authorization, sigV4CanonicalRequest, sigV4CanonicalUri,
  sigV4CanonicalQuery, sigV4StringToSign, headerValueLists, parseAmzDate, EMPTY_SHA256,
  type SigV4Request, type SigV4Result, type SigV4VerifyOptions,
} from '../src/protocol/sigv4.js';

// The Glacier Developer Guide's signing examples.
const AK = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const HOST = 'glacier.us-east-1.amazonaws.com';
const secretFor = (id: string): string | undefined => (id === AK ? SECRET : undefined);

function at(amzDate: string): number {
  return parseAmzDate(amzDate)!;
}

async function verify(request: SigV4Request, options: Partial<SigV4VerifyOptions> = {}): Promise<SigV4Result> {
  return verifySigV4(request, { secretFor, ...options });
}

const createVault: SigV4Request = {
  method: 'PUT', path: '/-/vaults/examplevault', query: '',
  headers: [
    ['Host', HOST], ['x-amz-date', '20120525T002453Z'], ['x-amz-glacier-version', '2012-06-01'],
    ['Authorization', 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20120525/us-east-1/glacier/aws4_request,'
      + 'SignedHeaders=host;x-amz-date;x-amz-glacier-version,'
      + 'Signature=3ce5b2f2fffac9262b4da9256f8d086b4aaf42eba5f111c21681a65a127b7c2a'],
  ],
};

const WELCOME = 'Welcome to Amazon Glacier.';
const uploadArchive: SigV4Request = {
  method: 'POST', path: '/-/vaults/examplevault/archives', query: '',
  headers: [
    ['Host', HOST], ['x-amz-date', '20120507T000000Z'], ['x-amz-glacier-version', '2012-06-01'],
    ['x-amz-content-sha256', '726e392cb4d09924dbad1cc0ba3b00c3643d03d14cb4b823e2f041cff612a628'],
    ['Authorization', 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20120507/us-east-1/glacier/aws4_request,'
      + 'SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-glacier-version,'
      + 'Signature=b092397439375d59119072764a1e9a144677c43d9906fd98a5742c57a2855de6'],
  ],
};

test('vector 1 (CreateVault): canonical request, string to sign and signature', async () => {
  const signed = ['host', 'x-amz-date', 'x-amz-glacier-version'];
  const canonical = sigV4CanonicalRequest('PUT', '/-/vaults/examplevault', '', headerValueLists(createVault.headers), signed, EMPTY_SHA256);
  assert.equal(canonical, 'PUT\n/-/vaults/examplevault\n\nhost:glacier.us-east-1.amazonaws.com\nx-amz-date:20120525T002453Z\n'
    + 'x-amz-glacier-version:2012-06-01\n\nhost;x-amz-date;x-amz-glacier-version\n' + EMPTY_SHA256);
  assert.equal(sigV4StringToSign('20120525T002453Z', '20120525/us-east-1/glacier/aws4_request', canonical),
    'AWS4-HMAC-SHA256\n20120525T002453Z\n20120525/us-east-1/glacier/aws4_request\n'
    + '5f1da1a2d0feb614dd03d71e87928b8e449ac87614479332aced3a701f916743');
  const result = await verify(createVault, { now: at('20120525T002453Z') });
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.ok(result.ok && result.payloadHash === EMPTY_SHA256 && result.bodyCheckNeeded);
});

test('vector 1 signed by our signer gives the guide\'s signature', () => {
  const added = signSigV4({ method: 'PUT', path: '/-/vaults/examplevault', query: '', headers: { host: HOST, 'x-amz-glacier-version': '2012-06-01' } },
    { accessKeyId: AK, secretAccessKey: SECRET }, { region: 'us-east-1', date: at('20120525T002453Z'), sendPayloadHash: false });
  assert.equal(added['x-amz-date'], '20120525T002453Z');
  assert.equal(added.authorization, 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20120525/us-east-1/glacier/aws4_request, '
    + 'SignedHeaders=host;x-amz-date;x-amz-glacier-version, Signature=3ce5b2f2fffac9262b4da9256f8d086b4aaf42eba5f111c21681a65a127b7c2a');
});

test('vector 2 (UploadArchive): the payload hash is the guide\'s, and the signature verifies on the archives path', async () => {
  assert.equal(createHash('sha256').update(WELCOME).digest('hex'), '726e392cb4d09924dbad1cc0ba3b00c3643d03d14cb4b823e2f041cff612a628');
  const result = await verify(uploadArchive, { now: at('20120507T000000Z') });
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.ok(result.ok && result.payloadHash === '726e392cb4d09924dbad1cc0ba3b00c3643d03d14cb4b823e2f041cff612a628' && result.bodyCheckNeeded);
  const added = signSigV4({ method: 'POST', path: '/-/vaults/examplevault/archives', query: '', headers: { host: HOST, 'x-amz-glacier-version': '2012-06-01' } },
    { accessKeyId: AK, secretAccessKey: SECRET },
    { region: 'us-east-1', date: at('20120507T000000Z'), payloadHash: createHash('sha256').update(WELCOME).digest('hex') });
  assert.match(added.authorization!, /SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-glacier-version, Signature=b092397439375d59119072764a1e9a144677c43d9906fd98a5742c57a2855de6$/);
});

test('vector 2 with the guide\'s request line (vault path, a typo there) does not verify', async () => {
  const result = await verify({ ...uploadArchive, path: '/-/vaults/examplevault' }, { now: at('20120507T000000Z') });
  assert.ok(!result.ok && result.reason === 'signature-mismatch');
  assert.ok(!result.ok && result.canonicalRequest?.startsWith('POST\n/-/vaults/examplevault\n'));
});

test('canonical URI: dot and empty segments removed, each segment encoded again', () => {
  assert.equal(sigV4CanonicalUri('/-/vaults/my%20vault'), '/-/vaults/my%2520vault');
  assert.equal(sigV4CanonicalUri('/a//b/./c/../d/'), '/a/b/d/');
  assert.equal(sigV4CanonicalUri("/x/it's(1)*!~"), '/x/it%27s%281%29%2A%21~');
  assert.equal(sigV4CanonicalUri('/'), '/');
  assert.equal(sigV4CanonicalUri(''), '');
});

test('canonical query: decoded, RFC 3986-encoded, sorted by name then value, bare names get =', () => {
  assert.equal(sigV4CanonicalQuery('marker=a%2Fb&limit=2&completed=true'), 'completed=true&limit=2&marker=a%2Fb');
  assert.equal(sigV4CanonicalQuery('b=2&a=3&a=1&flag'), 'a=1&a=3&b=2&flag=');
  assert.equal(sigV4CanonicalQuery('q=a+b&r=%7e&s=caf%C3%A9'), 'q=a%2Bb&r=~&s=caf%C3%A9');
  assert.equal(sigV4CanonicalQuery(''), '');
});

test('canonical headers: values trimmed, inner whitespace collapsed, duplicates joined by a comma', () => {
  const values = headerValueLists([['Host', 'h'], ['X-Amz-Meta', '  a   b  '], ['x-amz-meta', 'c\t d'], ['x-amz-date', '20120525T002453Z']]);
  const canonical = sigV4CanonicalRequest('get', '/', '', values, ['host', 'x-amz-date', 'x-amz-meta'], EMPTY_SHA256);
  assert.equal(canonical.split('\n').slice(3, 6).join('\n'), 'host:h\nx-amz-date:20120525T002453Z\nx-amz-meta:a b,c d');
  assert.ok(canonical.startsWith('GET\n'));
});

test('Authorization parsing: fields in any order, precise refusals', () => {
  const good = parseSigV4Authorization('AWS4-HMAC-SHA256 Signature=' + 'a'.repeat(64) + ', SignedHeaders=host;x-amz-date, Credential=AK/20260101/eu-west-1/glacier/aws4_request');
  assert.ok(!('ok' in good));
  assert.deepEqual(good, { accessKeyId: 'AK', date: '20260101', region: 'eu-west-1', service: 'glacier',
    scope: '20260101/eu-west-1/glacier/aws4_request', signedHeaders: ['host', 'x-amz-date'], signature: 'a'.repeat(64) });
  const reason = (v: string | undefined): string => { const r = parseSigV4Authorization(v); return 'ok' in r ? r.reason : 'parsed'; };
  assert.equal(reason(undefined), 'missing-authorization');
  assert.equal(reason('OAS id:sig'), 'unsupported-algorithm');
  assert.equal(reason('AWS4-HMAC-SHA256 Credential=AK/20260101/r/glacier/aws4_request, SignedHeaders=host'), 'malformed-authorization');
  assert.equal(reason(`AWS4-HMAC-SHA256 Credential=AK/2026011/r/glacier/aws4_request, SignedHeaders=host, Signature=${'a'.repeat(64)}`), 'malformed-credential');
  assert.equal(reason(`AWS4-HMAC-SHA256 Credential=AK/20260101/r/glacier/aws5_request, SignedHeaders=host, Signature=${'a'.repeat(64)}`), 'malformed-credential');
  assert.equal(reason(`AWS4-HMAC-SHA256 Credential=AK/20260101/r/glacier/aws4_request, SignedHeaders=host, Signature=xyz`), 'malformed-authorization');
  assert.equal(reason(`AWS4-HMAC-SHA256 Credential=AK/20260101/r/glacier/aws4_request, SignedHeaders=host;;a, Signature=${'a'.repeat(64)}`), 'malformed-authorization');
  assert.equal(reason(`AWS4-HMAC-SHA256 Credential=A, Credential=B, SignedHeaders=host, Signature=${'a'.repeat(64)}`), 'malformed-authorization');
});

test('amz dates: exact format, impossible dates refused', () => {
  assert.equal(parseAmzDate('20120525T002453Z'), Date.UTC(2012, 4, 25, 0, 24, 53));
  for (const bad of ['20120231T000000Z', '20120525T246000Z', '2012-05-25T00:24:53Z', '20120525T002453', 'Fri, 25 May 2012 00:24:53 GMT']) {
    assert.equal(parseAmzDate(bad), null, bad);
  }
});

// A request of our own, signed now, to tamper with in one respect at a time.
const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);
function signedRequest(overrides: { region?: string; service?: string; date?: number; secret?: string } = {}): SigV4Request & { headers: Array<[string, string]> } {
  const headers: Array<[string, string]> = [['Host', '127.0.0.1:8080'], ['x-amz-glacier-version', '2012-06-01'], ['Range', 'bytes=0-1048575']];
  const request = { method: 'GET', path: '/-/vaults/v%20x/jobs/J1/output', query: 'limit=5&marker=a%20b', headers };
  const added = signSigV4(request, { accessKeyId: AK, secretAccessKey: overrides.secret ?? SECRET },
    { region: overrides.region ?? 'us-east-1', service: overrides.service ?? 'glacier', date: overrides.date ?? NOW });
  for (const [k, v] of Object.entries(added)) headers.push([k, v]);
  return request;
}

function without(headers: Array<[string, string]>, name: string): Array<[string, string]> {
  return headers.filter(([k]) => k.toLowerCase() !== name);
}
function replaced(headers: Array<[string, string]>, name: string, value: string): Array<[string, string]> {
  return headers.map(([k, v]) => (k.toLowerCase() === name ? [k, value] : [k, v]));
}

async function reasonOf(request: SigV4Request, options: Partial<SigV4VerifyOptions> = {}): Promise<string> {
  const result = await verify(request, { now: NOW, ...options });
  return result.ok ? 'ok' : result.reason;
}

test('a request signed by our signer verifies; every kind of tampering fails with its own reason', async () => {
  const base = signedRequest();
  assert.equal(await reasonOf(base), 'ok');
  assert.equal(await reasonOf({ ...base, headers: replaced(base.headers, 'range', 'bytes=0-2097151') }), 'signature-mismatch');
  assert.equal(await reasonOf({ ...base, headers: replaced(base.headers, 'x-amz-glacier-version', '2012-06-02') }), 'signature-mismatch');
  assert.equal(await reasonOf({ ...base, path: '/-/vaults/v%20y/jobs/J1/output' }), 'signature-mismatch');
  assert.equal(await reasonOf({ ...base, method: 'DELETE' }), 'signature-mismatch');
  assert.equal(await reasonOf({ ...base, query: 'limit=6&marker=a%20b' }), 'signature-mismatch');
  assert.equal(await reasonOf({ ...base, headers: replaced(base.headers, 'x-amz-content-sha256', 'f'.repeat(64)) }), 'signature-mismatch');
  assert.equal(await reasonOf({ ...base, headers: replaced(base.headers, 'x-amz-content-sha256', 'UNSIGNED-PAYLOAD') }), 'malformed-payload-hash');
  assert.equal(await reasonOf({ ...base, headers: replaced(base.headers, 'x-amz-date', '20261202T120001Z') }), 'signature-mismatch');
  assert.equal(await reasonOf({ ...base, headers: replaced(base.headers, 'x-amz-date', '20261203T000000Z') }, { now: Date.UTC(2026, 11, 3) }), 'scope-date-mismatch');
  assert.equal(await reasonOf({ ...base, headers: replaced(base.headers, 'x-amz-date', '2026-12-02') }), 'malformed-date');
  assert.equal(await reasonOf({ ...base, headers: without(base.headers, 'x-amz-date') }), 'missing-date');
  assert.equal(await reasonOf({ ...base, headers: without(base.headers, 'range') }), 'signed-header-absent');
  assert.equal(await reasonOf(base, { now: NOW + 16 * 60_000 }), 'clock-skew');
  assert.equal(await reasonOf(base, { now: NOW - 16 * 60_000 }), 'clock-skew');
  assert.equal(await reasonOf(base, { now: NOW + 14 * 60_000 }), 'ok');
  assert.equal(await reasonOf(base, { region: 'eu-west-1' }), 'wrong-region');
  assert.equal(await reasonOf(signedRequest({ service: 's3' })), 'wrong-service');
  assert.equal(await reasonOf(signedRequest({ service: 's3' }), { services: ['glacier', 's3'] }), 'ok');
  assert.equal(await reasonOf(signedRequest({ service: '127', region: '0' }), { services: 'any' }), 'ok');
  assert.equal(await reasonOf(signedRequest({ service: '127', region: '0', secret: 'other' }), { services: 'any' }), 'signature-mismatch');
  assert.equal(await reasonOf(signedRequest({ region: 'eu-central-1' })), 'ok');
  assert.equal(await reasonOf(signedRequest({ secret: 'other' })), 'signature-mismatch');
  assert.equal(await reasonOf(base, { secretFor: () => undefined }), 'unknown-access-key');
  assert.equal(await reasonOf({ ...base, headers: without(base.headers, 'authorization') }), 'missing-authorization');
});

test('host and the date header must be signed', async () => {
  const request = { method: 'GET', path: '/-/vaults', query: '', headers: [['Host', 'h'], ['X-Custom', '1']] as Array<[string, string]> };
  const noHost = signSigV4(request, { accessKeyId: AK, secretAccessKey: SECRET }, { region: 'us-east-1', date: NOW, unsigned: ['host'] });
  assert.equal(await reasonOf({ ...request, headers: [...request.headers, ...Object.entries(noHost)] }), 'host-not-signed');
  const noDate = signSigV4(request, { accessKeyId: AK, secretAccessKey: SECRET }, { region: 'us-east-1', date: NOW, unsigned: ['x-amz-date'] });
  assert.equal(await reasonOf({ ...request, headers: [...request.headers, ...Object.entries(noDate)] }), 'date-not-signed');
});

test('a Date header in ISO basic form can stand in for x-amz-date', async () => {
  const request = { method: 'GET', path: '/-/vaults', query: '', headers: [['Host', 'h']] as Array<[string, string]> };
  const added = signSigV4(request, { accessKeyId: AK, secretAccessKey: SECRET }, { region: 'us-east-1', date: NOW, dateHeader: 'date' });
  assert.deepEqual(Object.keys(added), ['date', 'x-amz-content-sha256', 'authorization']);
  assert.match(added.authorization!, /SignedHeaders=date;host;x-amz-content-sha256,/);
  assert.equal(await reasonOf({ ...request, headers: [...request.headers, ...Object.entries(added)] }), 'ok');
});

test('without x-amz-content-sha256 the caller\'s body hash is signed and no body check is asked for', async () => {
  const body = '{"Type":"inventory-retrieval"}';
  const bodyHash = createHash('sha256').update(body).digest('hex');
  const request = { method: 'POST', path: '/-/vaults/v/jobs', query: '', headers: [['Host', 'h'], ['Content-Type', 'application/json']] as Array<[string, string]> };
  const added = signSigV4(request, { accessKeyId: AK, secretAccessKey: SECRET }, { region: 'us-east-1', date: NOW, payloadHash: bodyHash, sendPayloadHash: false });
  const signed = { ...request, headers: [...request.headers, ...Object.entries(added)] };
  const result = await verify(signed, { now: NOW, bodySha256: bodyHash });
  assert.ok(result.ok && !result.bodyCheckNeeded && result.payloadHash === bodyHash);
  // Not given the body hash, the verifier assumes an empty body, which this client did not sign.
  assert.equal(await reasonOf(signed), 'signature-mismatch');
});
