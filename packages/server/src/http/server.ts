// The HTTP plumbing every wire protocol shares: fastify with raw bodies, request ids,
// per-request state, one log line and metrics per request, /health and /metrics, the
// shutdown refusal, and errors rendered by the front end whose route matched (the first
// front end for paths no protocol knows).
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { formatRfc1123, newId } from '@oas/sdk/protocol';
import { UnavailableError } from '../service/errors.js';
import type { Metrics } from '../metrics.js';
import { applyConnectionLimits, headersTimeoutError, isHeadersTimeout, type ConnectionLimits } from './connections.js';
import { deferContinue } from './continue.js';
import { HttpError } from './errors.js';
import type { FrontEnd } from './frontend.js';
import { newState, parseTarget, sendJson } from './state.js';
import type { TlsPair } from './tls.js';

export interface HttpServerOptions {
  logger: FastifyBaseLogger;
  /** Log one line per request (info level and below). */
  logRequests: boolean;
  /** The front ends, tried in order; the first answers requests no front end recognises. */
  frontEnds: FrontEnd[];
  metrics: Metrics;
  /** The /metrics text (job counts come from the store). */
  renderMetrics(): Promise<string>;
  /** True once shutdown began: new requests are refused, connections close. */
  isClosing(): boolean;
  /** Registers what answers before any front end routes (the web console's static files). */
  beforeRouting?(app: FastifyInstance): void;
  /** Timeouts and the connection limit (http/connections.ts). */
  connections: ConnectionLimits;
  /** Serve HTTPS with this certificate and key (http/tls.ts). */
  tls?: TlsPair | undefined;
}

export interface HttpServer {
  app: FastifyInstance;
  /** Handler calls still running (shutdown waits for them). */
  inflight: Set<Promise<unknown>>;
}

/** A complete error response for sockets fastify never sees (parse errors, CONNECT). */
function rawResponse(fe: FrontEnd, err: Error, requestId: string): { text: string; status: number; bytes: number } {
  const r = fe.rawError(err, requestId);
  return {
    status: r.status,
    bytes: Buffer.byteLength(r.body),
    text: `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? 'Error'}\r\nContent-Type: ${r.contentType}\r\nContent-Length: ${Buffer.byteLength(r.body)}\r\n` +
      `${fe.requestIdHeader}: ${requestId}\r\nDate: ${formatRfc1123()}\r\nConnection: close\r\n\r\n${r.body}`,
  };
}

const OPEN_ROUTES: Record<string, string> = { '/health': 'Health', '/metrics': 'Metrics' };

