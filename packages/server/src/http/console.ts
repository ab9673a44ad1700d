// The web console (packages/console): its built static files at /console/ on the OAS port.
// It adds no data API: the page signs ordinary OAS requests in the browser. Files are read
// once at start-up into a map, so a request can only ever get one of them (no path is
// joined with user input) and `/console` without the slash redirects to `/console/`.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { newState, splitTarget } from './state.js';

/**
 * The built console: packages/console/dist in the repository (the same distance from
 * src/http/ and dist/http/), else the copy a packed @oas/server carries in console/.
 */
export const CONSOLE_DIST = [
  new URL('../../../console/dist/', import.meta.url),
  new URL('../../console/', import.meta.url),
].map((url) => fileURLToPath(url)).find((dir) => existsSync(join(dir, 'index.html')))
  ?? fileURLToPath(new URL('../../../console/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml', png: 'image/png', json: 'application/json', ico: 'image/x-icon', map: 'application/json',
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; "
    + "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
  cache: string;
}

function loadFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (sub: string): void => {
    for (const name of readdirSync(join(dir, sub))) {
      const rel = sub ? `${sub}/${name}` : name;
      if (statSync(join(dir, rel)).isDirectory()) { walk(rel); continue; }
      const body = readFileSync(join(dir, rel));
      const ext = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
      files.set(rel, {
        body,
        type: TYPES[ext] ?? 'application/octet-stream',
        etag: `"${createHash('sha1').update(body).digest('base64url')}"`,
        // Bundles carry a content hash in their names (build.mjs); the page itself does not.
        cache: /-[A-Z0-9]{8}\.(js|css)$/.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
    }
  };
  try { walk(''); } catch { files.clear(); }
  return files;
}

function notBuilt(reply: FastifyReply): void {
  reply.code(404).header('content-type', 'text/plain; charset=utf-8')
    .send('The console is not built: run `npm run build` in the repository, then restart oas-server.\n');
}

/**
 * Serves the console when `enabled`. Registered before the routing hook, it answers
 * /console requests itself, so they never reach a front end's routing or authentication.
 */
export function registerConsole(app: FastifyInstance, enabled: boolean, dir = CONSOLE_DIST): void {
  if (!enabled) return;
  const files = loadFiles(dir);
  app.addHook('onRequest', (req, reply, done) => {
    const url = req.raw.url ?? '/';
    if (!url.startsWith('/console')) { done(); return; }
    const { path, rawQuery } = splitTarget(url);
    if (path !== '/console' && !path.startsWith('/console/')) { done(); return; }
    req.call = { ...newState(), op: 'Console', path };
    reply.headers(SECURITY_HEADERS);
    const method = req.raw.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      reply.code(405).header('allow', 'GET, HEAD').header('content-type', 'text/plain; charset=utf-8').send('Method Not Allowed\n');
      return;
    }
    if (path === '/console') {
      reply.redirect(`/console/${rawQuery ? `?${rawQuery}` : ''}`, 301);
      return;
    }
    if (files.size === 0) { notBuilt(reply); return; }
    const file = files.get(path.slice('/console/'.length) || 'index.html');
    if (!file) {
      reply.code(404).header('content-type', 'text/plain; charset=utf-8').send('Not Found\n');
      return;
    }
    reply.header('etag', file.etag).header('cache-control', file.cache);
    if (req.headers['if-none-match'] === file.etag) { reply.code(304).send(); return; }
    req.call.bytesOut = file.body.byteLength;
    reply.code(200).header('content-type', file.type).send(method === 'HEAD' ? undefined : file.body);
  });
}
