// The server's background SHA-256 backfill (--backfill, paced by --scrub-rate): one pass,
// about a minute after start so the server serves first, logging each blob and a summary.
// Once every blob has its leaves a pass only looks them up; new blobs get theirs at write.
// A server with the Glacier front end off needs no SHA-256 leaves and runs no pass.
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../clock.js';
import type { ServerOptions } from '../config.js';
import { MB } from '../scrub/server.js';
import type { BlobStore } from '../store/blob/types.js';
import type { MetadataStore } from '../store/meta/types.js';
import { Backfiller } from './backfiller.js';

/** Wait after start-up before the background pass. */
export const BACKFILL_DELAY_MS = 60_000;

export function serverBackfiller(options: ServerOptions, meta: MetadataStore, blobs: BlobStore, clock: Clock,
  logger: FastifyBaseLogger): Backfiller | null {
  if (!options.backfill || !options.glacier) return null;
  return new Backfiller({
    meta, blobs, clock,
    bytesPerSecond: options.scrubRate * MB,
    onAdded: ({ blobKey, owner, bytes }) => logger.debug({ blobKey, owner, bytes }, 'backfill: SHA-256 leaves added'),
    onFailed: ({ blobKey, owner, kind, message }) => {
      if (kind === 'damaged') logger.error({ blobKey, owner }, `backfill: ${owner} is damaged, no SHA-256 leaves added: ${message}`);
      else logger.warn({ blobKey, owner }, `backfill: ${owner} could not be read (next start retries): ${message}`);
    },
  });
}

/** Starts the pass after `delayMs`; logs its summary. */
export function startServerBackfill(backfiller: Backfiller, logger: FastifyBaseLogger, delayMs = BACKFILL_DELAY_MS): void {
  backfiller.start(delayMs, (r) => {
    const fields = { blobs: r.blobs, added: r.added, bytes: r.bytes, failed: r.failed.length };
    if (r.added > 0 || r.failed.length > 0) logger.info(fields, 'backfill: pass finished');
    else logger.debug(fields, 'backfill: pass finished, nothing to do');
  }, (err) => logger.warn({ err }, 'backfill: pass stopped by an error (next start retries)'));
}
