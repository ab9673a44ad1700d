// archive-retrieval: re-read the stored range through the verifying reader (every 1 MiB
// leaf against the digest stored at upload time, service/verify-archive.ts). Any difference
// fails the job with a message naming the bytes; a store that cannot be reached for the
// moment does not (the engine runs the job again later). The output is later read from the
// archive's segments, again through the verifying reader, so bytes that rot after the job
// are not served either. A job initiated through the Glacier front end also gives the
// archive's segments their SHA-256 leaves when they were stored before those existed (best
// effort: DescribeJob and GetJobOutput compute them on demand anyway).
import { isTreeHashAligned, parseRange } from '@oas/sdk';
import { ensureSha256Leaves } from '../../backfill/blob-leaves.js';
import { frontEndFields } from '../../service/jobs.js';
import { ArchiveDamagedError, verifyArchiveRange } from '../../service/verify-archive.js';
import { isTransientStoreError } from '../../store/transient.js';
import { failed, type JobResult, type JobRunner } from '../types.js';

export const archiveRetrieval: JobRunner = async (job, ctx) => {
  const archive = await ctx.meta.getArchiveAnyState(job.archiveId);
  if (!archive) return failed(`archive ${job.archiveId} no longer exists`);
  const known = { archiveSize: archive.size, archiveTreeEtag: archive.treeEtag };
  const range = parseRange(job.retrievalRange);
  if (!range || range.end >= archive.size) return failed(`the retrieval range ${job.retrievalRange} is not inside the archive`, known);
  try {
    const treeEtag = await verifyArchiveRange(ctx.meta, ctx.blobs, archive, range.start, range.end, {
      signal: ctx.signal,
      ...(ctx.onCorruptRead ? { onCorrupt: (err) => ctx.onCorruptRead!(err) } : {}),
    });
    if (frontEndFields(job)?.glacier !== undefined) {
      for (const { blobKey } of await ctx.meta.getSegments(archive.id)) {
        await ensureSha256Leaves(ctx.blobs, blobKey, { signal: ctx.signal }).catch(() => ctx.signal.throwIfAborted());
      }
    }
    return {
      ...known,
      status: 'Succeeded',
      statusMessage: 'Succeeded',
      treeEtag: isTreeHashAligned(range, archive.size) ? treeEtag : '',
    } satisfies JobResult;
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    if (isTransientStoreError(err)) throw err; // the engine runs the job again later
    if (err instanceof ArchiveDamagedError) {
      return failed(`Data corruption detected: ${err.message}. The archive is damaged; the job stopped so that no corrupt data is served.`, known);
    }
    const code = (err as NodeJS.ErrnoException).code;
    return failed(`The stored data of archive ${archive.id} could not be read (${code ?? (err as Error).message}).`, known);
  }
};
