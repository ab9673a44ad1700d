// The embedded blob store: one file per blob plus one file per leaf family with its 1 MiB
// leaf digests (`.leaves` for MD5, `.<family>.leaves` for the others). Layout under `dir`:
//   tmp/<key>, tmp/<key>[.<family>].leaves          writes in progress (same file system, so rename is atomic)
//   blobs/<first 2 hex>/<key>[[.<family>].leaves]   committed blobs
// A blob becomes visible only by rename after all its files are fsynced (other families
// first, then the MD5 leaves, then the data), and the directory is fsynced before commit
// resolves, so a crash leaves nothing or a whole blob; the pieces a crash can leave behind
// (tmp files, a lone data or leaves file) go in removeLeftovers. Large blobs are written and
// read with direct I/O where the file system allows it (direct-io.ts).
import fs from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { promisify } from 'node:util';
import { MIB, isId, newId } from '@oas/sdk';
import {
  READ_HIGH_WATER_MARK, abortOnSignal, checkAddedLeaves, checkKey, checkLeaves, checkReadArgs, checkReadLeavesArgs, leavesOutOfRange, streamFinished,
} from './common.js';
import { BlobDataReader, BlobDataStream, openDirect } from './direct-io.js';
import { KNOWN_LEAF_FAMILIES, toLeafSet, type LeafSet } from './leaf-families.js';
import {
  BlobNotFoundError, type BlobFileReader, type BlobStore, type BlobWriter, type CreateOptions, type StreamOptions,
} from './types.js';

// Defined in types.ts (the S3 store raises it too); still exported here for old importers.
export { BlobNotFoundError };

/** Blobs expected to be larger than this (one pool slot) are written with direct I/O. */
const DIRECT_MIN_BYTES = 8 * MIB;
const LEAVES_SUFFIX = '.leaves';

/** The file name suffix of a family's leaves: MD5 keeps the historical `.leaves`. */
function leavesSuffix(family: string): string {
  return family === 'md5' ? LEAVES_SUFFIX : `.${family}${LEAVES_SUFFIX}`;
}

const openFd = promisify(fs.open);
const fsyncFd = promisify(fs.fsync);
const fdatasyncFd = promisify(fs.fdatasync);
/**
 * While a blob is written, its data is flushed to disk every this many bytes, so that the
 * commit's fsync finds little left to write: the disk works while the rest is received and
 * hashed, instead of after it (a 1 GiB upload otherwise waited for all of it at the end).
 */
const FLUSH_BYTES = 64 * MIB;
const FLUSH_POLL_MS = 100;

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
}

/** fsync a directory, so the names created or renamed in it survive power loss. */
async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeFileSynced(path: string, data: Buffer): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function openFileBlobStore(dir: string): Promise<BlobStore> {
  const store = new FileBlobStore(dir);
  await mkdir(store.tmpDir, { recursive: true });
  await mkdir(store.blobsDir, { recursive: true });
  // The two directories must themselves survive a crash before any blob is acknowledged.
  await fsyncDir(dir);
  return store;
}

type WriterState = 'open' | 'committing' | 'committed' | 'failed' | 'aborted';

class FileBlobWriter implements BlobWriter {
  readonly stream: BlobDataStream;
  private state: WriterState = 'open';
  private readonly fd: number;
  private commitDone: Promise<void> | null = null;
  private abortDone: Promise<void> | null = null;
  readonly untie: () => void;
  private readonly flushTimer: NodeJS.Timeout;
  private flushing: Promise<void> | null = null;
  private flushedAt = 0;
  /** An early flush failed: the commit must fail too (a later fsync may not report it again). */
  private flushError: unknown;

  constructor(
    readonly key: string,
    fd: number,
    direct: number | undefined,
    private readonly store: FileBlobStore,
    signal: AbortSignal | undefined,
  ) {
    this.fd = fd;
    // The descriptors must outlive 'finish' so commit can fsync; the stream closes them when
    // destroyed, so closeStream is the one place they are closed: a second close could hit
    // the same number already reused by a socket or another file.
    this.stream = new BlobDataStream(fd, direct);
    // The caller's pipeline sees write errors; this keeps a late one from crashing the
    // process after the caller stopped listening (commit checks `errored`).
    this.stream.on('error', () => {});
    this.untie = abortOnSignal(signal, () => this.abort());
    this.flushTimer = setInterval(() => this.flushEarly(), FLUSH_POLL_MS).unref();
  }

  private flushEarly(): void {
    const s = this.stream;
    if (this.flushing || this.state !== 'open' || s.closed || s.destroyed || s.bytesWritten - this.flushedAt < FLUSH_BYTES) return;
    this.flushedAt = s.bytesWritten;
    this.flushing = fdatasyncFd(this.fd).then(
      () => { this.flushing = null; },
      (err: unknown) => { this.flushError ??= err; this.flushing = null; },
    );
  }

