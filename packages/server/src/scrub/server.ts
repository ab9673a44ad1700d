// The server's background scrubber (--scrub, --scrub-interval, --scrub-rate): built from
// the server options, logging each check (damage as an error, a pass at debug level).
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../clock.js';
import type { ServerOptions } from '../config.js';
import type { BlobStore } from '../store/blob/types.js';
import type { MetadataStore } from '../store/meta/types.js';
import { Scrubber } from './scrubber.js';

/** MB/s as the options give it, in bytes per second. */
export const MB = 1_000_000;

export function serverScrubber(options: ServerOptions, meta: MetadataStore, blobs: BlobStore, nodeId: string, clock: Clock,
  logger: FastifyBaseLogger, idleMs?: number): Scrubber | null {
  if (!options.scrub) return null;
  return new Scrubber({
    meta, blobs, nodeId, clock,
    intervalMs: options.scrubIntervalMs,
    bytesPerSecond: options.scrubRate * MB,
    leaseMs: options.jobLeaseMs,
    ...(idleMs !== undefined ? { idleMs } : {}),
    onChecked: ({ archive, verifiedAt, damage }) => {
      const fields = { archiveId: archive.id, vaultId: archive.vaultId, bytes: archive.size, verifiedAt: new Date(verifiedAt).toISOString() };
      if (damage === null) logger.debug(fields, 'scrub: archive verified');
      else logger.error({ ...fields, damage }, `scrub: archive ${archive.id} is damaged: ${damage}`);
    },
    onError: (err, archiveId) => logger.warn({ err, archiveId }, 'scrub: check could not finish (retried later)'),
  });
}
