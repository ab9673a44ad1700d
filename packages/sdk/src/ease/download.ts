// Verified, parallel, resumable download of a job's output.
//
// Archive output is split into aligned pieces fetched in parallel with `Range`; each
// response goes through a PieceSink (piece-sink.ts): 1 MiB positional writes into a temp
// file at its offset (one at a time for the whole file), leaves hashed 8 at a time on the
// leaf worker. Each piece's tree etag is checked against the x-oas-tree-etag it came with
// (a mismatch is refetched through the retry policy), the combined piece tree etags
// against the job's TreeEtag; only then is the temp file renamed into place (fsynced first
// with `fsync: true`; by default it is not, like curl -o, aws s3 cp and rsync:
// docs/decisions.md).
// A small JSON file beside the temp file lists verified pieces, so an interrupted
// download resumes without fetching them again (they are re-hashed locally first, which
// also covers a crash that lost unsynced writes).
import { constants } from 'node:fs';
import { access, open, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MIB, combineTreeEtags } from '../protocol/etag.js';
import { parseRange, type ByteRange } from '../protocol/ranges.js';
import { isAbortError, abortError, runWorkers, throwIfAborted } from './abort.js';
import type { OASAPI } from '../client/api.js';
import type { BodyTarget } from '../client/direct-receive.js';
import { OASTransportError } from '../client/errors.js';
import type { OASResponse } from '../client/response.js';
import { OASError } from '../protocol/errors.js';
import { callOk } from './call.js';
import { ChecksumMismatchError, JobStateError, TransferError } from './errors.js';
import { TreeEtagHasher, hashFileRange } from './hashing.js';
import { BatchBudget } from './leaf-batcher.js';
import { FileWriter, PieceSink, writeAll } from './piece-sink.js';
import { ProgressTracker, type ProgressCallback } from './progress.js';
import { withRetry, type RetryOptions } from './retry.js';
import { calcPieceSize, rangeLength, splitRanges } from './sizes.js';

/**
 * Leaf batches (8 MiB each) in flight for a whole download, whatever its concurrency: 16 MiB
 * keeps the worker and the disk busy and the process well under 150 MB.
 */
const LEAF_BATCHES = 2;

export interface DownloadOptions {
  /** Pieces in flight at once (default 4). */
  concurrency?: number;
  /** 1 MiB × 2^k (default 32 MiB, grown to keep ≤ 10,000 pieces). */
  pieceSize?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  retry?: RetryOptions;
  /** Replace an existing file at `path` (default false: an existing file is an error). */
  overwrite?: boolean;
  /**
   * Only these bytes of the output (archive retrievals), inclusive and relative to the
   * output: start a multiple of 1 MiB, end + 1 a multiple of 1 MiB or the output's end
   * (the server's rule). The file then holds just that range; each piece is still
   * verified against its x-oas-tree-etag, and the download resumes like a whole one.
   */
  range?: ByteRange | string;
  /**
   * fsync the file (and its directory, after the rename) before resolving, so that it
   * survives a power loss at once (default false: the kernel writes it back within seconds,
   * as for curl -o or aws s3 cp; a resumed download re-checks its pieces either way).
   */
  fsync?: boolean;
}

export interface DownloadResult {
  path: string;
  size: number;
  /** Tree etag of the downloaded bytes. */
  treeEtag: string;
  /**
   * What was verified: 'full' = the whole file against the job's TreeEtag (and every piece
   * against its x-oas-tree-etag); 'pieces' = every piece against its header, but there is
   * no whole-file value to compare with (the job has no TreeEtag because its range is not
   * tree-hash aligned, or `range` asked for part of the output); 'none' = the server sent
   * no checksums.
   */
  verified: 'full' | 'pieces' | 'none';
  piecesFetched: number;
  /** Pieces kept from an interrupted earlier run. */
  piecesReused: number;
  /** Whether the file and its directory entry were fsynced (the `fsync` option). */
  synced: boolean;
}

/** The temp file a download writes to before the rename, and its progress file. */
export function downloadTempPaths(path: string): { temp: string; state: string } {
  return { temp: `${path}.oasdownload`, state: `${path}.oasdownload.json` };
}

interface PieceRecord {
  treeEtag: string;
  /** Whether it was checked against an x-oas-tree-etag header. */
  checked: boolean;
}

/**
 * What a download needs of a job. Job has all of it; the type is written out here so that
 * job.ts (which downloads) and this module do not import each other.
 */
