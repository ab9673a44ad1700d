// The inventory of a job initiated through the Glacier front end: Glacier's JSON or CSV
// (docs/glacier.md), with each archive's SHA-256 tree hash from its stored leaves, and the
// InventoryRetrievalParameters' date window, limit and marker. Text chunks of about 64 KiB.
import { glacierInventoryCsv, glacierInventoryJson, selectInventory, type GlacierInventoryArchive } from '@oas/sdk';
import { glacierJobFields } from '../../service/glacier-jobs.js';
import { sha256TreeOfRange } from '../../service/segments.js';
import type { JobRecord } from '../../store/meta/types.js';
import type { JobRunContext } from '../types.js';

/** Null when the job is not a Glacier one (OAS writes its own format). */
export function glacierInventory(job: JobRecord, ctx: JobRunContext, at: number | null, createdBefore: number | undefined):
  { chunks: AsyncGenerator<string>; nextMarker(): string | null } | null {
  const fields = glacierJobFields(job);
  if (fields.vaultArn === null) return null;
  const params = fields.inventory ?? { format: 'JSON' as const, startDate: null, endDate: null, limit: null, marker: null };
  async function* archives(): AsyncGenerator<GlacierInventoryArchive> {
    if (at === null) return;
    for await (const a of ctx.meta.iterateArchives(job.vaultId, createdBefore)) {
      ctx.signal.throwIfAborted();
      const treeHash = await sha256TreeOfRange(ctx.blobs, await ctx.meta.getSegments(a.id), 0, a.size - 1);
      yield { id: a.id, description: a.description, createdAt: a.createdAt, size: a.size, treeHash };
    }
  }
  const selection = selectInventory(archives(), params);
  const chunks = params.format === 'CSV' ? glacierInventoryCsv(selection.archives) : glacierInventoryJson(fields.vaultArn, at ?? ctx.now(), selection.archives);
  return { chunks, nextMarker: selection.nextMarker };
}
