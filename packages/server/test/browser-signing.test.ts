// Requests signed the way a browser must sign them (the web console): no Date header (fetch
// may not set it), x-oas-date instead, HMAC from WebCrypto.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { authorizationFor, formatRfc1123 } from '@oas/sdk';
import { ROOT_ID, ROOT_SECRET, startServer, type TestServer } from './helpers/server.js';

let ts: TestServer;
before(async () => { ts = await startServer(); });
after(async () => { await ts.close(); });

async function webCryptoHmac(secret: string, text: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  return Buffer.from(await crypto.subtle.sign('HMAC', key, enc.encode(text))).toString('base64');
}

async function browserGet(path: string, secret: string, date = formatRfc1123()): Promise<{ status: number; body: any }> {
  const headers: Array<[string, string]> = [['x-oas-date', date]];
  const authorization = await authorizationFor(webCryptoHmac, ROOT_ID, secret, 'GET', headers, path);
  const res = await fetch(`http://127.0.0.1:${ts.port}${path}`, { headers: { ...Object.fromEntries(headers), authorization } });
  return { status: res.status, body: await res.json() };
}

test('a request signed with x-oas-date and no Date header is accepted', async () => {
  const res = await browserGet('/vaults', ROOT_SECRET);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.ok(Array.isArray(res.body.VaultList));
});

test('a wrong secret is SignatureDoesNotMatch', async () => {
  const res = await browserGet('/vaults', 'not-the-secret');
  assert.equal(res.status, 403);
  assert.equal(res.body.code, 'SignatureDoesNotMatch');
});

test('x-oas-date is checked for skew and format like Date', async () => {
  const old = await browserGet('/vaults', ROOT_SECRET, formatRfc1123(Date.now() - 3_600_000));
  assert.equal(old.body.code, 'RequestTimeTooSkewed');
  assert.match(old.body.message, /x-oas-date/);
  const bad = await browserGet('/vaults', ROOT_SECRET, 'yesterday');
  assert.equal(bad.body.code, 'AccessDenied');
  assert.match(bad.body.message, /x-oas-date/);
});