  /** No early flush runs any more (before the final fsync, and before the descriptor closes). */
  private async stopFlushing(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flushing;
  }

  commit(leaves: Buffer | LeafSet): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(`blob ${this.key}: commit after ${this.state}`));
    this.state = 'committing';
    this.commitDone = this.doCommit(toLeafSet(leaves)).then(
      () => { this.state = 'committed'; this.untie(); },
      (err: unknown) => { this.state = 'failed'; throw err; },
    );
    return this.commitDone;
  }

  private async doCommit(leaves: LeafSet): Promise<void> {
    const s = this.stream;
    await streamFinished(s, this.key);
    const families = checkLeaves(this.key, s.bytesWritten, leaves);
    const paths = this.store.paths(this.key);
    // Order matters (see the file comment): leaves files, fsync all, rename leaves (MD5
    // last) then data, fsync the directory.
    for (const [family, digests] of families) await writeFileSynced(paths.tmpLeaves(family), digests);
    await this.stopFlushing();
    if (this.flushError) throw this.flushError;
    await fsyncFd(this.fd);
    await this.closeStream();
    if (s.errored) throw s.errored; // the close itself failed
    await this.store.ensureShard(paths.shard);
    for (const [family] of families) await rename(paths.tmpLeaves(family), paths.leaves(family));
    await rename(paths.tmpData, paths.data);
    await fsyncDir(paths.shard);
  }

  /** Destroys the stream, which closes the descriptor once any in-flight write is done. */
  private async closeStream(): Promise<void> {
    await this.stopFlushing();
    const s = this.stream;
    if (s.closed) return;
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.destroy();
    await closed;
  }

  abort(): Promise<void> {
    this.abortDone ??= this.doAbort();
    return this.abortDone;
  }

  private async doAbort(): Promise<void> {
    if (this.state === 'committing') await this.commitDone!.catch(() => {});
    if (this.state === 'committed') return; // nothing to discard: the blob is the caller's now
    const failedCommit = this.state === 'failed';
    this.state = 'aborted';
    this.untie();
    // The stream lets an in-flight write finish before it closes the descriptor (a closed
    // fd number can be reused at once by another open, and a late write would land there).
    await this.closeStream();
    const paths = this.store.paths(this.key);
    await unlinkIfPresent(paths.tmpData);
    for (const { name } of KNOWN_LEAF_FAMILIES) await unlinkIfPresent(paths.tmpLeaves(name));
    if (failedCommit) {
      // A commit that failed half way may have renamed some files into place; the key is
      // fresh and ours alone, so removing them all is safe.
      await unlinkIfPresent(paths.data);
      for (const { name } of KNOWN_LEAF_FAMILIES) await unlinkIfPresent(paths.leaves(name));
    }
  }
}

class FileBlobStore implements BlobStore {
  readonly tmpDir: string;
  readonly blobsDir: string;
  /** Shard directories made durable by this process. */
  private readonly shards = new Map<string, Promise<void>>();

  constructor(dir: string) {
    this.tmpDir = join(dir, 'tmp');
    this.blobsDir = join(dir, 'blobs');
  }

  /** Paths of a key; every caller has validated it (or made it with newId). */
  paths(key: string) {
    const shard = join(this.blobsDir, key.slice(0, 2));
    return {
      shard,
      data: join(shard, key),
      leaves: (family: string) => join(shard, key + leavesSuffix(family)),
      tmpData: join(this.tmpDir, key),
      tmpLeaves: (family: string) => join(this.tmpDir, key + leavesSuffix(family)),
    };
  }

  /**
   * Makes sure the shard directory exists durably: created if new, and its parent fsynced
   * once per process either way (a directory left by a crashed process between its mkdir
   * and fsync would otherwise never get that fsync). Shared by concurrent commits.
   */
  ensureShard(shard: string): Promise<void> {
    let done = this.shards.get(shard);
    if (!done) {
      done = (async () => {
        await mkdir(shard, { recursive: true });
        await fsyncDir(this.blobsDir);
      })();
      done.catch(() => this.shards.delete(shard));
      this.shards.set(shard, done);
    }
    return done;
  }

