// archive-retrieval: re-read the stored range, hash every 1 MiB leaf and compare it with
// the leaf digest stored at upload time. Any difference fails the job with a message
// naming the bytes, so corrupt data is never served. The output is then read straight
// from the archive's segments.
import { ChecksumHasher, MIB, TreeEtagBuilder, isTreeHashAligned, parseRange } from '@oas/sdk';
import type { ArchiveRecord } from '../../store/meta/types.js';
import { spansOf, totalSize } from '../../service/segments.js';
import { failed, type JobResult, type JobRunContext, type JobRunner } from '../types.js';

/** Leaves checked per read (1 GiB of data, 16 KiB of digests). */
const LEAVES_PER_READ = 1024;

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

/** Reads and checks archive bytes start..end; returns the tree etag of the range. */
async function verifyRange(ctx: JobRunContext, archive: ArchiveRecord, start: number, end: number): Promise<string> {
  const segments = await ctx.meta.getSegments(archive.id);
  const stored = totalSize(segments);
  if (stored !== archive.size) throw new Corruption(`archive ${archive.id} has ${stored} stored bytes, expected ${archive.size}`);
  const tree = new TreeEtagBuilder();
  for (const span of spansOf(segments, start, end)) {
    const key = span.segment.blobKey;
    for (let from = span.from; from <= span.to; from += LEAVES_PER_READ * MIB) {
      ctx.signal.throwIfAborted();
      const to = Math.min(span.to, from + LEAVES_PER_READ * MIB - 1);
      const firstLeaf = from / MIB;
      const count = Math.floor(to / MIB) - firstLeaf + 1;
      const expected = await ctx.blobs.readLeaves(key, firstLeaf, count);
      const describe = (i: number) => {
        const a = span.offset + from + i * MIB;
        return `bytes ${a}-${Math.min(a + MIB - 1, span.offset + to)} of archive ${archive.id}`;
      };
      if (expected.byteLength !== count * 16) throw new Corruption(`the checksums stored for ${describe(0)} onwards are missing`);
      let leaves = 0;
      const hasher = new ChecksumHasher((digest, i) => {
        if (!digest.equals(expected.subarray(i * 16, i * 16 + 16))) throw new Corruption(`${describe(i)} do not match their stored checksum`);
        tree.push(digest.toString('hex'));
        leaves++;
      });
      const stream = ctx.blobs.read(key, from, to);
      const onAbort = () => stream.destroy();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const chunk of stream) hasher.update(chunk as Buffer);
      } finally {
        ctx.signal.removeEventListener('abort', onAbort);
        stream.destroy();
      }
      ctx.signal.throwIfAborted();
      const { size } = hasher.digest();
      if (size !== to - from + 1 || leaves !== count) {
        throw new Corruption(`${describe(0)} onwards: ${size} bytes could be read, expected ${to - from + 1}`);
      }
    }
  }
  return tree.digest();
}
