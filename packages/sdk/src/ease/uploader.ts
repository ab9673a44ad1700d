// A multipart upload, then completed with the combined part tree etags. From a file, one
// lane hashes the parts in order (hashFile: reads into shared memory, leaves on the leaf
// worker) running ahead of the senders, which stream each hashed part from the file
// through three reused 256 KiB buffers: hashing hides behind sending, memory is a few MiB
// per sender whatever the part size. From a stream, parts are read in order into
// per-worker buffers (memory = part size × concurrency) and hashed from memory. Sends run
// in parallel with retries. Resume lists the parts already on the server, checks them
// against the local bytes and sends only what is missing.
//
// Part sizes of 1 MiB × 2^k make the combined part tree etags the archive's tree etag. Any
// other multiple of 1 MiB (e.g. 96 MiB) is allowed too: complete still carries the
// combined part values (the protocol's check), and the archive's own tree etag is built
// from the parts' leaf hashes, folded while each part is hashed (a few nodes per part),
// so the file is not read again.
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { OASAPI } from '../client/api.js';
import { MIB, combineTreeEtags, type Checksums } from '../protocol/etag.js';
import { formatRange, type ByteRange } from '../protocol/ranges.js';
import { abortError, runWorkers, throwIfAborted } from './abort.js';
import { callHeaders, callJson, listAllParts, requiredHeader } from './call.js';
import { PartMismatchError } from './errors.js';
import { SubtreeFolder, hashBytes, hashFileRange, treeEtagOfSubtrees, type LeafCallback, type Subtree } from './hashing.js';
import { toPartInfo, toUploadInfo, type PartInfo, type UploadInfo } from './model.js';
import { ProgressTracker, type ProgressCallback } from './progress.js';
import { withRetry, type RetryOptions } from './retry.js';
import { MAX_PARTS, formatSize, isPowerOfTwoMib, rangeLength } from './sizes.js';
import { ChunkReader, fileRangeChunks, sendBuffers, sliced, sortUploadSource, withKnownSize, type UploadSource } from './sources.js';

export interface PartTransferOptions {
  /** Parts in flight at once (default 4). Memory used is about part size × this. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  retry?: RetryOptions;
  /** For a stream: its exact length when known (checked). */
  size?: number;
}

export interface UploadResult {
  archiveId: string;
  /**
   * Tree etag of the whole archive (its ArchiveTreeEtag). For a multipart upload with parts
   * of 1 MiB × 2^k it equals the combined part tree etags sent with complete.
   */
  treeEtag: string;
  size: number;
  /** The multipart upload used, when there was one. */
  uploadId?: string;
  /** Parts of the archive (1 for a single upload). */
  parts: number;
  /** Parts found already on the server (resume) and checked instead of sent. */
  partsReused?: number;
  /** Bytes of those parts: `size - bytesReused` bytes were sent. */
  bytesReused?: number;
}

interface PartTask {
  index: number;
  range: ByteRange;
  data: Buffer;
}

export class Uploader {
  readonly api: OASAPI;
  readonly vaultId: string;
  readonly id: string;
  readonly partSize: number;
  readonly description: string | null;
  readonly creationDate: Date | null;
  /** Parts known to be on the server, by start offset. */
  private readonly parts = new Map<number, PartInfo>();
  /**
   * Part sizes other than 1 MiB × 2^k: each part's subtrees of the archive's tree, by start
   * offset, for the parts hashed here (sent, or checked on resume).
   */
  private readonly subtrees = new Map<number, Subtree[]>();

  constructor(api: OASAPI, vaultId: string, info: UploadInfo, parts: Iterable<PartInfo> = []) {
    if (!Number.isSafeInteger(info.partSize) || info.partSize <= 0) throw new Error(`upload ${info.id} has an invalid part size ${info.partSize}`);
    this.api = api;
    this.vaultId = vaultId;
    this.id = info.id;
    this.partSize = info.partSize;
    this.description = info.description;
    this.creationDate = info.creationDate;
    for (const part of parts) this.parts.set(part.range.start, part);
  }

