// The service's records as the Glacier wire records of wire.ts: vaults by name, jobs with
// their SHA-256 tree hashes (computed from the stored SHA-256 leaves, never from the data),
// and the Glacier fields a job keeps beside the service's own (Tier, SNSTopic, inventory
// parameters).
import { isTreeHashAligned, parseRange } from '@oas/sdk';
import type { ServiceContext } from '../../service/context.js';
import { glacierJobFields } from '../../service/glacier-jobs.js';
import type { JobRecord, VaultInfo } from '../../service/records.js';
import { sha256TreeOfRange } from '../../service/segments.js';
import type { GlacierJobRecord, GlacierJobStatus, GlacierVaultRecord } from './wire.js';

export function vaultRecord(info: VaultInfo): GlacierVaultRecord {
  return { name: info.name, createdAt: info.createdAt, lastInventoryAt: info.inventoryAt, archiveCount: info.archiveCount, sizeInBytes: info.sizeBytes };
}

/** The SHA-256 tree hash of an archive range from its stored leaves (null: stored before they existed). */
export async function archiveRangeTreeHash(ctx: ServiceContext, archiveId: string, start: number, end: number): Promise<string | null> {
  return sha256TreeOfRange(ctx.blobs, await ctx.meta.getSegments(archiveId), start, end);
}

/** A job the Glacier API can show (its two job types), with every field DescribeJob needs. */
export async function jobRecord(ctx: ServiceContext, job: JobRecord): Promise<GlacierJobRecord | null> {
  if (job.type !== 'archive-retrieval' && job.type !== 'inventory-retrieval') return null;
  const fields = glacierJobFields(job);
  const base = {
    id: job.id, type: job.type, description: job.description === '' ? null : job.description, createdAt: job.createdAt,
    status: job.status as GlacierJobStatus, statusMessage: job.statusMessage === '' ? null : job.statusMessage,
    completedAt: job.completedAt, snsTopic: fields.snsTopic,
  };
  if (job.type === 'inventory-retrieval') {
    return {
      ...base, tier: null, archiveId: null, archiveSize: null, archiveTreeHash: null, retrievalRange: null, rangeTreeHash: null,
      inventorySize: job.inventorySize >= 0 ? job.inventorySize : null,
      inventory: fields.inventory ?? { format: 'JSON', startDate: null, endDate: null, limit: null, marker: null },
    };
  }
  const archive = await ctx.meta.getArchiveAnyState(job.archiveId);
  const size = archive?.size ?? (job.archiveSize >= 0 ? job.archiveSize : null);
  const range = parseRange(job.retrievalRange);
  const whole = size !== null && range !== null && range.start === 0 && range.end === size - 1;
  const archiveTreeHash = size === null ? null : await archiveRangeTreeHash(ctx, job.archiveId, 0, size - 1);
  let rangeTreeHash: string | null = null;
  if (size !== null && range !== null && !whole && isTreeHashAligned(range, size)) {
    rangeTreeHash = await archiveRangeTreeHash(ctx, job.archiveId, range.start, range.end);
  }
  return {
    ...base, tier: fields.tier ?? 'Standard', archiveId: job.archiveId, archiveSize: size, archiveTreeHash,
    retrievalRange: whole ? null : range, rangeTreeHash, inventorySize: null, inventory: null,
  };
}
