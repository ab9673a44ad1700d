// Assembles the server: stores, start-up cleanup, the root key, fastify with the OAS
// routes, the job engine and the housekeeping timers. Used by main.ts and, in-process on
// port 0, by the tests.
import { hostname } from 'node:os';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { OASError, formatRfc1123, newId } from '@oas/sdk/protocol';
import { DEFAULT_OPTIONS, type ServerOptions } from './config.js';
import { authenticate, keyLookup } from './http/auth.js';
import { registerConsole } from './http/console.js';
import { errorBody, sendError } from './http/errors.js';
import { buildHandlers, type Handler } from './http/handlers.js';
import { matchRoute } from './http/routes.js';
import { newState, parseTarget, sendJson } from './http/state.js';
import { JobEngine } from './jobs/engine.js';
import { inventoryRetrieval } from './jobs/runners/inventory.js';
import { ossTransferRunners } from './jobs/runners/oss.js';
import { loadOssHosts, type OssHostInput } from './oss-config.js';
import { archiveRetrieval } from './jobs/runners/retrieval.js';
import type { JobRunners } from './jobs/types.js';
import { OrphanSweeper, purgeExpired, startupCleanup, type CleanupReport } from './maintenance.js';
import { createLogger } from './logging.js';
import { Metrics } from './metrics.js';
import { ensureRootKey, type RootKeyResult } from './service/accounts.js';
import { releaseHashWorker, retainHashWorker } from './util/checksum.js';
import type { ServiceContext } from './service/context.js';
import type { BlobStore } from './store/blob/types.js';
import type { CorruptDataError } from './store/blob/verifying-reader.js';
import { describeBlobs, describeMetadata, isSharedMetadata, leftoversSafeWhenShared, openBlobs, openMetadata, parseBlobsUri, parseMetadataUri } from './store/open.js';
import type { MetadataStore } from './store/meta/types.js';

export interface CreateServerOptions extends Partial<ServerOptions> {
  /** Stores to use instead of the embedded ones under dataDir (the server closes them). */
  meta?: MetadataStore;
  blobs?: BlobStore;
  /** Job runners replacing the built-in ones (e.g. OSS transfers). */
  runners?: Partial<JobRunners>;
  /** OSS hosts transfer jobs may use, by OSSHost (added to --oss-config / --oss-host ones). */
  ossHosts?: Record<string, OssHostInput>;
  /** Job engine tuning (tests). */
  jobPollMs?: number;
  jobLeaseMs?: number;
  /** Do not start the job engine (tests that inspect jobs before they run). */
  startJobs?: boolean;
  /**
   * Other nodes may share the stores (default: true for PostgreSQL metadata, false for
   * SQLite or given stores): no start-up sweep of unreferenced blobs, see maintenance.ts.
   */
  sharedStores?: boolean;
  /** Grace of the orphan-blob sweep in shared mode (default 15 minutes; tests shorten it). */
  orphanGraceMs?: number;
}

