// What a job initiated through the Glacier front end keeps beside the service's own record
// (JobRequest.frontEnd, key `glacier`): Tier, SNSTopic, the inventory's format and
// parameters, and the vault's ARN its inventory output names. The inventory runner and the
// front end both read it from here.
import { frontEndFields } from './jobs.js';
import type { JobRecord } from './records.js';

export interface GlacierInventoryFields {
  format: 'JSON' | 'CSV';
  startDate: number | null;
  endDate: number | null;
  limit: number | null;
  marker: string | null;
}

export interface GlacierJobFields {
  tier: 'Expedited' | 'Standard' | 'Bulk' | null;
  snsTopic: string | null;
  inventory: GlacierInventoryFields | null;
  vaultArn: string | null;
}

/** The Glacier fields of a job; all null for a job made through OAS. */
export function glacierJobFields(job: JobRecord): GlacierJobFields {
  const f = (frontEndFields(job)?.glacier ?? {}) as Partial<GlacierJobFields>;
  return { tier: f.tier ?? null, snsTopic: f.snsTopic ?? null, inventory: f.inventory ?? null, vaultArn: f.vaultArn ?? null };
}

/** What InitiateJob stores (JobRequest.frontEnd). */
export function glacierFrontEnd(fields: GlacierJobFields): Record<string, unknown> {
  return { glacier: fields };
}

/**
 * The checkpoint text of a finished inventory job whose listing stopped at its Limit: the
 * job's inventory Marker becomes the continuation marker (null when nothing is left), as
 * DescribeJob reports it.
 */
export function checkpointWithInventoryMarker(job: JobRecord, marker: string | null): string {
  const parsed = JSON.parse(job.checkpoint) as { frontEnd?: { glacier?: Partial<GlacierJobFields> } };
  const inventory = parsed.frontEnd?.glacier?.inventory;
  if (inventory) inventory.marker = marker;
  return JSON.stringify(parsed);
}