export interface DownloadableJob {
  readonly api: OASAPI;
  readonly vaultId: string;
  readonly id: string;
  action: string;
  completed: boolean;
  treeEtag: string | null;
  readonly outputSize: number | null;
  refresh(options?: { signal?: AbortSignal }): Promise<unknown>;
  assertDownloadable(): void;
}

interface DownloadState {
  version: 1;
  vaultId: string;
  jobId: string;
  size: number;
  /** Where the file starts in the job's output (`range`). */
  offset: number;
  pieceSize: number;
  jobTreeEtag: string | null;
  /** Verified pieces by start offset. */
  pieces: Record<string, PieceRecord>;
}

export async function downloadJobOutput(job: DownloadableJob, path: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  throwIfAborted(options.signal, 'downloadToFile');
  if (!job.completed) await job.refresh({ signal: options.signal });
  job.assertDownloadable();
  if (!options.overwrite && (await exists(path))) {
    throw Object.assign(new Error(`${path} already exists (pass overwrite: true to replace it)`), { code: 'EEXIST' });
  }
  if (job.action === 'InventoryRetrieval') {
    if (options.range !== undefined) throw new RangeError('range applies to archive retrievals; an inventory downloads whole');
    return downloadWhole(job, path, options);
  }
  return downloadPieces(job, path, options);
}

/** `range` checked against the output's size and the server's alignment rule; null for the whole output. */
function outputRange(range: ByteRange | string | undefined, outputSize: number): ByteRange | null {
  if (range === undefined) return null;
  const r = typeof range === 'string' ? parseRange(range) : range;
  const text = typeof range === 'string' ? range : `${range.start}-${range.end}`;
  if (!r || !Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.end) || r.start < 0 || r.end < r.start) {
    throw new RangeError(`range must be start-end with 0 <= start <= end, got ${JSON.stringify(text)}`);
  }
  if (r.end >= outputSize) throw new RangeError(`range ${text} ends past the job's output (${outputSize} bytes)`);
  if (r.start % MIB !== 0) throw new RangeError(`range ${text} must start at a multiple of 1 MiB`);
  if ((r.end + 1) % MIB !== 0 && r.end !== outputSize - 1) {
    throw new RangeError(`range ${text} must end just before a multiple of 1 MiB, or at the end of the output (${outputSize - 1})`);
  }
  return r.start === 0 && r.end === outputSize - 1 ? null : r;
}

async function downloadPieces(job: DownloadableJob, path: string, options: DownloadOptions): Promise<DownloadResult> {
  const outputSize = job.outputSize;
  if (outputSize === null) throw new JobStateError(job.id, `job ${job.id} does not say how large its output is`);
  const range = outputRange(options.range, outputSize);
  const offset = range?.start ?? 0;
  const size = range ? rangeLength(range) : outputSize;
  // Only the whole output can be checked against the job's TreeEtag.
  const wholeEtag = range ? null : job.treeEtag;
  const pieceSize = calcPieceSize(size, options.pieceSize);
  const pieces = splitRanges(size, pieceSize, offset);
  const { temp, state: statePath } = downloadTempPaths(path);
  const fresh: DownloadState = {
    version: 1, vaultId: job.vaultId, jobId: job.id, size, offset, pieceSize, jobTreeEtag: job.treeEtag, pieces: {},
  };
  const previous = await loadState(statePath, fresh, temp);
  const file = await open(temp, previous ? 'r+' : 'w');
  let fileOpen = true;
  const closeFile = async (): Promise<void> => {
    if (fileOpen) {
      fileOpen = false;
      await file.close();
    }
  };
  try {
    if (!previous) await file.truncate(size);
    const state = fresh;
    const progress = new ProgressTracker(size, options.onProgress);
    const saver = new StateSaver(statePath, state);
    let reused = 0;
    if (previous) reused = await recheckPieces(temp, offset, pieces, previous, state, progress, options);
    const todo = pieces.filter((p) => !state.pieces[p.start]);
    let cursor = 0;
    const concurrency = Math.min(Math.max(1, options.concurrency ?? 4), Math.max(1, todo.length));
    const budget = new BatchBudget(Math.min(2 * concurrency, LEAF_BATCHES));
    const writer = new FileWriter(file);
    await runWorkers(concurrency, options.signal, async (signal) => {
      for (let range = todo[cursor++]; range; range = todo[cursor++]) {
        const piece = range;
        const record = await withRetry(() => fetchPiece(job, writer, offset, piece, progress, budget, signal), options.retry, signal, 'downloadToFile');
        state.pieces[piece.start] = record;
        progress.finish(piece.start, rangeLength(piece));
        await saver.save();
      }
    });
    await saver.flush();

    const records = pieces.map((p) => state.pieces[p.start]!);
    const treeEtag = combineTreeEtags(records.map((r) => r.treeEtag));
    if (wholeEtag && wholeEtag !== treeEtag) {
      // Every piece matched its own header, so the server contradicts itself: start over next time.
      await closeFile();
      await rm(temp, { force: true });
      await rm(statePath, { force: true });
      throw new ChecksumMismatchError(`the downloaded output of job ${job.id} has tree etag ${treeEtag}, the job says ${wholeEtag}`,
        { start: 0, end: size - 1 }, wholeEtag, treeEtag, false);
    }
    if (options.fsync) await file.sync();
    await closeFile();
    await commit(temp, path, options.fsync === true);
    await rm(statePath, { force: true });
    const verified = wholeEtag ? 'full' : records.every((r) => r.checked) ? 'pieces' : 'none';
    return { path, size, treeEtag, verified, piecesFetched: todo.length, piecesReused: reused, synced: options.fsync === true };
  } finally {
    await closeFile();
  }
}