  /** Rebuilds an Uploader for an existing upload from its part listing (all pages). */
  static async recover(api: OASAPI, vaultId: string, uploadId: string, options: { signal?: AbortSignal; retry?: RetryOptions } = {}): Promise<Uploader> {
    return withRetry(async () => {
      let info: UploadInfo | undefined;
      const parts: PartInfo[] = [];
      for await (const part of listAllParts(api, vaultId, uploadId, { signal: options.signal, onPage: (page) => { info ??= toUploadInfo(page); } })) {
        parts.push(toPartInfo(part));
      }
      if (!info) throw new Error(`listing upload ${uploadId} gave no upload description`);
      return new Uploader(api, vaultId, { ...info, id: info.id || uploadId }, parts);
    }, options.retry, options.signal, 'recoverUploader');
  }

  /** The parts known to be on the server, in range order. */
  get uploadedParts(): PartInfo[] {
    return [...this.parts.values()].sort((a, b) => a.range.start - b.range.start);
  }

  /** Bytes known to be on the server. */
  get sizeCompleted(): number {
    let sum = 0;
    for (const part of this.parts.values()) sum += rangeLength(part.range);
    return sum;
  }

  /** Re-reads the part list from the server. */
  async refresh(options: { signal?: AbortSignal; retry?: RetryOptions } = {}): Promise<this> {
    const fresh = await Uploader.recover(this.api, this.vaultId, this.id, options);
    this.parts.clear();
    for (const part of fresh.parts.values()) this.parts.set(part.range.start, part);
    for (const start of this.subtrees.keys()) if (!this.parts.has(start)) this.subtrees.delete(start);
    return this;
  }

  /** Lists the parts on the server, checks them against `source` and uploads the rest. */
  async resume(source: UploadSource | ChunkReader, options: PartTransferOptions = {}): Promise<UploadResult> {
    await this.refresh(options);
    return this.upload(source, options);
  }

  /**
   * Uploads every part of `source` not known to be on the server and completes the upload.
   * Parts known to be there are checked against the local bytes first (content etag and
   * tree etag); a difference is a PartMismatchError naming the range.
   */
  async upload(source: UploadSource | ChunkReader, options: PartTransferOptions = {}): Promise<UploadResult> {
    throwIfAborted(options.signal, 'upload');
    const sorted = source instanceof ChunkReader ? undefined : sortUploadSource(source);
    if (sorted) options = withKnownSize(sorted, options);
    const run: Run = { reused: 0, reusedBytes: 0, progress: new ProgressTracker(options.size ?? null, options.onProgress) };
    const size = sorted?.kind === 'file' ? await this.uploadFile(sorted.path, options, run)
      : await this.uploadStream(sorted ? ChunkReader.of(sorted) : source as ChunkReader, options, run);
    const result = await this.complete(size, options);
    return { ...result, partsReused: run.reused, bytesReused: run.reusedBytes };
  }

  /** Completes the upload from the parts known to be on the server; they must cover 0…size−1. */
  async complete(size: number, options: { signal?: AbortSignal; retry?: RetryOptions } = {}): Promise<UploadResult> {
    const parts = this.uploadedParts;
    let next = 0;
    for (const part of parts) {
      if (part.range.start !== next) break;
      next = part.range.end + 1;
    }
    if (next !== size || parts.length === 0) {
      throw new Error(`upload ${this.id} cannot complete: parts cover bytes 0-${next - 1} of ${size}`);
    }
    // What the protocol checks on complete: the part tree etags combined (protocol.md §3.4).
    const combined = combineTreeEtags(parts.map((p) => p.treeEtag));
    const response = await withRetry(
      () => callHeaders(this.api.completeMultipartUpload(this.vaultId, this.id, size, combined, { signal: options.signal })),
      options.retry, options.signal, 'completeMultipartUpload');
    const archiveId = requiredHeader(response, 'x-oas-archive-id', 'completeMultipartUpload');
    const treeEtag = await this.archiveTreeEtag(parts, combined, archiveId, options);
    return { archiveId, treeEtag, size, uploadId: this.id, parts: parts.length };
  }

