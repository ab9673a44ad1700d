// uploadArchive: one request for small data, a parallel multipart upload above the
// threshold, resume when given an upload id. Streams of unknown length are probed: if
// they end within the threshold they go up in one request.
import { open, stat } from 'node:fs/promises';
import type { OASAPI } from '../client/api.js';
import { hashBuffer } from '../protocol/etag.js';
import { throwIfAborted } from './abort.js';
import { callHeaders, requiredHeader } from './call.js';
import { hashFileRange } from './hashing.js';
import { ProgressTracker } from './progress.js';
import { withRetry } from './retry.js';
import { DEFAULT_SINGLE_UPLOAD_THRESHOLD, MAX_SINGLE_UPLOAD, calcPartSize } from './sizes.js';
import { ChunkReader, fileRangeChunks, sliced, sortUploadSource, withKnownSize, type UploadSource } from './sources.js';
import { Uploader, type PartTransferOptions, type UploadResult } from './uploader.js';

export interface UploadOptions extends PartTransferOptions {
  /** Archive description (`x-oas-archive-description`). */
  description?: string;
  /**
   * Multipart part size: a multiple of 1 MiB from 1 MiB to 4 GiB (default 64 MiB, doubled to
   * keep ≤ 10,000 parts). 1 MiB × 2^k is the protocol's natural shape; others (96 MiB) work too.
   */
  partSize?: number;
  /** Resume this multipart upload instead of starting a new one. */
  uploadId?: string;
  /** Data up to this size goes up in one request (default 64 MiB, at most 6 GiB). */
  singleUploadThreshold?: number;
  /** Told the multipart upload id as soon as there is one (so it can be shown for a later resume). */
  onUploadId?: (uploadId: string) => void;
}

export async function uploadArchive(api: OASAPI, vaultId: string, source: UploadSource, options: UploadOptions = {}): Promise<UploadResult> {
  throwIfAborted(options.signal, 'uploadArchive');
  const threshold = options.singleUploadThreshold ?? DEFAULT_SINGLE_UPLOAD_THRESHOLD;
  if (!Number.isSafeInteger(threshold) || threshold < 0 || threshold > MAX_SINGLE_UPLOAD) {
    throw new RangeError(`singleUploadThreshold must be 0 to ${MAX_SINGLE_UPLOAD} bytes, got ${threshold}`);
  }
  const sorted = sortUploadSource(source);
  if (options.uploadId !== undefined) {
    const uploader = await Uploader.recover(api, vaultId, options.uploadId, options);
    if (options.partSize !== undefined && options.partSize !== uploader.partSize) {
      throw new RangeError(`upload ${uploader.id} has parts of ${uploader.partSize} bytes, not the ${options.partSize} given`);
    }
    options.onUploadId?.(uploader.id);
    return uploader.upload(source, options);
  }

  if (sorted.kind === 'file') {
    const path = sorted.path;
    const info = await stat(path);
    if (!info.isFile()) throw new TypeError(`${path} is not a regular file`);
    const size = info.size;
    if (size === 0) throw new RangeError(`${path} is empty: zero-byte archives are not supported`);
    if (options.size !== undefined && options.size !== size) throw new RangeError(`${path} has ${size} bytes, not the ${options.size} given`);
    if (size <= threshold) return singleFromFile(api, vaultId, path, size, options);
    return (await initiate(api, vaultId, calcPartSize(size, options.partSize), options)).upload(path, options);
  }

  const sized = withKnownSize(sorted, options);
  const size = sized.size;
  if (size === 0) throw new RangeError('the data is empty: zero-byte archives are not supported');
  // Bytes in memory up to the threshold go up as they are (no copy).
  if (sorted.kind === 'bytes' && sorted.data.length <= threshold) return singleFromBuffer(api, vaultId, sorted.data, options);
  const reader = ChunkReader.of(sorted);
  if (size !== undefined) {
    if (size <= threshold) {
      const data = Buffer.allocUnsafe(size);
      const n = await reader.fill(data, options.signal);
      if (n !== size || (await reader.hasMore(options.signal))) {
        throw new RangeError(`the stream has ${n === size ? 'more' : n} bytes, not the ${size} given`);
      }
      return singleFromBuffer(api, vaultId, data, options);
    }
    // Read the first chunk before the upload exists: a stream of text fails here, not after.
    await reader.hasMore(options.signal);
    return (await initiate(api, vaultId, calcPartSize(size, options.partSize), options)).upload(reader, sized);
  }
  // Unknown length: buffer up to the threshold to see whether the stream ends there.
  const probe = await reader.peek(threshold, options.signal);
  if (probe.ended) {
    if (probe.total === 0) throw new RangeError('the stream is empty: zero-byte archives are not supported');
    return singleFromBuffer(api, vaultId, Buffer.concat(probe.chunks, probe.total), options);
  }
  return (await initiate(api, vaultId, calcPartSize(undefined, options.partSize), options)).upload(reader, options);
}

/** Starts a multipart upload with `partSize` and reports its id. */
export async function initiate(api: OASAPI, vaultId: string, partSize: number, options: UploadOptions = {}): Promise<Uploader> {
  const response = await callHeaders(api.createMultipartUpload(vaultId, partSize, options.description, { signal: options.signal }));
  const id = requiredHeader(response, 'x-oas-multipart-upload-id', 'createMultipartUpload');
  const uploader = new Uploader(api, vaultId, { id, partSize, description: options.description ?? null, creationDate: new Date() });
  options.onUploadId?.(id);
  return uploader;
}

/**
 * Hashes the file (one read), then streams it in one request (a second read, from the page
 * cache) through three reused buffers: memory stays flat whatever the threshold.
 */
async function singleFromFile(api: OASAPI, vaultId: string, path: string, size: number, options: UploadOptions): Promise<UploadResult> {
  const sums = await hashFileRange(path, 0, size, options.signal);
  const progress = new ProgressTracker(size, options.onProgress);
  const file = await open(path, 'r');
  let response;
  try {
    response = await withRetry(async () => {
      progress.reset(0);
      return callHeaders(api.postArchiveFromReader(vaultId, fileRangeChunks(file, 0, size, path, (n) => progress.add(0, n)), size,
        sums.etag, sums.treeEtag, options.description, { signal: options.signal }));
    }, options.retry, options.signal, 'postArchive');
  } finally {
    await file.close();
  }
  progress.finish(0, size);
  return { archiveId: requiredHeader(response, 'x-oas-archive-id', 'postArchive'), treeEtag: sums.treeEtag, size, parts: 1 };
}

async function singleFromBuffer(api: OASAPI, vaultId: string, data: Buffer, options: UploadOptions): Promise<UploadResult> {
  const sums = hashBuffer(data);
  const progress = new ProgressTracker(data.length, options.onProgress);
  const response = await withRetry(async () => {
    progress.reset(0);
    return callHeaders(api.postArchiveFromReader(vaultId, sliced(data, (n) => progress.add(0, n)), data.length,
      sums.etag, sums.treeEtag, options.description, { signal: options.signal }));
  }, options.retry, options.signal, 'postArchive');
  progress.finish(0, data.length);
  return { archiveId: requiredHeader(response, 'x-oas-archive-id', 'postArchive'), treeEtag: sums.treeEtag, size: data.length, parts: 1 };
}
