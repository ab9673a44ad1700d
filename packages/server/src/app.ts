// The server's lifecycle: opens the stores, cleans up, ensures the root key, then starts
// the HTTP plumbing with its front ends (http/server.ts, http/oas/), the job engine and
// the housekeeping timers (housekeeping.ts); close() takes it all down in order. Used by
// main.ts and, in-process on port 0, by the tests.
import type { Server as HttpsServer } from 'node:https';
import { hostname } from 'node:os';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { newId } from '@oas/sdk/protocol';
import { systemClock, type Clock } from './clock.js';
import { DEFAULT_OPTIONS, type ServerOptions } from './config.js';
import { startHousekeeping } from './housekeeping.js';
import { registerConsole } from './http/console.js';
import { glacierFrontEnd } from './http/glacier/index.js';
import { glacierJobNotifications, type JobNotifications } from './http/glacier/job-notifications.js';
import { JobNotifier, parseNotifyMapping } from './http/glacier/notify.js';
import { oasFrontEnd } from './http/oas/index.js';
import { createHttpServer } from './http/server.js';
import { loadTlsPair, reloadTls, type TlsFiles } from './http/tls.js';
import { JobEngine } from './jobs/engine.js';
import { inventoryRetrieval } from './jobs/runners/inventory.js';
import { ossTransferRunners } from './jobs/runners/oss.js';
import { loadOssHosts, type OssHostInput } from './oss-config.js';
import { archiveRetrieval } from './jobs/runners/retrieval.js';
import type { JobRunners } from './jobs/types.js';
import { startupCleanup, type CleanupReport } from './maintenance.js';
import { createLogger } from './logging.js';
import type { Scrubber } from './scrub/scrubber.js';
import { serverScrubber } from './scrub/server.js';
import type { Backfiller } from './backfill/backfiller.js';
import { serverBackfiller, startServerBackfill } from './backfill/server.js';
import { Metrics } from './metrics.js';
import { ensureRootKey, keyLookup, type RootKeyResult } from './service/accounts.js';
import { releaseHashWorker, retainHashWorker } from './util/checksum.js';
import type { ServiceContext } from './service/context.js';
import { localDirsOf, openSpaceGuard, type SpaceGuard } from './service/space.js';
import { MD5_LEAVES, STORED_LEAF_FAMILIES } from './store/blob/leaf-families.js';
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
  /** First pause before a job that met a transient store failure runs again (tests shorten it). */
  jobRetryDelayMs?: number;
  /** Do not start the job engine (tests that inspect jobs before they run). */
  startJobs?: boolean;
  /**
   * Other nodes may share the stores (default: true for PostgreSQL metadata, false for
   * SQLite or given stores): no start-up sweep of unreferenced blobs, see maintenance.ts.
   */
  sharedStores?: boolean;
  /** Grace of the orphan-blob sweep in shared mode (default 15 minutes; tests shorten it). */
  orphanGraceMs?: number;
  /** The server's time (default: the system clock; tests move a clock by hand). */
  clock?: Clock;
  /** Longest wait of the scrubber between looks for due or new archives (tests). */
  scrubIdleMs?: number;
  /** Wait before the background SHA-256 backfill pass (default a minute; tests shorten it). */
  backfillDelayMs?: number;
}

