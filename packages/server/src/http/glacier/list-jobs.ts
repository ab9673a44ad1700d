// ListJobs in AWS's order: by initiation time, oldest first, ties by job id. The metadata
// store pages a vault's jobs by id, so the vault's jobs are read in batches and only their
// sort keys and filter fields kept (jobs expire with their output, so a vault holds few),
// then sorted; DescribeJob records are built for the page alone. The marker is the next
// job's sort key: 12 hex digits of its creation time, then its id. It stays valid when that
// job expires meanwhile (the page starts at the next key after it).
import type { ServiceContext } from '../../service/context.js';
import type { JobRecord } from '../../service/records.js';
import { GlacierFailure } from './errors.js';
import type { GlacierJobStatus } from './wire.js';

const BATCH = 1000;
const MARKER = /^[0-9A-F]{44}$/;

export interface JobFilters {
  completed?: boolean;
  status?: GlacierJobStatus;
}

/** The sort key of a job, which is also its marker. */
export function jobSortKey(job: Pick<JobRecord, 'createdAt' | 'id'>): string {
  return job.createdAt.toString(16).toUpperCase().padStart(12, '0') + job.id;
}

/** Checks a marker from the client (undefined or '' is the first page). */
export function parseJobMarker(marker: string | undefined): string | null {
  if (marker === undefined || marker === '') return null;
  if (!MARKER.test(marker)) throw new GlacierFailure({ kind: 'invalid-parameter', message: `Invalid marker: ${marker}` });
  return marker;
}

/** One page of the vault's Glacier jobs that pass the filters, in initiation order; `next` is the following page's marker. */
export async function listJobsPage(ctx: ServiceContext, vaultId: string, limit: number, marker: string | null, filters: JobFilters):
  Promise<{ jobs: JobRecord[]; next: string | null }> {
  const now = ctx.now();
  const keys: { key: string; id: string }[] = [];
  let from: string | null = null;
  do {
    const page = await ctx.meta.listJobs(vaultId, from, BATCH, now);
    for (const job of page.items) {
      if (job.type !== 'archive-retrieval' && job.type !== 'inventory-retrieval') continue; // OAS's OSS transfers
      if (filters.completed !== undefined && (job.status !== 'InProgress') !== filters.completed) continue;
      if (filters.status !== undefined && job.status !== filters.status) continue;
      const key = jobSortKey(job);
      if (marker === null || key >= marker) keys.push({ key, id: job.id });
    }
    from = page.next;
  } while (from !== null);
  keys.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const jobs: JobRecord[] = [];
  for (const { id } of keys.slice(0, limit)) {
    const job = await ctx.meta.getJob(vaultId, id, now);
    if (job) jobs.push(job); // (one that expired since the listing is left out)
  }
  return { jobs, next: keys.length > limit ? keys[limit]!.key : null };
}
