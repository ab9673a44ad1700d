// pull-from-oss: stream an object of a configured S3-compatible store into a new archive.
//
// The bytes go straight from the GET response into blobs of 4 GiB (the largest multipart
// part, so every backend handles them like parts; more for objects over 256 GiB, to keep at
// most 64 writes open), hashed on the way: leaf digests and tree etag as for an upload,
// plus whatever checks the object's ETag (its MD5, or the part MD5s behind a multipart
// ETag). The blobs stay uncommitted writes until the whole object arrived and matched:
// then they are committed (fsync) and the archive is inserted with them as its segments in
// one transaction, so a committed blob is unreferenced only for that moment (the orphan
// sweep of shared stores relies on it). Anything else aborts or deletes them. A broken
// download resumes from the byte it reached (Range + If-Match, so a changed object is
// noticed); the archive id is chosen up front and kept in the job's checkpoint, so a run
// after a restart that finds the archive already inserted just reports it.
import { createHash, type Hash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, type HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { MAX_ARCHIVE_SIZE, MAX_PART_SIZE, MIB, TransferError, TreeEtagBuilder, newId } from '@oas/sdk/protocol';
import type { OssHostConfig, OssHosts } from '../../oss-config.js';
import { createArchive } from '../../service/archives.js';
import { discardBlob } from '../../service/blobs.js';
import { isStorageFull } from '../../service/errors.js';
import type { LeafFamily } from '../../store/blob/leaf-families.js';
import type { BlobStore } from '../../store/blob/types.js';
import { VerifyingWriter } from '../../store/blob/verifying-writer.js';
import type { ArchiveRecord, JobRecord, Segment } from '../../store/meta/types.js';
import { failed, type JobResult, type JobRunContext, type JobRunner } from '../types.js';
import {
  FinalTransferError, abortableSleep, backoffMs, createOssClient, describeError, isMd5Etag, isTransient,
  multipartEtag, multipartEtagParts, normalizeEtag, ossName, withRetry, type OssClient,
} from './oss-client.js';

/** The blobs a pulled archive is split into: 4 GiB (whole MiB but the last)... */
export const PULL_SEGMENT_BYTES = MAX_PART_SIZE;
/** ...or more, so that at most this many writes are open at once. */
const MAX_OPEN_SEGMENTS = 64;

export function pullSegmentBytes(size: number): number {
  return Math.max(PULL_SEGMENT_BYTES, Math.ceil(size / MAX_OPEN_SEGMENTS / MIB) * MIB);
}
/** At most this many guessed part sizes are hashed to check a multipart ETag. */
const MAX_PART_GUESSES = 3;

interface PullCheckpoint {
  /** The id the new archive gets (chosen before the first byte is read). */
  archiveId: string;
}

function parseCheckpoint(text: string): PullCheckpoint | null {
  try {
    const value = JSON.parse(text) as Partial<PullCheckpoint>;
    return typeof value?.archiveId === 'string' ? { archiveId: value.archiveId } : null;
  } catch {
    return null;
  }
}

function done(archive: ArchiveRecord, statusMessage: string): JobResult {
  return { status: 'Succeeded', statusMessage, archiveId: archive.id, archiveSize: archive.size, archiveTreeEtag: archive.treeEtag };
}

/**
 * `segmentBytesFor` picks the blob size for an object of `size` bytes (a whole number of MiB);
 * tests pass a small one to split a small object the way a large one is split.
 */
export function pullFromOss(hosts: OssHosts, segmentBytesFor: (size: number) => number = pullSegmentBytes): JobRunner {
  return async (job, ctx) => {
    const host = hosts.get(job.ossHost);
    if (!host) return failed(`The OSS host ${job.ossHost} is not configured on this server (any more); nothing was copied.`);
    let checkpoint = parseCheckpoint(job.checkpoint);
    if (checkpoint) {
      // A previous run may have inserted the archive just before the server stopped.
      const archive = await ctx.meta.getArchiveAnyState(checkpoint.archiveId);
      if (archive) return done(archive, 'Succeeded');
    } else {
      checkpoint = { archiveId: newId() };
      if (!(await ctx.saveCheckpoint(JSON.stringify(checkpoint)))) throw new Error(`lost the lease of job ${job.id}`);
    }
    const client = createOssClient(host);
    try {
      return await pull(job, ctx, client, checkpoint.archiveId, segmentBytesFor);
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      if (err instanceof FinalTransferError) return failed(`${err.message}. No archive was created.`);
      throw err;
    } finally {
      client.destroy();
    }
  };
}

async function pull(job: JobRecord, ctx: JobRunContext, client: OssClient, archiveId: string,
  segmentBytesFor: (size: number) => number): Promise<JobResult> {
  const { host } = client;
  const source = ossName(job.ossHost, job.bucket, job.object);
  const what = `Reading ${source}`;
  const head = await withRetry(host, what, ctx.signal, () => headObject(client, job, ctx.signal));
  const size = head.ContentLength ?? -1;
  if (!Number.isSafeInteger(size) || size < 0) throw new FinalTransferError(`${what} failed: the store did not say how large the object is`);
  if (size === 0) throw new FinalTransferError(`${source} is empty, and zero-byte archives are not supported`);
  if (size > MAX_ARCHIVE_SIZE) throw new FinalTransferError(`${source} has ${size} bytes, more than the largest archive (${MAX_ARCHIVE_SIZE} bytes)`);
  await ctx.space?.checkUpload(size).catch((err: unknown) => {
    throw new FinalTransferError(`${source} was not copied: ${(err as Error).message}`);
  });
  const etag = normalizeEtag(head.ETag);
  const plan = host.verifyEtag ? await planCheck(client, job, ctx.signal, etag, size) : { kind: 'none' as const };

  const segmentBytes = segmentBytesFor(size);
  const sink = new SegmentSink(ctx.blobs, size, segmentBytes, ctx.signal, ctx.leafFamilies);
  const check = new EtagCheck(plan, size, segmentBytes);
  let stored = false;
  try {
    for await (const chunk of objectChunks(client, job, head.ETag, size, ctx.signal, what)) {
      check.update(chunk);
      await sink.write(chunk);
    }
    const { treeEtag, firstSegmentEtag } = await sink.finish();
    const verdict = check.verdict(firstSegmentEtag);
    if (verdict.mismatch) {
      throw new FinalTransferError(`Checksum mismatch: ${source} has ETag ${etag}, but the ${size} bytes received give ${verdict.mismatch}`
        + ' (the object is corrupt at the source, or the data was damaged on the way); run the job again, or check the object');
    }
    ctx.signal.throwIfAborted();
    const segments = await sink.commit();
    ctx.signal.throwIfAborted();
    let archive: ArchiveRecord;
    try {
      archive = (await createArchive(ctx, { id: archiveId, vaultId: job.vaultId, description: archiveDescription(job), size, treeEtag }, { segments }))!;
    } catch (err) {
      if (isStorageFull(err)) throw err; // the job's message says so
      throw new FinalTransferError(`The copied data could not be recorded as an archive (${(err as Error).message}); was the vault deleted?`);
    }
    stored = true;
    return done(archive, verdict.note ? `Succeeded (${verdict.note})` : 'Succeeded');
  } finally {
    if (!stored) await sink.discard(ctx);
  }
}

/**
 * HEAD, and when it is refused a one-byte GET: answers to HEAD have no body, the GET's error
 * says what is wrong (NoSuchBucket or NoSuchKey, AccessDenied or InvalidAccessKeyId).
 */
async function headObject(client: OssClient, job: JobRecord, signal: AbortSignal): Promise<HeadObjectCommandOutput> {
  try {
    return await client.s3.send(new HeadObjectCommand({ Bucket: job.bucket, Key: job.object }), { abortSignal: signal });
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === undefined || status < 400 || status >= 500) throw err;
    const probe = await client.s3.send(new GetObjectCommand({ Bucket: job.bucket, Key: job.object, Range: 'bytes=0-0' }), { abortSignal: signal });
    (probe.Body as { destroy?: () => void } | undefined)?.destroy?.();
    throw err;
  }
}