  /**
   * The archive's tree etag: the combined value for 2^k MiB parts; otherwise folded from
   * the parts' subtrees, or (parts completed without being hashed here) asked of the server.
   */
  private async archiveTreeEtag(parts: PartInfo[], combined: string, archiveId: string,
    options: { signal?: AbortSignal; retry?: RetryOptions }): Promise<string> {
    if (isPowerOfTwoMib(this.partSize)) return combined;
    if (parts.every((p) => this.subtrees.has(p.range.start))) {
      return treeEtagOfSubtrees(parts.flatMap((p) => this.subtrees.get(p.range.start)!));
    }
    const meta = await withRetry(() => callJson<{ ArchiveTreeEtag?: string }>(this.api.headArchive(this.vaultId, archiveId, { signal: options.signal })),
      options.retry, options.signal, 'headArchive');
    return (meta.ArchiveTreeEtag ?? '').toUpperCase();
  }

  /**
   * For part sizes other than 1 MiB × 2^k: a leaf callback that folds the part's leaves
   * into its subtrees, and `keep()` to record them once the part is on the server.
   */
  private folder(start: number): { onLeaf?: LeafCallback; keep(): void } {
    if (isPowerOfTwoMib(this.partSize)) return { keep() {} };
    const folder = new SubtreeFolder(start / MIB);
    return { onLeaf: (digest) => folder.push(digest), keep: () => this.subtrees.set(start, folder.nodes) };
  }

  /** Aborts the upload on the server (its parts are discarded). */
  async cancel(options: { signal?: AbortSignal } = {}): Promise<void> {
    await callHeaders(this.api.deleteMultipartUpload(this.vaultId, this.id, { signal: options.signal }));
  }

  // ---- files: parts read at their offsets, in parallel -------------------------------

  private async uploadFile(path: string, options: PartTransferOptions, run: Run): Promise<number> {
    const { size } = await stat(path);
    if (size === 0) throw new RangeError(`${path} is empty: zero-byte archives are not supported`);
    if (options.size !== undefined && options.size !== size) throw new RangeError(`${path} has ${size} bytes, not the ${options.size} given`);
    const count = Math.ceil(size / this.partSize);
    if (count > MAX_PARTS) {
      throw new RangeError(`${path} (${size} bytes) would need ${count} parts of ${formatSize(this.partSize)}; at most ${MAX_PARTS} are allowed`);
    }
    const missing = planParts(this.partSize, size, this.uploadedParts);
    run.progress.setTotal(size);
    await this.verifyFileParts(path, options, run);
    if (missing.length === 0) return size;
    const file = await open(path, 'r');
    try {
      await this.sendFileParts(path, file, missing, options, run);
    } finally {
      await file.close();
    }
    return size;
  }

