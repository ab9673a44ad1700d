// push-to-oss: stream an archive to Bucket/Object of a configured S3-compatible store.
//
// Every request body (the whole archive up to the host's part size, else one part of a
// multipart upload) is read twice from the blob store through the verifying reader (each
// 1 MiB leaf checked against its stored digest before it goes anywhere): first to compute
// the MD5, then streamed to the store with that MD5 as Content-MD5, so the store rejects
// bytes damaged on the way, and a leaf that rots in between aborts the request. Parts are streamed straight from the blob store, several at once:
// memory stays at a few MiB per part in flight whatever the archive size.
// What the store acknowledges is verified: every part's ETag must be the part's MD5; at
// the end a HEAD must show the archive's size and the ETag the data implies (the MD5, or
// for multipart the AWS form md5(part MD5s)-N, or, for stores that give a multipart object
// the whole MD5, that MD5, computed then by a second local read). Only then does the job
// succeed. A failed multipart upload is aborted, a bad object deleted: nothing is left.
// Progress (upload id and finished parts) is checkpointed, so a run after a restart
// continues the same multipart upload.
import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  HeadObjectCommand, ListPartsCommand, PutObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { TransferError } from '@oas/sdk/protocol';
import type { OssHosts } from '../../oss-config.js';
import { S3_MAX_PART } from '../../oss-config.js';
import { MIB } from '@oas/sdk';
import { CorruptDataError, readVerified } from '../../store/blob/verifying-reader.js';
import type { ArchiveRecord, JobRecord, Segment } from '../../store/meta/types.js';
import { failed, type JobResult, type JobRunContext, type JobRunner } from '../types.js';
import {
  FinalTransferError, createOssClient, isMd5Etag, multipartEtag, multipartEtagParts,
  normalizeEtag, ossName, withRetry, type OssClient,
} from './oss-client.js';

const MAX_PARTS = 10_000;

/** Local data that does not match its stored checksums: never retried, never sent. */
class CorruptArchive extends FinalTransferError {}

interface PushCheckpoint {
  uploadId: string;
  partSize: number;
  /** Finished parts: [partNumber, md5 hex]. */
  parts: [number, string][];
}

function parseCheckpoint(text: string): PushCheckpoint | null {
  try {
    const v = JSON.parse(text) as Partial<PushCheckpoint>;
    if (typeof v?.uploadId !== 'string' || typeof v.partSize !== 'number' || !Array.isArray(v.parts)) return null;
    return { uploadId: v.uploadId, partSize: v.partSize, parts: v.parts };
  } catch {
    return null;
  }
}

/** The part size for `size` bytes: the configured one, doubled until 10,000 parts suffice. */
export function pushPartSize(size: number, configured: number): number {
  let p = configured;
  while (Math.ceil(size / p) > MAX_PARTS && p * 2 <= S3_MAX_PART) p *= 2;
  return p;
}

export function pushToOss(hosts: OssHosts): JobRunner {
  return async (job, ctx) => {
    const archive = await ctx.meta.getArchiveAnyState(job.archiveId);
    if (!archive) return failed(`archive ${job.archiveId} no longer exists`);
    const known = { archiveSize: archive.size, archiveTreeEtag: archive.treeEtag };
    const host = hosts.get(job.ossHost);
    if (!host) return failed(`The OSS host ${job.ossHost} is not configured on this server (any more); nothing was copied.`, known);
    const client = createOssClient(host);
    try {
      const note = await push(job, ctx, client, archive);
      return { ...known, status: 'Succeeded', statusMessage: note ? `Succeeded (${note})` : 'Succeeded' };
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      if (err instanceof FinalTransferError) return failed(err.message, known);
      throw err;
    } finally {
      client.destroy();
    }
  };
}

async function push(job: JobRecord, ctx: JobRunContext, client: OssClient, archive: ArchiveRecord): Promise<string | null> {
  const segments = await ctx.meta.getSegments(archive.id);
  const stored = segments.reduce((n, s) => n + s.size, 0);
  if (stored !== archive.size) throw new CorruptArchive(`Data corruption detected: archive ${archive.id} has ${stored} stored bytes, expected ${archive.size}; nothing was sent`);
  const partSize = pushPartSize(archive.size, client.host.partSize);
  if (Math.ceil(archive.size / partSize) > MAX_PARTS) throw new FinalTransferError(`archive ${archive.id} is too large for one object (more than ${MAX_PARTS} parts of ${partSize} bytes)`);
  const target = ossName(job.ossHost, job.bucket, job.object);
  if (archive.size <= partSize) return pushSingle(job, ctx, client, archive, segments, target);
  return pushMultipart(job, ctx, client, archive, segments, target, partSize);
}

// ---- reading and checking the archive --------------------------------------------------