export function createHttpServer(opts: HttpServerOptions): HttpServer {
  const { metrics, frontEnds } = opts;
  const fallback = frontEnds[0]!;
  const inflight = new Set<Promise<unknown>>();
  const frontEndOf = new WeakMap<FastifyRequest, FrontEnd>();
  const feOf = (req: FastifyRequest) => frontEndOf.get(req) ?? fallback;
  const sendError = (req: FastifyRequest, reply: FastifyReply, err: unknown) => {
    req.call ??= newState();
    return feOf(req).sendError(req, reply, err);
  };

  const app = Fastify({
    loggerInstance: opts.logger,
    // One line per request comes from the onResponse hook, not from fastify.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    bodyLimit: Number.MAX_SAFE_INTEGER,
    exposeHeadRoutes: false,
    return503OnClosing: false,
    requestIdHeader: false,
    genReqId: () => newId(),
    requestTimeout: 0,
    connectionTimeout: 0,
    // A request without Host is answered like any other (a protocol error), not by node's bare 400.
    ...(opts.tls ? { https: { ...opts.tls, requireHostHeader: false } } : { http: { requireHostHeader: false } }),
    frameworkErrors: (err, req, reply) => {
      req.call ??= newState();
      req.call.op = 'BadRequest';
      void sendError(req, reply, new HttpError('bad-request', err.message));
    },
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
        socket.destroy();
        return;
      }
      const timedOut = isHeadersTimeout(err);
      if (timedOut) metrics.connectionTimedOut('headers');
      const res = rawResponse(fallback, timedOut ? headersTimeoutError(opts.connections)
        : new HttpError('bad-request', `the request could not be parsed (${err.code ?? 'bad request'})`), newId());
      metrics.observe(timedOut ? 'RequestTimeout' : 'BadRequest', res.status, 0, 0, res.bytes);
      socket.end(res.text);
    },
  });

  // CONNECT never reaches fastify: answer it here, as a protocol error.
  app.server.on('connect', (_req, socket: Socket) => {
    const res = rawResponse(fallback, new HttpError('method-not-allowed', 'CONNECT is not supported'), newId());
    metrics.observe('MethodNotAllowed', res.status, 0, 0, res.bytes);
    socket.on('error', () => socket.destroy());
    socket.end(res.text);
  });
  // An Expect other than 100-continue would get node's bare 417 (no protocol error, no
  // request id); RFC 9110 lets a server ignore it, so the request goes through like any other.
  app.server.on('checkExpectation', (req, res) => app.server.emit('request', req, res));
  deferContinue(app.server);
  applyConnectionLimits(app.server, opts.connections, {
    timedOut: (reason) => metrics.connectionTimedOut(reason),
    refused: () => metrics.connectionRefused(),
  });

  app.decorateRequest('call', null as never);
  opts.beforeRouting?.(app);
  // Bodies are never parsed by fastify: every Content-Type (or none) passes the raw
  // stream through to the handler untouched.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  app.addHook('onRequest', async (req, reply) => {
    req.call = newState();
    const { path, query } = parseTarget(req.raw.url);
    req.call.path = path;
    req.call.query = query;
    const method = req.raw.method ?? 'GET';
    let route = null;
    for (const fe of frontEnds) {
      route = fe.match(method, path, query);
      if (route) {
        frontEndOf.set(req, fe);
        break;
      }
    }
    reply.header(feOf(req).requestIdHeader, req.id);
    // The Content-Type of a request means nothing to these protocols (the SDK sends none, even for JSON).
    delete req.headers['content-type'];
    checkTransferCoding(req.headers['transfer-encoding']);
    if (opts.isClosing()) {
      reply.header('connection', 'close');
      throw new UnavailableError('the server is shutting down');
    }
    if (!route) {
      const open = OPEN_ROUTES[path];
      if (open && method === 'GET') {
        req.call.op = open;
        return;
      }
      req.call.op = open ? 'MethodNotAllowed' : 'NotFound';
      throw open ? new HttpError('method-not-allowed', `${method} is not allowed on ${path}; allowed: GET`) : new HttpError('no-route', 'no such resource');
    }
    req.call.op = route.op;
    if ('error' in route) throw route.error;
    req.call.params = route.params;
    if (route.auth) await feOf(req).authenticate(req);
  });

  // Callback-style hooks: no promise per request on the hot path.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (opts.isClosing()) reply.header('connection', 'close');
    done(null, payload);
  });

  app.addHook('onResponse', (req, reply, done) => {
    const state = req.call ?? newState();
    const ms = reply.elapsedTime;
    metrics.observe(state.op, reply.statusCode, ms / 1000, state.bytesIn, state.bytesOut);
    if (opts.logRequests) {
      req.log.info({
        operation: state.op, method: req.raw.method, status: reply.statusCode,
        bytesIn: state.bytesIn, bytesOut: state.bytesOut, durationMs: Math.round(ms * 10) / 10,
      }, 'request');
    }
    done();
  });

  app.setErrorHandler((err, req, reply) => {
    const sent = sendError(req, reply, err);
    // A server fault (not the client's mistake, not the shutdown refusal) is logged with the request id.
    if (reply.statusCode >= 500 && !(err instanceof UnavailableError)) {
      req.log.error({ err, operation: req.call?.op }, 'request failed');
    }
    return sent;
  });

  app.setNotFoundHandler((req, reply) => sendError(req, reply, new HttpError('no-route', 'no such resource')));

  const dispatch = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    switch (req.call.op) {
      case 'Health':
        return sendJson(reply, 200, { status: opts.isClosing() ? 'closing' : 'ok' });
      case 'Metrics': {
        const text = Buffer.from(await opts.renderMetrics());
        req.call.bytesOut = text.byteLength;
        return reply.code(200).header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(text);
      }
      default: {
        const handler = feOf(req).handlers[req.call.op];
        if (!handler) throw new HttpError('no-route', 'no such resource');
        const p = handler(req, reply);
        inflight.add(p);
        try {
          return await p;
        } finally {
          inflight.delete(p);
        }
      }
    }
  };
  app.all('*', dispatch);
  return { app, inflight };
}

/**
 * node de-chunks a body but decodes no other transfer coding: `gzip, chunked` would reach
 * the handlers as compressed bytes. Such a request is refused as the client's mistake
 * (400; RFC 9112 suggests 501, but nothing on the server failed).
 */
function checkTransferCoding(value: string | undefined): void {
  if (value === undefined) return;
  const codings = value.split(',').map((c) => c.trim().toLowerCase()).filter(Boolean);
  const other = codings.filter((c) => c !== 'chunked');
  if (other.length > 0) {
    throw new HttpError('bad-request', `Transfer-Encoding ${other.join(', ')} is not supported: send the body as it is (with Content-Length), or only chunked`);
  }
}
