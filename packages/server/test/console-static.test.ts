// The console's static files at /console/: content types, caching, redirects, no way out of
// the file set, and --console off.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerConsole } from '../src/http/console.js';
import { parseServeArgs, helpText } from '../src/config.js';
import { rawRequest } from './helpers/raw.js';
import { startServer, tempDir } from './helpers/server.js';

let dir: string;
let app: FastifyInstance;
let port: number;

before(async () => {
  dir = await tempDir('oas-console-static-');
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>c</title>');
  await writeFile(join(dir, 'main-ABCDEFGH.js'), 'console.log(1)');
  await writeFile(join(dir, 'style-ABCDEFGH.css'), 'body{}');
  await writeFile(join(dir, 'sub', 'x.svg'), '<svg/>');
  await writeFile(join(dir, '..', 'oas-console-secret.txt'), 'secret');
  app = Fastify();
  app.decorateRequest('oas', null as never);
  registerConsole(app, true, dir);
  app.all('*', async (_req, reply) => reply.code(418).send('fell through'));
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
after(async () => {
  await app.close();
  await rm(dir, { recursive: true, force: true });
  await rm(join(dir, '..', 'oas-console-secret.txt'), { force: true });
});

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${port}${path}`, { headers, redirect: 'manual' });

test('the page, scripts and styles have their content types and cache rules', async () => {
  const page = await get('/console/');
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.match(await page.text(), /<title>c<\/title>/);
  assert.equal((await get('/console/index.html')).status, 200);
  const js = await get('/console/main-ABCDEFGH.js');
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal((await get('/console/style-ABCDEFGH.css')).headers.get('content-type'), 'text/css; charset=utf-8');
  assert.equal((await get('/console/sub/x.svg')).headers.get('content-type'), 'image/svg+xml');
});

test('an unchanged file is 304 with its etag', async () => {
  const first = await get('/console/');
  const etag = first.headers.get('etag')!;
  assert.ok(etag);
  const again = await get('/console/', { 'if-none-match': etag });
  assert.equal(again.status, 304);
});

test('/console redirects to /console/ keeping the query', async () => {
  const res = await get('/console?x=1');
  assert.equal(res.status, 301);
  assert.equal(res.headers.get('location'), '/console/?x=1');
});

test('no path leaves the built files', async () => {
  for (const path of ['/console/../oas-console-secret.txt', '/console/%2e%2e/oas-console-secret.txt', '/console/..%2foas-console-secret.txt',
    '/console/sub/../../oas-console-secret.txt', '/console//etc/passwd', '/console/missing.js']) {
    const res = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, 404, path);
    assert.doesNotMatch(res.body.toString(), /secret/, path);
  }
});

test('other methods are 405; other paths fall through to OAS routing', async () => {
  const res = await fetch(`http://127.0.0.1:${port}/console/`, { method: 'POST' });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'GET, HEAD');
  assert.equal((await get('/consolex')).status, 418);
  assert.equal((await get('/vaults')).status, 418);
});

test('--console off and OAS_CONSOLE=off disable it; a bad value is a clear error', async () => {
  assert.equal(parseServeArgs([], {}).options.console, true);
  assert.equal(parseServeArgs(['--console', 'off'], {}).options.console, false);
  assert.equal(parseServeArgs([], { OAS_CONSOLE: 'off' }).options.console, false);
  assert.equal(parseServeArgs(['--console', 'on'], { OAS_CONSOLE: 'off' }).options.console, true);
  assert.throws(() => parseServeArgs(['--console', 'maybe'], {}), /--console: "maybe" \(expected on or off\)/);
  assert.match(helpText(), /--console <value>\s+serve the web console at \/console\/ \(on or off\) \(default on, env OAS_CONSOLE\)/);
  const ts = await startServer({ console: false });
  try {
    const res = await fetch(`${ts.server.url}/console/`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { code: string }).code, 'NotFound');
  } finally {
    await ts.close();
  }
});

test('an unbuilt console says how to build it', async () => {
  const bare = Fastify();
  bare.decorateRequest('oas', null as never);
  registerConsole(bare, true, join(dir, 'no-such-dist'));
  try {
    const res = await bare.inject({ method: 'GET', url: '/console/' });
    assert.equal(res.statusCode, 404);
    assert.match(res.body, /The console is not built: run `npm run build`/);
  } finally {
    await bare.close();
  }
});