/**
 * The object's bytes from `offset` on, resuming after transient failures with a ranged
 * GET conditional on the ETag. Gives up after maxAttempts failures without progress.
 */
async function* objectChunks(client: OssClient, job: JobRecord, etag: string | undefined, size: number, signal: AbortSignal, what: string): AsyncGenerator<Buffer> {
  const { host } = client;
  let offset = 0;
  let failures = 0;
  while (offset < size) {
    const before = offset;
    let body: (AsyncIterable<Buffer> & { destroy?: () => void }) | undefined;
    try {
      const res = await client.s3.send(new GetObjectCommand({
        Bucket: job.bucket, Key: job.object,
        ...(etag ? { IfMatch: etag } : {}),
        ...(offset > 0 ? { Range: `bytes=${offset}-${size - 1}` } : {}),
      }), { abortSignal: signal });
      body = res.Body as typeof body;
      if (!body) throw new TransferError('the store sent no body');
      if (res.ContentLength !== undefined && res.ContentLength !== size - offset) {
        throw new FinalTransferError(`${what} failed: the store sent ${res.ContentLength} bytes where ${size - offset} were expected (the object changed while it was being copied); start the job again`);
      }
      for await (const chunk of body) {
        if (offset + chunk.byteLength > size) throw new FinalTransferError(`${what} failed: the store sent more than the object's ${size} bytes`);
        offset += chunk.byteLength;
        yield chunk;
      }
      if (offset < size) throw new TransferError(`the download ended after ${offset} of ${size} bytes`);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (offset > before) failures = 0;
      failures++;
      if (!isTransient(err) || failures >= host.maxAttempts) throw new FinalTransferError(describeError(err, host, what, failures));
      await abortableSleep(backoffMs(host, failures), signal);
    } finally {
      body?.destroy?.();
    }
  }
}

