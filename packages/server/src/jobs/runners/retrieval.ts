// archive-retrieval: re-read the stored range through the verifying reader (every 1 MiB
// leaf against the digest stored at upload time). Any difference fails the job with a
// message naming the bytes. The output is later read from the archive's segments, again
// through the verifying reader, so bytes that rot after the job are not served either.
import { TreeEtagBuilder, isTreeHashAligned, parseRange } from '@oas/sdk';
import type { ArchiveRecord } from '../../store/meta/types.js';
import { totalSize } from '../../service/segments.js';
import { CorruptDataError, readVerified } from '../../store/blob/verifying-reader.js';
import { failed, type JobResult, type JobRunContext, type JobRunner } from '../types.js';

class Corruption extends Error {}

export const archiveRetrieval: JobRunner = async (job, ctx) => {
  const archive = await ctx.meta.getArchiveAnyState(job.archiveId);
  if (!archive) return failed(`archive ${job.archiveId} no longer exists`);
  const known = { archiveSize: archive.size, archiveTreeEtag: archive.treeEtag };
  const range = parseRange(job.retrievalRange);
  if (!range || range.end >= archive.size) return failed(`the retrieval range ${job.retrievalRange} is not inside the archive`, known);
  try {
    const treeEtag = await verifyRange(ctx, archive, range.start, range.end);
    const whole = range.start === 0 && range.end === archive.size - 1;
    if (whole && treeEtag !== archive.treeEtag) {
      throw new Corruption(`the stored data of archive ${archive.id} does not match its tree etag ${archive.treeEtag} (computed ${treeEtag})`);
    }
    return {
      ...known,
      status: 'Succeeded',
      statusMessage: 'Succeeded',
      treeEtag: isTreeHashAligned(range, archive.size) ? treeEtag : '',
    } satisfies JobResult;
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    if (err instanceof Corruption) return failed(`Data corruption detected: ${err.message}. The job stopped so that no corrupt data is served.`, known);
    const code = (err as NodeJS.ErrnoException).code;
    return failed(`The stored data of archive ${archive.id} could not be read (${code ?? (err as Error).message}).`, known);
  }
};

/** Reads and checks archive bytes start..end through the verifying reader; returns the tree etag of the range. */
async function verifyRange(ctx: JobRunContext, archive: ArchiveRecord, start: number, end: number): Promise<string> {
  const segments = await ctx.meta.getSegments(archive.id);
  const stored = totalSize(segments);
  if (stored !== archive.size) throw new Corruption(`archive ${archive.id} has ${stored} stored bytes, expected ${archive.size}`);
  const tree = new TreeEtagBuilder();
  const bytes = readVerified(ctx.blobs, segments, start, end, {
    label: `archive ${archive.id}`, signal: ctx.signal,
    onLeaf: (digest) => tree.push(digest.toString('hex')),
    ...(ctx.onCorruptRead ? { onCorrupt: (err) => ctx.onCorruptRead!(err) } : {}),
  });
  let read = 0;
  try {
    for await (const chunk of bytes) read += (chunk as Buffer).byteLength;
  } catch (err) {
    ctx.signal.throwIfAborted();
    if (err instanceof CorruptDataError) throw new Corruption(err.message);
    throw err;
  }
  if (read !== end - start + 1) throw new Corruption(`bytes ${start}-${end} of archive ${archive.id}: ${read} bytes could be read`);
  return tree.digest();
}