  async removeLeftovers(): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.tmpDir)) {
      await rm(join(this.tmpDir, name), { recursive: true, force: true });
      removed++;
    }
    for (const shard of await readdir(this.blobsDir)) {
      if (!/^[0-9A-F]{2}$/.test(shard)) continue;
      const dir = join(this.blobsDir, shard);
      const names = new Set(await readdir(dir));
      for (const name of names) {
        // A commit or delete cut short leaves pieces; a blob needs its data and MD5 leaves,
        // and leaves of any family need their data.
        const dot = name.indexOf('.');
        const key = dot < 0 ? name : name.slice(0, dot);
        if (!isId(key)) continue; // not ours: leave it alone
        const partner = dot < 0 ? key + LEAVES_SUFFIX : key;
        if (names.has(partner)) continue;
        await unlinkIfPresent(join(dir, name));
        removed++;
      }
    }
    return removed;
  }

  async create(options: CreateOptions = {}): Promise<BlobWriter> {
    options.signal?.throwIfAborted();
    const key = newId();
    const path = this.paths(key).tmpData;
    // 'wx': never reuse a file that is already there.
    const fd = await openFd(path, 'wx', 0o644);
    let direct: number | undefined;
    try {
      if ((options.sizeHint ?? 0) > DIRECT_MIN_BYTES) direct = await openDirect(path, true);
    } catch (err) {
      fs.close(fd, () => void unlinkIfPresent(path).catch(() => undefined));
      throw err;
    }
    return new FileBlobWriter(key, fd, direct, this, options.signal);
  }

  read(key: string, start = 0, end?: number, options: StreamOptions = {}): Readable {
    checkReadArgs(key, start, end);
    // A custom open turns "no such file" into an error that names the blob, at no cost to
    // the data path (the stream still reads with plain fs.read).
    const openBlob = (path: string, flags: string, mode: number, cb: (err: Error | null, fd?: number) => void) => {
      fs.open(path, flags, mode, (err, fd) => cb(err && isMissing(err) ? new BlobNotFoundError(key) : err, fd));
    };
    const stream = fs.createReadStream(this.paths(key).data, {
      start,
      end,
      highWaterMark: READ_HIGH_WATER_MARK,
      fs: { open: openBlob, read: fs.read, close: fs.close },
    });
    return options.signal ? addAbortSignal(options.signal, stream) : stream;
  }

  async openRead(key: string): Promise<BlobFileReader> {
    checkReadArgs(key, 0, undefined);
    try {
      return await BlobDataReader.open(this.paths(key).data);
    } catch (err) {
      throw isMissing(err) ? new BlobNotFoundError(key) : err;
    }
  }

  async readLeaves(key: string, first = 0, count?: number, family = 'md5'): Promise<Buffer> {
    const digestBytes = checkReadLeavesArgs(key, first, count, family);
    let handle;
    try {
      handle = await open(this.paths(key).leaves(family), 'r');
    } catch (err) {
      throw isMissing(err) ? new BlobNotFoundError(key) : err;
    }
    try {
      const total = (await handle.stat()).size / digestBytes;
      const n = count ?? total - first;
      if (n < 0 || first + n > total) throw leavesOutOfRange(key, first, count, total);
      const buf = Buffer.alloc(n * digestBytes);
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await handle.read(buf, got, buf.length - got, first * digestBytes + got);
        if (bytesRead === 0) throw new Error(`blob ${key}: leaves file shrank while reading`);
        got += bytesRead;
      }
      return buf;
    } finally {
      await handle.close();
    }
  }

  async addLeaves(key: string, family: string, digests: Buffer): Promise<void> {
    checkKey(key);
    const size = await this.size(key);
    if (size === null) throw new BlobNotFoundError(key);
    checkAddedLeaves(key, size, family, digests);
    const paths = this.paths(key);
    // A fresh temporary name (two backfills of one blob may race), fsynced, then renamed
    // over: readers see the old file or the whole new one. A delete racing with this leaves
    // a lone leaves file, which removeLeftovers clears.
    const tmp = join(this.tmpDir, `${newId()}${leavesSuffix(family)}`);
    try {
      await writeFileSynced(tmp, digests);
      await rename(tmp, paths.leaves(family));
    } catch (err) {
      await unlinkIfPresent(tmp);
      throw err;
    }
    await fsyncDir(paths.shard);
  }

  async size(key: string): Promise<number | null> {
    checkKey(key);
    try {
      return (await stat(this.paths(key).data)).size;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    const paths = this.paths(key);
    // Data first: a crash in between leaves lone leaves files, which removeLeftovers clears.
    // No directory fsync: a deletion undone by power loss just comes back as garbage.
    await unlinkIfPresent(paths.data);
    for (const { name } of KNOWN_LEAF_FAMILIES) await unlinkIfPresent(paths.leaves(name));
  }

  async *keys(): AsyncIterable<string> {
    for (const shard of await readdir(this.blobsDir)) {
      if (!/^[0-9A-F]{2}$/.test(shard)) continue;
      let dir;
      try {
        dir = await fs.promises.opendir(join(this.blobsDir, shard));
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      for await (const entry of dir) if (isId(entry.name)) yield entry.name;
    }
  }

  async close(): Promise<void> {
    // Nothing held open between calls; writers own their descriptors.
  }
}