/**
 * One ranged GET (output offsets) streamed into the file at `range.start − offset`, hashed on
 * the way, checked against its header.
 */
async function fetchPiece(job: DownloadableJob, file: FileWriter, offset: number, range: ByteRange, progress: ProgressTracker,
  budget: BatchBudget, signal: AbortSignal): Promise<PieceRecord> {
  progress.reset(range.start);
  const orange = `bytes=${range.start}-${range.end}`;
  const end = range.end + 1 - offset;
  const out = new PieceSink(file, range.start - offset, budget);
  const tooLong = (): TransferError => new TransferError(`piece ${range.start}-${range.end}: the server sent more bytes than asked for`);
  // Straight from the socket into the leaf buffers where it can (plain HTTP), else a stream.
  const target: BodyTarget = {
    space: () => out.space()?.subarray(0, end - out.position),
    filled: (n) => {
      out.filled(n);
      progress.add(range.start, n);
    },
    ready: () => out.position < end ? out.ready() : Promise.reject(tooLong()),
  };
  let response: OASResponse | undefined;
  let expected: string | null;
  let treeEtag: string;
  try {
    const direct = await job.api.fetchJobOutputInto(job.vaultId, job.id, orange, target, { signal });
    if (direct) {
      expected = treeEtagHeader(direct.headers['x-oas-tree-etag']);
    } else {
      response = await callOk(job.api.fetchJobOutput(job.vaultId, job.id, orange, { signal }));
      expected = treeEtagHeader(response.getHeader('x-oas-tree-etag'));
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        if (out.position + chunk.length > end) throw tooLong();
        await out.write(chunk);
        progress.add(range.start, chunk.length);
      }
    }
    const position = out.position;
    if (position !== end) {
      throw new TransferError(`piece ${range.start}-${range.end}: got ${position - (range.start - offset)} of ${rangeLength(range)} bytes`);
    }
    treeEtag = await out.finish();
  } catch (error) {
    response?.body.destroy();
    await out.discard();
    if (signal.aborted) throw isAbortError(error) ? error : abortError('downloadToFile', signal);
    // The server's refusal, a failed connection or a short piece: as they are (retry.ts decides).
    if (error instanceof TransferError || error instanceof OASError || error instanceof OASTransportError || isAbortError(error)) throw error;
    // The body broke off (reset, timeout): worth another try.
    throw new TransferError(`piece ${range.start}-${range.end}: ${(error as Error).message}`, { cause: error });
  }
  if (expected && expected !== treeEtag) {
    throw new ChecksumMismatchError(`piece ${range.start}-${range.end}: tree etag ${treeEtag}, the server's x-oas-tree-etag says ${expected}`,
      range, expected, treeEtag, true);
  }
  return { treeEtag, checked: expected !== null };
}

function treeEtagHeader(value: string | undefined): string | null {
  return value?.trim().toUpperCase() || null;
}

/**
 * Gathers the response's small chunks (typically 64 KiB) into 1 MiB positional writes:
 * a sixteenth of the system calls, for one memory copy.
 */
class CoalescingWriter {
  private readonly buffer = Buffer.allocUnsafe(1024 * 1024);
  private fill = 0;
  /** The file offset after everything written so far (flushed or not). */
  position: number;

  constructor(private readonly file: FileHandle, start: number) {
    this.position = start;
  }