function rangeName(archive: ArchiveRecord, start: number, end: number): string {
  return start === 0 && end === archive.size - 1 ? `archive ${archive.id}` : `bytes ${start}-${end} of archive ${archive.id}`;
}

/** Archive bytes start..end through the verifying reader: a leaf that fails its check stops the stream. */
function verifiedRange(ctx: JobRunContext, archive: ArchiveRecord, segments: Segment[], start: number, end: number, signal: AbortSignal): Readable {
  return readVerified(ctx.blobs, segments, start, end, {
    label: `archive ${archive.id}`, signal,
    ...(ctx.onCorruptRead ? { onCorrupt: (err) => ctx.onCorruptRead!(err) } : {}),
  });
}

/** What a failed read of archive bytes start..end tells the job's owner. */
function readFailure(archive: ArchiveRecord, start: number, end: number, err: unknown, tail: string): CorruptArchive {
  const what = rangeName(archive, start, end);
  if (err instanceof CorruptDataError && err.reason === 'checksum') {
    const leaf = Math.floor((err.start - start) / MIB);
    return new CorruptArchive(`Data corruption detected: leaf ${leaf} (1 MiB) of ${what} does not match its stored checksum; the job stopped so that no corrupt data is sent`);
  }
  return new CorruptArchive(`The stored data of ${what} could not be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})${tail}`);
}

/**
 * Reads archive bytes start..end once before they are sent, every leaf checked: their MD5
 * (hex) goes with the request as Content-MD5.
 */
async function checkedMd5(ctx: JobRunContext, archive: ArchiveRecord, segments: Segment[], start: number, end: number): Promise<string> {
  const md5 = createHash('md5');
  let read = 0;
  try {
    for await (const chunk of verifiedRange(ctx, archive, segments, start, end, ctx.signal)) {
      md5.update(chunk as Buffer);
      read += (chunk as Buffer).byteLength;
    }
  } catch (err) {
    ctx.signal.throwIfAborted();
    throw readFailure(archive, start, end, err, '; nothing was sent');
  }
  if (read !== end - start + 1) {
    throw new CorruptArchive(`Data corruption detected: only ${read} of the ${end - start + 1} bytes of ${rangeName(archive, start, end)} could be read; nothing was sent`);
  }
  return md5.digest('hex');
}

/**
 * Sends a request whose body is archive bytes start..end, checked again on the way (the
 * store checks them once more against Content-MD5). A read error of the body aborts the
 * request at once and is what the call throws.
 */
async function sendRange<T>(ctx: JobRunContext, archive: ArchiveRecord, segments: Segment[], start: number, end: number, signal: AbortSignal,
  send: (body: Readable, signal: AbortSignal) => Promise<T>): Promise<T> {
  const local = new AbortController();
  const body = verifiedRange(ctx, archive, segments, start, end, signal);
  body.on('error', (err) => local.abort(readFailure(archive, start, end, err, '')));
  try {
    return await send(body, AbortSignal.any([signal, local.signal]));
  } catch (err) {
    if (!signal.aborted && local.signal.aborted) throw local.signal.reason;
    throw err;
  } finally {
    body.destroy();
  }
}

const base64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

// ---- one PUT -----------------------------------------------------------------------------

async function pushSingle(job: JobRecord, ctx: JobRunContext, client: OssClient, archive: ArchiveRecord, segments: Segment[], target: string): Promise<string | null> {
  const { host } = client;
  const what = `Writing ${target}`;
  let md5 = '';
  let written = false;
  try {
    md5 = await checkedMd5(ctx, archive, segments, 0, archive.size - 1);
    await withRetry(host, what, ctx.signal, async () => {
      const res = await sendRange(ctx, archive, segments, 0, archive.size - 1, ctx.signal, (body, signal) => client.s3.send(new PutObjectCommand({
        Bucket: job.bucket, Key: job.object, Body: body, ContentLength: archive.size, ContentMD5: base64(md5), ContentType: 'application/octet-stream',
      }), { abortSignal: signal }));
      written = true;
      const etag = normalizeEtag(res.ETag);
      if (host.verifyEtag && isMd5Etag(etag) && etag !== md5) {
        throw new TransferError(`the store acknowledged ETag ${etag}, but the data sent has MD5 ${md5} (damaged on the way)`);
      }
    });
    return await verifyObject(job, ctx, client, archive, segments, target, { md5 });
  } catch (err) {
    if (!ctx.signal.aborted && written) await deleteObject(job, client);
    throw err;
  }
}

// ---- multipart ---------------------------------------------------------------------------