export interface OasServer {
  app: FastifyInstance;
  /** `http://host:port` the server listens on. */
  url: string;
  host: string;
  port: number;
  options: ServerOptions;
  meta: MetadataStore;
  blobs: BlobStore;
  engine: JobEngine;
  metrics: Metrics;
  /** What happened to the root key at start-up (generated keys are printed by main). */
  rootKey: RootKeyResult;
  cleanup: CleanupReport;
  /** The metadata and blob stores in use, for logs (no passwords). */
  backends: { metadata: string; blobs: string; shared: boolean; leftoversSafe: boolean };
  /** Shared mode only: one orphan-blob sweep now (also on a timer); returns blobs deleted. */
  sweepOrphans(): Promise<number>;
  /** Purges expired jobs and unneeded deleted archives now (also runs on a timer). */
  runMaintenance(): Promise<number>;
  /** Takes a periodic inventory snapshot now (--inventory-interval mode). */
  snapshotInventories(): Promise<void>;
  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs` (default: the
   * shutdown-grace option), aborts the rest (their uploads store nothing), stops the job
   * engine and closes the stores. Safe to call more than once.
   */
  close(graceMs?: number): Promise<void>;
}

/** A complete error response for sockets fastify never sees (parse errors, CONNECT). */
function rawResponse(status: number, reason: string, requestId: string, body: string): string {
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `x-oas-request-id: ${requestId}\r\nDate: ${formatRfc1123()}\r\nConnection: close\r\n\r\n${body}`;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export async function createServer(given: CreateServerOptions = {}): Promise<OasServer> {
  const options: ServerOptions = { ...DEFAULT_OPTIONS };
  for (const [k, v] of Object.entries(given)) if (v !== undefined && k in DEFAULT_OPTIONS) (options as unknown as Record<string, unknown>)[k] = v;
  options.rootAccessKeyId = given.rootAccessKeyId;
  options.rootAccessKeySecret = given.rootAccessKeySecret;

  const metaSpec = parseMetadataUri(options.metadataUri, options);
  const blobsSpec = parseBlobsUri(options.blobsUri, options);
  const backends = {
    metadata: given.meta ? 'given' : describeMetadata(metaSpec),
    blobs: given.blobs ? 'given' : describeBlobs(blobsSpec),
    shared: given.sharedStores ?? (given.meta ? false : isSharedMetadata(metaSpec)),
    leftoversSafe: !given.blobs && leftoversSafeWhenShared(blobsSpec),
  };
  let meta = given.meta;
  let blobs = given.blobs;
  meta ??= await openMetadata(metaSpec);
  try {
    blobs ??= await openBlobs(blobsSpec);
  } catch (err) {
    await meta.close();
    throw err;
  }
  const stores = { meta, blobs };
  try {
    return await start(given, options, stores.meta, stores.blobs, backends);
  } catch (err) {
    await stores.meta.close().catch(() => undefined);
    await stores.blobs.close().catch(() => undefined);
    throw err;
  }
}

async function start(given: CreateServerOptions, options: ServerOptions, meta: MetadataStore, blobs: BlobStore,
  backends: OasServer['backends']): Promise<OasServer> {
  // A bad OSS host configuration stops the start before anything else happens.
  const ossHosts = await loadOssHosts({ file: options.ossConfigFile, specs: options.ossHostSpecs, hosts: given.ossHosts });
  const cleanup = await startupCleanup(meta, blobs, Date.now(), { shared: backends.shared, leftoversSafe: backends.leftoversSafe });
  const rootKey = await ensureRootKey(meta, options.rootAccessKeyId, options.rootAccessKeySecret);
  if (options.inventoryIntervalMs !== null) await meta.snapshotInventories(Date.now());

  const metrics = new Metrics();
  const onCorruptRead = (err: CorruptDataError): void => {
    app.log.error({ what: err.label, blobKey: err.blobKey, bytes: `${err.start}-${err.end}`, reason: err.reason }, `stored data failed verification: ${err.message}`);
    metrics.readVerifyFailed();
  };
  const nodeId = `${hostname()}:${process.pid}:${newId().slice(0, 8)}`;
  const engine = new JobEngine({
    meta, blobs, nodeId,
    runners: {
      'archive-retrieval': archiveRetrieval,
      'inventory-retrieval': inventoryRetrieval,
      ...ossTransferRunners(ossHosts),
      ...given.runners,
    },
    concurrency: options.jobConcurrency,
    outputTtlMs: options.jobOutputTtlMs,
    inventoryIntervalMs: options.inventoryIntervalMs,
    ...(given.jobPollMs !== undefined ? { pollMs: given.jobPollMs } : {}),
    leaseMs: options.jobLeaseMs,
    onError: (err, job) => app.log.error({ err, jobId: job?.id }, 'job engine error'),
    onCorruptRead,
  });
  const ctx: ServiceContext = {
    meta, blobs,
    limits: { maxVaults: options.maxVaults, inventoryIntervalMs: options.inventoryIntervalMs, jobDelayMs: options.jobDelayMs },
    now: Date.now,
    nudgeJobs: () => engine.nudge(),
    isOssHostAllowed: (ossHost) => ossHosts.has(ossHost),
    onCorruptRead,
  };
  const handlers: Record<string, Handler> = buildHandlers(ctx);
  const lookupKey = keyLookup(meta, options.keyCacheMs);

  let closing = false;
  const inflight = new Set<Promise<unknown>>();

  const log = createLogger(options.logLevel);
  const app = Fastify({
    loggerInstance: log.logger as FastifyBaseLogger,
    // One line per request comes from the onResponse hook, not from fastify.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    bodyLimit: Number.MAX_SAFE_INTEGER,
    exposeHeadRoutes: false,
    return503OnClosing: false,
    requestIdHeader: false,
    genReqId: () => newId(),
    requestTimeout: 0,
    connectionTimeout: 0,
    // A request without Host is answered like any other (an OAS error), not by node's bare 400.
    http: { requireHostHeader: false },
    frameworkErrors: (err, req, reply) => {
      req.oas ??= newState();
      req.oas.op = 'BadRequest';
      sendError(req, reply, OASError.of('InvalidArgument', err.message));
    },
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
        socket.destroy();
        return;
      }
      const id = newId();
      const body = errorBody(OASError.of('InvalidArgument', `the request could not be parsed (${err.code ?? 'bad request'})`), id);
      metrics.observe('BadRequest', 400, 0, 0, Buffer.byteLength(body));
      socket.end(rawResponse(400, 'Bad Request', id, body));
    },
  });

  // CONNECT never reaches fastify: answer it here, as an OAS error.
  app.server.on('connect', (_req, socket: Socket) => {
    const id = newId();
    const body = errorBody(OASError.of('MethodNotAllowed', 'CONNECT is not supported'), id);
    metrics.observe('MethodNotAllowed', 405, 0, 0, Buffer.byteLength(body));
    socket.on('error', () => socket.destroy());
    socket.end(rawResponse(405, 'Method Not Allowed', id, body));
  });
  // An Expect other than 100-continue would get node's bare 417 (no OAS error, no request
  // id); RFC 9110 lets a server ignore it, so the request goes through like any other.
  app.server.on('checkExpectation', (req, res) => app.server.emit('request', req, res));

  app.decorateRequest('oas', null as never);
  registerConsole(app, options.console);
  // Bodies are never parsed by fastify: every Content-Type (or none) passes the raw
  // stream through to the handler untouched.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  app.addHook('onRequest', async (req, reply) => {
    req.oas = newState();
    reply.header('x-oas-request-id', req.id);
    // The Content-Type of a request means nothing to OAS (the SDK sends none, even for JSON).
    delete req.headers['content-type'];
    if (closing) {
      reply.header('connection', 'close');
      throw OASError.of('ServiceUnavailable', 'the server is shutting down');
    }
    const { path, query } = parseTarget(req.raw.url);
    req.oas.path = path;
    req.oas.query = query;
    const match = matchRoute(req.raw.method ?? 'GET', path);
    req.oas.op = match.op;
    if ('error' in match) throw match.error;
    req.oas.params = match.params;
    if (match.auth) {
      const auth = await authenticate(req, lookupKey, Date.now(), options.maxSkewMs);
      req.oas.account = auth.account;
      req.oas.oasHeaders = auth.oasHeaders;
    }
  });

  // Callback-style hooks: no promise per request on the hot path.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  const logRequests = ['info', 'debug', 'trace'].includes(options.logLevel);
  app.addHook('onResponse', (req, reply, done) => {
    const state = req.oas ?? newState();
    const ms = reply.elapsedTime;
    metrics.observe(state.op, reply.statusCode, ms / 1000, state.bytesIn, state.bytesOut);
    if (logRequests) {
      req.log.info({
        operation: state.op, method: req.raw.method, status: reply.statusCode,
        bytesIn: state.bytesIn, bytesOut: state.bytesOut, durationMs: Math.round(ms * 10) / 10,
      }, 'request');
    }
    done();
  });

  app.setErrorHandler((err, req, reply) => {
    const status = (err as { statusCode?: number }).statusCode;
    if (!(err instanceof OASError) && !(typeof status === 'number' && status < 500)) {
      req.log.error({ err, operation: req.oas?.op }, 'request failed');
    }
    req.oas ??= newState();
    return sendError(req, reply, err);
  });

  app.setNotFoundHandler((req, reply) => {
    req.oas ??= newState();
    return sendError(req, reply, OASError.of('NotFound', 'no such resource'));
  });

  const dispatch = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    switch (req.oas.op) {
      case 'Health':
        return sendJson(reply, 200, { status: closing ? 'closing' : 'ok' });
      case 'Metrics': {
        const jobs = await meta.countJobsByStatus().catch(() => null);
        const text = Buffer.from(metrics.render(jobs, engine.activeJobs));
        req.oas.bytesOut = text.byteLength;
        return reply.code(200).header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(text);
      }
      default: {
        const handler = handlers[req.oas.op];
        if (!handler) throw OASError.of('NotFound', 'no such resource');
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

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const urlHost = options.host.includes(':') ? `[${options.host}]` : options.host;

  const purgeEvery = Math.min(Math.max(options.jobOutputTtlMs, 1000), 60_000);
  const runMaintenance = () => purgeExpired(meta, blobs, Date.now());
  const purgeTimer = setInterval(() => {
    runMaintenance().catch((err: unknown) => app.log.error({ err }, 'purge failed'));
  }, purgeEvery);
  purgeTimer.unref();
  // Shared stores: orphan blobs are collected by mark and sweep over time, not at start-up.
  const orphanGraceMs = given.orphanGraceMs ?? 15 * 60_000;
  const sweeper = new OrphanSweeper(meta, blobs, orphanGraceMs, backends.leftoversSafe);
  const sweepOrphans = () => (backends.shared ? sweeper.sweep(Date.now()) : Promise.resolve(0));
  const sweepTimer = backends.shared ? setInterval(() => {
    sweepOrphans().catch((err: unknown) => app.log.error({ err }, 'orphan sweep failed'));
  }, orphanGraceMs) : null;
  sweepTimer?.unref();
  const snapshotInventories = () => meta.snapshotInventories(Date.now());
  const snapshotTimer = options.inventoryIntervalMs === null ? null : setInterval(() => {
    snapshotInventories().catch((err: unknown) => app.log.error({ err }, 'inventory snapshot failed'));
  }, options.inventoryIntervalMs);
  snapshotTimer?.unref();

  if (given.startJobs !== false) engine.start();
  retainHashWorker();

  let closed: Promise<void> | null = null;
  const close = (graceMs = options.shutdownGraceMs): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      clearInterval(purgeTimer);
      if (sweepTimer) clearInterval(sweepTimer);
      if (snapshotTimer) clearInterval(snapshotTimer);
      const appClosed = app.close();
      const finished = await Promise.race([appClosed.then(() => true), delay(graceMs).then(() => false)]);
      if (!finished) {
        // Grace is over: cut the remaining connections. Their uploads see a short body
        // and abort their temporary blobs.
        app.server.closeAllConnections();
      }
      await appClosed;
      await Promise.allSettled([...inflight]);
      await engine.stop();
      await meta.close();
      await blobs.close();
      await releaseHashWorker(); // no leaf hash thread outlives the last server
      log.flush();
    })();
    return closed;
  };

  return {
    app, url: `http://${urlHost}:${port}`, host: options.host, port, options, meta, blobs, engine, metrics,
    rootKey, cleanup, backends, sweepOrphans, runMaintenance, snapshotInventories, close,
  };
}