  async write(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      const take = Math.min(this.buffer.length - this.fill, chunk.length - at);
      chunk.copy(this.buffer, this.fill, at, at + take);
      this.fill += take;
      at += take;
      this.position += take;
      if (this.fill === this.buffer.length) await this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.fill === 0) return;
    await writeAll(this.file, this.buffer.subarray(0, this.fill), this.position - this.fill);
    this.fill = 0;
  }
}

/** Re-hashes the pieces an earlier run verified; keeps those still intact. Returns how many. */
async function recheckPieces(temp: string, offset: number, pieces: ByteRange[], previous: DownloadState, state: DownloadState,
  progress: ProgressTracker, options: DownloadOptions): Promise<number> {
  const candidates = pieces.filter((p) => previous.pieces[p.start]);
  let cursor = 0;
  let kept = 0;
  await runWorkers(Math.min(Math.max(1, options.concurrency ?? 4), Math.max(1, candidates.length)), options.signal, async (signal) => {
    for (let range = candidates[cursor++]; range; range = candidates[cursor++]) {
      const record = previous.pieces[range.start]!;
      const { treeEtag } = await hashFileRange(temp, range.start - offset, rangeLength(range), signal);
      if (treeEtag !== record.treeEtag) continue; // lost or torn write: fetch it again
      state.pieces[range.start] = record;
      progress.finish(range.start, rangeLength(range));
      kept++;
    }
  });
  return kept;
}

/** The previous run's state if it belongs to this very download and its temp file is intact. */
async function loadState(statePath: string, fresh: DownloadState, temp: string): Promise<DownloadState | null> {
  let previous: DownloadState;
  try {
    previous = JSON.parse(await readFile(statePath, 'utf8')) as DownloadState;
  } catch {
    return null;
  }
  const same = previous && previous.version === 1 && previous.vaultId === fresh.vaultId && previous.jobId === fresh.jobId &&
    previous.size === fresh.size && (previous.offset ?? 0) === fresh.offset && previous.pieceSize === fresh.pieceSize &&
    previous.jobTreeEtag === fresh.jobTreeEtag &&
    previous.pieces && typeof previous.pieces === 'object';
  if (!same) return null;
  try {
    if ((await stat(temp)).size !== fresh.size) return null;
  } catch {
    return null;
  }
  return previous;
}

/** Writes the progress file after each piece; writes never overlap and the newest state wins. */
class StateSaver {
  private chain: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(private readonly path: string, private readonly state: DownloadState) {}

  save(): Promise<void> {
    this.dirty = true;
    this.chain = this.chain.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const tmp = `${this.path}.tmp`;
      await writeFile(tmp, JSON.stringify(this.state));
      await rename(tmp, this.path);
    });
    return this.chain;
  }

  flush(): Promise<void> {
    return this.chain;
  }
}

/** Inventory output: one stream to the temp file, checked against InventorySizeInBytes. */
async function downloadWhole(job: DownloadableJob, path: string, options: DownloadOptions): Promise<DownloadResult> {
  const { temp } = downloadTempPaths(path);
  const expectedSize = job.outputSize;
  const progress = new ProgressTracker(expectedSize, options.onProgress);
  const { size, treeEtag } = await withRetry(async () => {
    progress.reset(0);
    const file = await open(temp, 'w');
    try {
      const response = await callOk(job.api.fetchJobOutput(job.vaultId, job.id, undefined, { signal: options.signal }));
      const hasher = new TreeEtagHasher();
      const out = new CoalescingWriter(file, 0);
      try {
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          hasher.update(chunk);
          await out.write(chunk);
          progress.add(0, chunk.length);
        }
        await out.flush();
      } catch (error) {
        response.body.destroy();
        if (options.signal?.aborted || isAbortError(error)) throw error;
        throw new TransferError(`downloading the inventory: ${(error as Error).message}`, { cause: error });
      }
      const position = out.position;
      if (expectedSize !== null && position !== expectedSize) throw new TransferError(`the inventory has ${position} bytes, the job says ${expectedSize}`);
      if (options.fsync) await file.sync();
      return { size: position, treeEtag: hasher.digest() };
    } finally {
      await file.close();
    }
  }, options.retry, options.signal, 'downloadToFile').catch(async (error: unknown) => {
    await rm(temp, { force: true });
    throw error;
  });
  progress.finish(0, size);
  await commit(temp, path, options.fsync === true);
  return { path, size, treeEtag, verified: 'none', piecesFetched: 1, piecesReused: 0, synced: options.fsync === true };
}

/** Renames the temp file into place; with `sync`, syncs the directory so the rename survives a crash. */
async function commit(temp: string, path: string, sync: boolean): Promise<void> {
  await rename(temp, path);
  if (!sync) return;
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename itself has happened.
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}