// ---- ETag checks ----------------------------------------------------------------------

type Plan =
  | { kind: 'none'; note?: string }
  | { kind: 'md5'; etag: string }
  /** A multipart ETag: the part sizes to try (authoritative: told by the store). */
  | { kind: 'multipart'; etag: string; parts: number; guesses: { partSize: number; authoritative: boolean }[] };

/** How the object's ETag can be checked against the bytes. */
async function planCheck(client: OssClient, job: JobRecord, signal: AbortSignal, etag: string, size: number): Promise<Plan> {
  if (isMd5Etag(etag)) return { kind: 'md5', etag };
  const parts = multipartEtagParts(etag);
  if (parts === null) return { kind: 'none', note: etag ? `its ETag ${etag} is not MD5-based, so only its size was checked` : 'the store sent no ETag, so only the size was checked' };
  if (parts === 1) return { kind: 'multipart', etag, parts, guesses: [{ partSize: size, authoritative: true }] };
  const guesses: { partSize: number; authoritative: boolean }[] = [];
  // Stores that know their part sizes say so for a HEAD of part 1 (AWS, MinIO, OSS).
  try {
    const first = await client.s3.send(new HeadObjectCommand({ Bucket: job.bucket, Key: job.object, PartNumber: 1 }), { abortSignal: signal });
    const p = first.ContentLength ?? 0;
    if (first.PartsCount === parts && p > 0 && p < size && Math.ceil(size / p) === parts) guesses.push({ partSize: p, authoritative: true });
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    // Not supported: guess below.
  }
  // Otherwise: tools upload equal parts of whole MiB but the last; try the sizes that fit.
  const lo = Math.ceil(size / parts);
  const hi = Math.floor((size - 1) / (parts - 1));
  const fits: number[] = [];
  for (let m = Math.ceil(lo / MIB); m * MIB <= hi && fits.length < 4096; m++) fits.push(m * MIB);
  const rank = (p: number) => ((p / MIB) & (p / MIB - 1)) === 0 ? 0 : (p / MIB) % 5 === 0 ? 1 : 2;
  fits.sort((a, b) => rank(a) - rank(b) || a - b);
  for (const p of fits) {
    if (guesses.length >= MAX_PART_GUESSES) break;
    if (!guesses.some((g) => g.partSize === p)) guesses.push({ partSize: p, authoritative: false });
  }
  return { kind: 'multipart', etag, parts, guesses };
}

/** MD5s of consecutive parts of `partSize` bytes. */
class PartMd5s {
  readonly md5s: string[] = [];
  private hash: Hash = createHash('md5');
  private fill = 0;

  constructor(readonly partSize: number) {}

  update(chunk: Buffer): void {
    for (let at = 0; at < chunk.byteLength;) {
      const take = Math.min(this.partSize - this.fill, chunk.byteLength - at);
      this.hash.update(take === chunk.byteLength ? chunk : chunk.subarray(at, at + take));
      this.fill += take;
      at += take;
      if (this.fill === this.partSize) this.close();
    }
  }

  finish(): string[] {
    if (this.fill > 0) this.close();
    return this.md5s;
  }

  private close(): void {
    this.md5s.push(this.hash.digest('hex'));
    this.hash = createHash('md5');
    this.fill = 0;
  }
}

class EtagCheck {
  private readonly whole: Hash | null;
  private readonly guesses: { hasher: PartMd5s; authoritative: boolean }[];

  constructor(private readonly plan: Plan, size: number, segmentBytes: number) {
    // An object of one segment: the segment hasher's MD5 is the object's.
    this.whole = plan.kind === 'md5' && size > segmentBytes ? createHash('md5') : null;
    this.guesses = plan.kind === 'multipart' ? plan.guesses.map((g) => ({ hasher: new PartMd5s(g.partSize), authoritative: g.authoritative })) : [];
  }