async function pushMultipart(job: JobRecord, ctx: JobRunContext, client: OssClient, archive: ArchiveRecord, segments: Segment[],
  target: string, partSize: number): Promise<string | null> {
  const { host } = client;
  const count = Math.ceil(archive.size / partSize);
  const md5s = new Map<number, string>();
  let uploadId: string | null = null;

  const saved = parseCheckpoint(job.checkpoint);
  if (saved && saved.partSize === partSize) {
    // A previous run started this upload: keep the parts the store still has with the same MD5.
    const listed = await listParts(job, client, saved.uploadId, ctx.signal, target);
    if (listed !== 'gone') {
      uploadId = saved.uploadId;
      for (const [n, md5] of saved.parts) {
        const expectedSize = n < count ? partSize : archive.size - (count - 1) * partSize;
        const part = listed === 'unknown' ? { etag: md5, size: expectedSize } : listed.get(n);
        if (part && part.etag === md5 && part.size === expectedSize) md5s.set(n, md5);
      }
    }
  } else if (saved) {
    await abortUpload(job, client, saved.uploadId);
  }
  if (uploadId === null) {
    const created = await withRetry(host, `Starting a multipart upload to ${target}`, ctx.signal,
      () => client.s3.send(new CreateMultipartUploadCommand({ Bucket: job.bucket, Key: job.object, ContentType: 'application/octet-stream' }), { abortSignal: ctx.signal }));
    if (!created.UploadId) throw new FinalTransferError(`Starting a multipart upload to ${target} failed: the store returned no upload id`);
    uploadId = created.UploadId;
  }
  const id = uploadId;

  let checkpointing: Promise<unknown> = Promise.resolve();
  const checkpoint = (): Promise<unknown> => {
    const text = JSON.stringify({ uploadId: id, partSize, parts: [...md5s].sort((a, b) => a[0] - b[0]) } satisfies PushCheckpoint);
    checkpointing = checkpointing.then(() => ctx.saveCheckpoint(text)).catch(() => false);
    return checkpointing;
  };

  let completed = false;
  try {
    await checkpoint();
    const todo: number[] = [];
    for (let n = 1; n <= count; n++) if (!md5s.has(n)) todo.push(n);
    // A few parts at once; the first failure stops the others.
    const stop = new AbortController();
    const signal = AbortSignal.any([ctx.signal, stop.signal]);
    let firstError: unknown = null;
    const worker = async (): Promise<void> => {
      for (let n = todo.shift(); n !== undefined && firstError === null; n = todo.shift()) {
        try {
          md5s.set(n, await uploadPart(job, ctx, client, archive, segments, target, id, n, partSize, signal));
          void checkpoint();
        } catch (err) {
          firstError ??= err;
          stop.abort(err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(host.concurrency, todo.length) }, worker));
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (firstError !== null) throw firstError;
    await checkpointing;

    const parts = [...md5s].sort((a, b) => a[0] - b[0]);
    await withRetry(host, `Completing the multipart upload to ${target}`, ctx.signal, () => client.s3.send(new CompleteMultipartUploadCommand({
      Bucket: job.bucket, Key: job.object, UploadId: id,
      MultipartUpload: { Parts: parts.map(([PartNumber, md5]) => ({ PartNumber, ETag: `"${md5}"` })) },
    }), { abortSignal: ctx.signal }));
    completed = true;
    return await verifyObject(job, ctx, client, archive, segments, target, { parts: parts.map(([, md5]) => md5) });
  } catch (err) {
    if (!ctx.signal.aborted) {
      if (completed) await deleteObject(job, client);
      else await abortUpload(job, client, id);
    }
    throw err;
  }
}

async function uploadPart(job: JobRecord, ctx: JobRunContext, client: OssClient, archive: ArchiveRecord, segments: Segment[],
  target: string, uploadId: string, n: number, partSize: number, signal: AbortSignal): Promise<string> {
  const { host } = client;
  const start = (n - 1) * partSize;
  const end = Math.min(archive.size, start + partSize) - 1;
  const md5 = await checkedMd5(ctx, archive, segments, start, end);
  return withRetry(host, `Writing part ${n} (bytes ${start}-${end}) of ${target}`, signal, async () => {
    const res = await sendRange(ctx, archive, segments, start, end, signal, (body, s) => client.s3.send(new UploadPartCommand({
      Bucket: job.bucket, Key: job.object, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: end - start + 1, ContentMD5: base64(md5),
    }), { abortSignal: s }));
    const etag = normalizeEtag(res.ETag);
    if (host.verifyEtag && etag !== md5) {
      throw new TransferError(`the store acknowledged the part with ETag ${etag || '(none)'}, but its data has MD5 ${md5} (damaged on the way)`);
    }
    return md5;
  });
}

/**
 * The parts the store has for the upload (number → etag, size); 'gone' when the upload no
 * longer exists, 'unknown' when the store cannot list parts (the checkpoint is trusted
 * then: the final HEAD checks size and ETag of the result anyway).
 */
async function listParts(job: JobRecord, client: OssClient, uploadId: string, signal: AbortSignal, target: string): Promise<Map<number, { etag: string; size: number }> | 'gone' | 'unknown'> {
  const out = new Map<number, { etag: string; size: number }>();
  let marker: string | undefined;
  try {
    for (;;) {
      const page = await withRetry(client.host, `Listing the parts uploaded to ${target}`, signal, async () => {
        try {
          return await client.s3.send(new ListPartsCommand({ Bucket: job.bucket, Key: job.object, UploadId: uploadId, PartNumberMarker: marker }), { abortSignal: signal });
        } catch (err) {
          if ((err as { name?: string }).name === 'NoSuchUpload' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return 'gone' as const;
          throw err;
        }
      });
      if (page === 'gone') return 'gone';
      for (const p of page.Parts ?? []) if (p.PartNumber !== undefined) out.set(p.PartNumber, { etag: normalizeEtag(p.ETag), size: p.Size ?? -1 });
      if (!page.IsTruncated || !page.NextPartNumberMarker) return out;
      marker = page.NextPartNumberMarker;
    }
  } catch (err) {
    if (signal.aborted) throw err;
    return 'unknown';
  }
}

// ---- verification and clean-up -----------------------------------------------------------

/**
 * HEADs the object: its size must be the archive's and its ETag what the data implies.
 * Returns a note for the StatusMessage when the ETag could not be checked.
 */
async function verifyObject(job: JobRecord, ctx: JobRunContext, client: OssClient, archive: ArchiveRecord, segments: Segment[], target: string,
  sent: { md5: string } | { parts: string[] }): Promise<string | null> {
  const { host } = client;
  const what = `Checking ${target}`;
  const head = await withRetry(host, what, ctx.signal, () => client.s3.send(new HeadObjectCommand({ Bucket: job.bucket, Key: job.object }), { abortSignal: ctx.signal }));
  if (head.ContentLength !== archive.size) {
    throw new FinalTransferError(`${what} failed: the store holds ${head.ContentLength ?? 'an unknown number of'} bytes, the archive has ${archive.size}; the object was deleted`);
  }
  if (!host.verifyEtag) return null;
  const etag = normalizeEtag(head.ETag);
  const mismatch = (expected: string) => new FinalTransferError(
    `Checksum mismatch: ${target} has ETag ${etag || '(none)'}, but the archive's data gives ${expected}; the object was deleted`);
  if ('md5' in sent) {
    if (isMd5Etag(etag) && etag !== sent.md5) throw mismatch(sent.md5);
    return isMd5Etag(etag) ? null : `the store's ETag ${etag || '(none)'} is not an MD5; size checked`;
  }
  const expected = multipartEtag(sent.parts);
  if (etag === expected) return null;
  const parts = multipartEtagParts(etag);
  if (parts !== null && parts !== sent.parts.length) throw mismatch(expected);
  if (parts !== null) {
    // The right number of parts, another digest: a store computing multipart ETags its own
    // way. Every part's MD5 was checked when it was stored (Content-MD5, part ETag).
    return `the store's multipart ETag ${etag} is not md5-of-part-md5s; each part's MD5 and the size were checked`;
  }
  if (isMd5Etag(etag)) {
    // Some stores give a multipart object the MD5 of all its bytes: compute it from the archive.
    const whole = await archiveMd5(ctx, archive, segments);
    if (etag !== whole) throw mismatch(whole);
    return null;
  }
  return `the store's ETag ${etag || '(none)'} is not MD5-based; size checked`;
}

async function archiveMd5(ctx: JobRunContext, archive: ArchiveRecord, segments: Segment[]): Promise<string> {
  const md5 = createHash('md5');
  try {
    for await (const chunk of verifiedRange(ctx, archive, segments, 0, archive.size - 1, ctx.signal)) md5.update(chunk as Buffer);
  } catch (err) {
    ctx.signal.throwIfAborted();
    throw readFailure(archive, 0, archive.size - 1, err, '');
  }
  return md5.digest('hex');
}

async function abortUpload(job: JobRecord, client: OssClient, uploadId: string): Promise<void> {
  const signal = AbortSignal.timeout(Math.max(30_000, client.host.requestTimeoutMs));
  await withRetry(client.host, 'abort', signal, () => client.s3.send(new AbortMultipartUploadCommand({ Bucket: job.bucket, Key: job.object, UploadId: uploadId }), { abortSignal: signal }))
    .catch(() => undefined);
}

async function deleteObject(job: JobRecord, client: OssClient): Promise<void> {
  const signal = AbortSignal.timeout(Math.max(30_000, client.host.requestTimeoutMs));
  await withRetry(client.host, 'delete', signal, () => client.s3.send(new DeleteObjectCommand({ Bucket: job.bucket, Key: job.object }), { abortSignal: signal }))
    .catch(() => undefined);
}