export interface OasServer {
  app: FastifyInstance;
  /** `http(s)://host:port` the server listens on. */
  url: string;
  host: string;
  port: number;
  options: ServerOptions;
  meta: MetadataStore;
  blobs: BlobStore;
  engine: JobEngine;
  /** The background scrubber (null with --scrub off). */
  scrubber: Scrubber | null;
  /** The background SHA-256 backfill (null with --backfill off). */
  backfiller: Backfiller | null;
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
  /** HTTPS only: reads --tls-cert / --tls-key again for new connections (SIGHUP); rejects, keeping the old pair, if they do not load. */
  reloadTls(): Promise<void>;
  /** Takes a periodic inventory snapshot now (--inventory-interval mode). */
  snapshotInventories(): Promise<void>;
  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs` (default: the
   * shutdown-grace option), aborts the rest (their uploads store nothing), stops the job
   * engine and closes the stores. Safe to call more than once.
   */
  close(graceMs?: number): Promise<void>;
}

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
    // Stores given by the caller are theirs to watch.
    const space = await openSpaceGuard(localDirsOf(given.meta ? null : metaSpec, given.blobs ? null : blobsSpec), options.minFree);
    return await start(given, options, stores.meta, stores.blobs, backends, space);
  } catch (err) {
    await stores.meta.close().catch(() => undefined);
    await stores.blobs.close().catch(() => undefined);
    throw err;
  }
}

async function start(given: CreateServerOptions, options: ServerOptions, meta: MetadataStore, blobs: BlobStore,
  backends: OasServer['backends'], space: SpaceGuard | null): Promise<OasServer> {
  const clock = given.clock ?? systemClock;
  // A bad OSS host configuration or TLS pair stops the start before anything else happens.
  const ossHosts = await loadOssHosts({ file: options.ossConfigFile, specs: options.ossHostSpecs, hosts: given.ossHosts });
  const tlsFiles: TlsFiles | null = options.tlsCert !== undefined && options.tlsKey !== undefined
    ? { certFile: options.tlsCert, keyFile: options.tlsKey } : null;
  const tls = tlsFiles ? await loadTlsPair(tlsFiles) : undefined;
  const cleanup = await startupCleanup(meta, blobs, clock.now(), { shared: backends.shared, leftoversSafe: backends.leftoversSafe });
  const rootKey = await ensureRootKey(meta, options.rootAccessKeyId, options.rootAccessKeySecret, clock.now());
  if (options.inventoryIntervalMs !== null) await meta.snapshotInventories(clock.now());

  const log = createLogger(options.logLevel);
  const logger = log.logger as FastifyBaseLogger;
  const metrics = new Metrics();
  if (rootKey.kind === 'configured' && (rootKey.updated || rootKey.retired.length > 0)) {
    logger.warn({ accessKeyId: rootKey.accessKeyId, secretReplaced: rootKey.updated, retiredKeys: rootKey.retired },
      'root key rotated from the environment: the previous root key no longer works');
  }
  const onCorruptRead = (err: CorruptDataError): void => {
    logger.error({ what: err.label, blobKey: err.blobKey, bytes: `${err.start}-${err.end}`, reason: err.reason }, `stored data failed verification: ${err.message}`);
    metrics.readVerifyFailed();
  };
  const nodeId = `${hostname()}:${process.pid}:${newId().slice(0, 8)}`;
  // Glacier job notifications (--notify): only when some topic maps to a URL.
  let notifications: JobNotifications | null = null;
  // The SHA-256 leaves only the Glacier front end reads are not computed when it is off.
  const leafFamilies = options.glacier ? STORED_LEAF_FAMILIES : [MD5_LEAVES];
  const engine = new JobEngine({
    meta, blobs, nodeId, leafFamilies,
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
    now: () => clock.now(),
    onError: (err, job) => logger.error({ err, jobId: job?.id }, 'job engine error'),
    onCorruptRead,
    space,
    onFinished: (job) => notifications?.onFinished(job),
    onRetry: (err, job, delayMs) => logger.warn({ err, jobId: job.id, attempt: job.attempts, retryInMs: delayMs }, 'job met a transient storage failure; it runs again later'),
    ...(given.jobRetryDelayMs !== undefined ? { retryDelayMs: given.jobRetryDelayMs } : {}),
  });
  const scrubber = serverScrubber(options, meta, blobs, nodeId, clock, logger, given.scrubIdleMs);
  const backfiller = serverBackfiller(options, meta, blobs, clock, logger);
  const ctx: ServiceContext = {
    meta, blobs,
    limits: { maxVaults: options.maxVaults, inventoryIntervalMs: options.inventoryIntervalMs, jobDelayMs: options.jobDelayMs },
    now: () => clock.now(),
    nudgeJobs: () => engine.nudge(),
    isOssHostAllowed: (ossHost) => ossHosts.has(ossHost),
    space,
    onCorruptRead,
    leafFamilies,
  };
  if (options.notifySpecs.length > 0) {
    const notifier = new JobNotifier(options.notifySpecs.map(parseNotifyMapping), { log: (message) => logger.warn(message) });
    notifications = glacierJobNotifications(ctx, notifier, (err, job) => logger.error({ err, jobId: job.id }, 'job notification failed'));
  }

  let closing = false;
  const lookupKey = keyLookup(meta, options.keyCacheMs, () => clock.now());
  const { app, inflight } = createHttpServer({
    logger,
    logRequests: ['info', 'debug', 'trace'].includes(options.logLevel),
    frontEnds: [
      oasFrontEnd(ctx, { lookupKey, maxSkewMs: options.maxSkewMs, now: () => clock.now() }),
      glacierFrontEnd(ctx, {
        lookupKey, maxSkewMs: options.maxSkewMs, now: () => clock.now(), region: options.glacierRegion, tierDelays: options.glacierTierDelays,
        turnedOff: !options.glacier,
      }),
    ],
    metrics,
    renderMetrics: async () => metrics.render(await meta.countJobsByStatus().catch(() => null), engine.activeJobs)
      + (scrubber ? await scrubber.metricsText() : ''),
    isClosing: () => closing,
    beforeRouting: (fastify) => registerConsole(fastify, options.console),
    connections: options,
    tls,
  });

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const urlHost = options.host.includes(':') ? `[${options.host}]` : options.host;

  const housekeeping = startHousekeeping({
    meta, blobs, now: () => clock.now(),
    jobOutputTtlMs: options.jobOutputTtlMs,
    inventoryIntervalMs: options.inventoryIntervalMs,
    shared: backends.shared,
    leftoversSafe: backends.leftoversSafe,
    orphanGraceMs: given.orphanGraceMs ?? 15 * 60_000,
    onError: (err, what) => logger.error({ err }, what),
  });

  if (given.startJobs !== false) engine.start();
  scrubber?.start();
  if (backfiller) startServerBackfill(backfiller, logger, given.backfillDelayMs);
  retainHashWorker();

  let closed: Promise<void> | null = null;
  const close = (graceMs = options.shutdownGraceMs): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      housekeeping.stop();
      const appClosed = app.close();
      const finished = await Promise.race([appClosed.then(() => true), clock.sleep(graceMs).then(() => false)]);
      if (!finished) {
        // Grace is over: cut the remaining connections. Their uploads see a short body
        // and abort their temporary blobs.
        app.server.closeAllConnections();
      }
      await appClosed;
      await Promise.allSettled([...inflight]);
      await engine.stop();
      await notifications?.close(); // best effort: retries still pending are given up
      await scrubber?.stop();
      await backfiller?.stop();
      await meta.close();
      await blobs.close();
      await releaseHashWorker(); // no leaf hash thread outlives the last server
      log.flush();
    })();
    return closed;
  };

  return {
    app, url: `${tls ? 'https' : 'http'}://${urlHost}:${port}`, host: options.host, port, options, meta, blobs, engine, scrubber, backfiller, metrics,
    rootKey, cleanup, backends, close,
    reloadTls: async () => {
      if (!tlsFiles) throw new Error('the server does not serve HTTPS (no --tls-cert)');
      await reloadTls(app.server as unknown as HttpsServer, tlsFiles);
    },
    sweepOrphans: housekeeping.sweepOrphans, runMaintenance: housekeeping.runMaintenance, snapshotInventories: housekeeping.snapshotInventories,
  };
}