  update(chunk: Buffer): void {
    this.whole?.update(chunk);
    for (const g of this.guesses) g.hasher.update(chunk);
  }

  /** `mismatch`: what the data gives instead; `note`: what could not be checked. */
  verdict(firstSegmentEtag: string): { mismatch?: string; note?: string } {
    const plan = this.plan;
    if (plan.kind === 'none') return plan.note ? { note: plan.note } : {};
    if (plan.kind === 'md5') {
      const got = this.whole ? this.whole.digest('hex') : firstSegmentEtag.toLowerCase();
      return got === plan.etag ? {} : { mismatch: `MD5 ${got}` };
    }
    let authoritative: string | null = null;
    for (const g of this.guesses) {
      const got = multipartEtag(g.hasher.finish());
      if (got === plan.etag) return {};
      if (g.authoritative) authoritative ??= got;
    }
    if (authoritative) return { mismatch: `multipart ETag ${authoritative}` };
    return { note: `its multipart ETag ${plan.etag} could not be checked: the sizes of its ${plan.parts} parts are unknown` };
  }
}

// ---- segments ----------------------------------------------------------------------

/**
 * Writes the bytes into blobs of `segmentBytes` through verifying writers, collecting the
 * tree etag. The blobs are committed only by commit(), after the caller checked the whole
 * object.
 */
class SegmentSink {
  /** Finished (checked) writers, not yet committed. */
  private readonly written: VerifyingWriter[] = [];
  private readonly committed: Segment[] = [];
  private readonly tree = new TreeEtagBuilder();
  private writer: VerifyingWriter | null = null;
  private total = 0;
  private firstEtag = '';

  constructor(private readonly blobs: BlobStore, private readonly size: number, private readonly segmentBytes: number,
    private readonly signal: AbortSignal, private readonly families?: readonly LeafFamily[]) {}

  async write(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.byteLength;) {
      this.writer ??= await VerifyingWriter.open(this.blobs, {
        // The first segment's MD5 is the object's when it is the only one.
        contentEtag: this.written.length === 0, sizeHint: Math.min(this.segmentBytes, this.size - this.total), signal: this.signal,
        families: this.families,
      });
      const take = Math.min(this.segmentBytes - this.writer.bytesReceived, chunk.byteLength - at);
      await this.writer.write(take === chunk.byteLength ? chunk : chunk.subarray(at, at + take));
      this.total += take;
      at += take;
      if (this.writer.bytesReceived === this.segmentBytes) await this.close();
    }
  }

  /** Ends the last segment; the tree etag of everything and the MD5 of the first segment. */
  async finish(): Promise<{ treeEtag: string; firstSegmentEtag: string }> {
    if (this.writer) await this.close();
    if (this.total !== this.size) throw new FinalTransferError(`received ${this.total} bytes, expected ${this.size}`);
    return { treeEtag: this.tree.digest(), firstSegmentEtag: this.firstEtag };
  }

  /** Makes every segment durable; returns them in order. */
  async commit(): Promise<Segment[]> {
    while (this.written.length > 0) {
      const blob = await this.written[0]!.commit();
      this.written.shift();
      this.committed.push({ blobKey: blob.key, size: blob.size });
    }
    return this.committed;
  }

  /** Removes everything written (the archive was not created). */
  async discard(ctx: JobRunContext): Promise<void> {
    await this.writer?.abort();
    this.writer = null;
    for (const w of this.written.splice(0)) await w.abort();
    for (const s of this.committed.splice(0)) await discardBlob(ctx.meta, this.blobs, s.blobKey);
  }

  private async close(): Promise<void> {
    const writer = this.writer!;
    this.writer = null;
    // Until it is listed in `written`, a failure must still abort it.
    try {
      const digest = await writer.finish();
      this.written.push(writer);
      if (this.written.length === 1) this.firstEtag = digest.etag;
      const leaves = digest.leaves.md5!;
      for (let i = 0; i < leaves.byteLength; i += 16) this.tree.push(leaves.toString('hex', i, i + 16));
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }
}

/** The new archive's description: the job's, else where it came from (printable, ≤ 1024 bytes). */
function archiveDescription(job: JobRecord): string {
  // eslint-disable-next-line no-control-regex
  let text = (job.description || `oss://${job.bucket}/${job.object}`).replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '?');
  while (Buffer.byteLength(text, 'utf8') > 1024) text = text.slice(0, -1);
  return text;
}