  /**
   * One lane hashes the missing parts in order, ahead of the senders (the checksums go in
   * each part's headers, so a part can only be sent once hashed); `concurrency` senders
   * stream hashed parts from the file (a second read, through buffers each sender keeps).
   * The lane keeps at most `concurrency` parts ahead of the senders, so that second read
   * still finds the bytes in the page cache of a file larger than memory.
   */
  private async sendFileParts(path: string, file: FileHandle, missing: ByteRange[], options: PartTransferOptions, run: Run): Promise<void> {
    const senders = Math.max(1, Math.floor(options.concurrency ?? 4));
    const hashed = missing.map(() => deferred<{ sums: Checksums; keep(): void }>());
    let cursor = 0;
    let wakeLane: (() => void) | undefined;
    const take = (): number => {
      const k = cursor++;
      const wake = wakeLane;
      wakeLane = undefined;
      wake?.();
      return k;
    };
    await runWorkers(senders + 1, options.signal, async (signal, lane) => {
      if (lane === senders) {
        // The hashing lane; if it fails, every part not yet hashed fails with it.
        let k = 0;
        try {
          for (; k < missing.length; k++) {
            while (k >= cursor + senders) await waitFor(signal, (wake) => { wakeLane = wake; });
            const part = missing[k]!;
            const tree = this.folder(part.start);
            const sums = await hashFileRange(path, part.start, rangeLength(part), signal, tree.onLeaf);
            hashed[k]!.resolve({ sums, keep: tree.keep });
          }
        } catch (error) {
          for (; k < missing.length; k++) hashed[k]!.reject(error);
          throw error;
        }
        return;
      }
      let buffers: Buffer[] | undefined; // this sender's, back after each request that succeeded
      for (let k = take(); k < missing.length; k = take()) {
        const part = missing[k]!;
        const { sums, keep } = await hashed[k]!.promise;
        throwIfAborted(signal, 'upload');
        const index = part.start / this.partSize;
        const length = rangeLength(part);
        await withRetry(async () => {
          run.progress.reset(index);
          const own = buffers ?? sendBuffers();
          buffers = undefined;
          await callHeaders(this.api.postMultipartFromReader(this.vaultId, this.id,
            fileRangeChunks(file, part.start, length, path, (n) => run.progress.add(index, n), own),
            length, formatRange(part), sums.etag, sums.treeEtag, { signal }));
          buffers = own;
        }, options.retry, signal, 'postMultipart');
        this.parts.set(part.start, { range: part, contentEtag: sums.etag, treeEtag: sums.treeEtag });
        keep();
        run.progress.finish(index, length);
      }
    });
  }

  /** Checks every part already on the server against the file, in parallel, without buffering. */
  private async verifyFileParts(path: string, options: PartTransferOptions, run: Run): Promise<void> {
    const listed = this.uploadedParts;
    let cursor = 0;
    await runWorkers(Math.min(options.concurrency ?? 4, listed.length), options.signal, async (signal) => {
      for (let part = listed[cursor++]; part; part = listed[cursor++]) {
        const tree = this.folder(part.range.start);
        const sums = await hashFileRange(path, part.range.start, rangeLength(part.range), signal, tree.onLeaf);
        this.checkAgainstServer(part, sums);
        tree.keep();
        run.reused++;
        run.reusedBytes += rangeLength(part.range);
        run.progress.finish(-1 - part.range.start, rangeLength(part.range));
      }
    });
  }

  // ---- streams: parts read strictly in order ------------------------------------------

  private async uploadStream(reader: ChunkReader, options: PartTransferOptions, run: Run): Promise<number> {
    let index = 0;
    let ended = false;
    // Reads are serialized: each worker takes the next part of the stream in turn.
    let turn: Promise<unknown> = Promise.resolve();
    await this.sendParts(options, run, (buffer, signal) => {
      const read = turn.then(async (): Promise<PartTask | null> => {
        if (ended) return null;
        const start = index * this.partSize;
        const n = await reader.fill(buffer, signal);
        // A short fill means the stream ended; a full one is only known to be last on the next read.
        if (n < buffer.length) ended = true;
        if (n === 0) return null;
        if (index >= MAX_PARTS) {
          throw new RangeError(`the stream is longer than ${MAX_PARTS} parts of ${formatSize(this.partSize)}; ` +
            'give its size or a larger part size');
        }
        const task = { index, range: { start, end: start + n - 1 }, data: buffer.subarray(0, n) };
        index++;
        return task;
      });
      turn = read.catch(() => undefined);
      return read;
    });
    const size = reader.position;
    if (size === 0) throw new RangeError('the stream is empty: zero-byte archives are not supported');
    if (options.size !== undefined && options.size !== size) throw new RangeError(`the stream had ${size} bytes, not the ${options.size} given`);
    const beyond = this.uploadedParts.find((p) => p.range.end >= size);
    if (beyond) throw new PartMismatchError(beyond.range, `the stream has only ${size} bytes`);
    return size;
  }

  // ---- the part pipeline shared by both -----------------------------------------------

