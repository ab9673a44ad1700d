// inventory-retrieval: the JSON of protocol.md §4.16 written incrementally into a blob, one archive
// at a time from iterateArchives (a vault of a million archives is never held in memory).
import { formatRfc1123, type InventoryJson } from '@oas/sdk';
import { inventoryParams } from '../../service/jobs.js';
import { VerifyingWriter } from '../../store/blob/verifying-writer.js';
import type { JobResult, JobRunner } from '../types.js';
import { checkpointWithInventoryMarker } from '../../service/glacier-jobs.js';
import { glacierInventory } from './glacier-inventory.js';

const FLUSH_AT = 64 * 1024;

export const inventoryRetrieval: JobRunner = async (job, ctx) => {
  const live = ctx.inventoryIntervalMs === null;
  const params = inventoryParams(job);
  const at = live ? ctx.now() : params?.inventoryAt ?? null;
  const writer = await VerifyingWriter.open(ctx.blobs, { signal: ctx.signal, families: ctx.leafFamilies });
  let pending = '';
  const flush = async (): Promise<void> => {
    if (pending === '') return;
    const buf = Buffer.from(pending, 'utf8');
    pending = '';
    await writer.write(buf);
  };
  try {
    const glacier = glacierInventory(job, ctx, at, live ? undefined : at ?? undefined);
    if (glacier) {
      for await (const text of glacier.chunks) {
        ctx.signal.throwIfAborted();
        await writer.write(Buffer.from(text, 'utf8'));
      }
      await writer.finish();
      const blob = await writer.commit();
      return {
        status: 'Succeeded', statusMessage: 'Succeeded', outputKey: blob.key, inventorySize: blob.size,
        checkpoint: checkpointWithInventoryMarker(job, glacier.nextMarker()),
      } satisfies JobResult;
    }
    pending += `{"VaultId":${JSON.stringify(job.vaultId)},"InventoryDate":${JSON.stringify(at === null ? '' : formatRfc1123(at))},"ArchiveList":[`;
    let first = true;
    if (at !== null) {
      // Live: every live archive now. Periodic: those created before the last inventory.
      for await (const a of ctx.meta.iterateArchives(job.vaultId, live ? undefined : at)) {
        pending += (first ? '' : ',') + JSON.stringify({
          ArchiveId: a.id, ArchiveDescription: a.description, CreationDate: formatRfc1123(a.createdAt), Size: a.size, TreeEtag: a.treeEtag,
        } satisfies InventoryJson['ArchiveList'][number]);
        first = false;
        if (pending.length >= FLUSH_AT) {
          ctx.signal.throwIfAborted();
          await flush();
        }
      }
    }
    pending += ']}';
    await flush();
    await writer.finish();
    const blob = await writer.commit();
    return { status: 'Succeeded', statusMessage: 'Succeeded', outputKey: blob.key, inventorySize: blob.size } satisfies JobResult;
  } finally {
    await writer.abort();
  }
};