  /**
   * Runs `concurrency` workers, each owning one part-size buffer: take the next part,
   * hash it from memory, and send it (or, if the server already has that range, check it).
   */
  private async sendParts(options: PartTransferOptions, run: Run,
    next: (buffer: Buffer, signal: AbortSignal) => Promise<PartTask | null>): Promise<void> {
    const concurrency = Math.max(1, Math.floor(options.concurrency ?? 4));
    await runWorkers(concurrency, options.signal, async (signal) => {
      const buffer = Buffer.allocUnsafeSlow(this.partSize);
      for (let task = await next(buffer, signal); task; task = await next(buffer, signal)) {
        const tree = this.folder(task.range.start);
        const sums = await hashBytes(task.data, tree.onLeaf);
        const existing = this.parts.get(task.range.start);
        if (existing) {
          // Resume from a stream: the server's part must be exactly these bytes.
          if (existing.range.end !== task.range.end) throw new PartMismatchError(existing.range, `the data has ${task.range.start}-${task.range.end} there`);
          this.checkAgainstServer(existing, sums);
          tree.keep();
          run.reused++;
          run.reusedBytes += task.data.length;
          run.progress.finish(task.index, task.data.length);
          continue;
        }
        await this.sendPart(task, sums, run.progress, signal, options.retry);
        tree.keep();
      }
    });
  }

  private async sendPart(task: PartTask, sums: Checksums, progress: ProgressTracker, signal: AbortSignal, retry?: RetryOptions): Promise<void> {
    const prange = formatRange(task.range);
    await withRetry(async () => {
      progress.reset(task.index);
      await callHeaders(this.api.postMultipartFromReader(this.vaultId, this.id, sliced(task.data, (n) => progress.add(task.index, n)),
        task.data.length, prange, sums.etag, sums.treeEtag, { signal }));
    }, retry, signal, 'postMultipart');
    this.parts.set(task.range.start, { range: task.range, contentEtag: sums.etag, treeEtag: sums.treeEtag });
    progress.finish(task.index, task.data.length);
  }

  private checkAgainstServer(part: PartInfo, sums: Checksums): void {
    const etagOk = part.contentEtag.toUpperCase() === sums.etag;
    const treeOk = part.treeEtag.toUpperCase() === sums.treeEtag;
    if (!etagOk || !treeOk) {
      const detail = !etagOk
        ? `content etag ${part.contentEtag} on the server, ${sums.etag} locally`
        : `tree etag ${part.treeEtag} on the server, ${sums.treeEtag} locally`;
      throw new PartMismatchError(part.range, detail, etagOk ? part.treeEtag : part.contentEtag, etagOk ? sums.treeEtag : sums.etag);
    }
  }
}

interface Run {
  reused: number;
  reusedBytes: number;
  progress: ProgressTracker;
}

/**
 * The parts still to send for an archive of `size` bytes in parts of `partSize`, given the
 * parts already on the server; throws PartMismatchError for a listed part whose range
 * cannot belong to such an archive (another part size, another file size).
 */
export function planParts(partSize: number, size: number, listed: readonly PartInfo[]): ByteRange[] {
  const present = new Set<number>();
  for (const { range } of listed) {
    if (range.start % partSize !== 0 || range.start >= size || range.end !== Math.min(range.start + partSize, size) - 1) {
      throw new PartMismatchError(range, `it does not fit ${size} bytes in parts of ${partSize} bytes`);
    }
    present.add(range.start);
  }
  const missing: ByteRange[] = [];
  for (let start = 0; start < size; start += partSize) {
    if (!present.has(start)) missing.push({ start, end: Math.min(start + partSize, size) - 1 });
  }
  return missing;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** Resolves when `arm`'s callback is called, rejects with an AbortError when `signal` fires first. */
function waitFor(signal: AbortSignal, arm: (wake: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(abortError('upload', signal));
    const onAbort = (): void => reject(abortError('upload', signal));
    signal.addEventListener('abort', onAbort, { once: true });
    arm(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/** A promise settled from outside (a part's checksums, from the hashing lane to its sender). */
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => {}); // a part nobody waits for any more (a sender failed) must not be an unhandled rejection
  return { promise, resolve, reject };
}
