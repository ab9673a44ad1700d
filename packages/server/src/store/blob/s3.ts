// The scale-out blob store: any S3-compatible service (AWS S3, Ceph radosgw, MinIO, Aliyun
// OSS). Layout under `<prefix>` in one bucket:
//   pending/<key>   an empty marker: a write is in progress. create() puts it, a heartbeat
//                   re-puts it while the writer lives, commit and abort delete it.
//   blobs/<key>     the bytes, one object. Created by commit only: a single PutObject for a
//                   blob of at most partSize bytes (held in memory until then), otherwise the
//                   multipart upload the writer streamed its parts into is completed.
//   leaves-<family>/<key>  the 1 MiB leaf digests of a family other than MD5 (leaf-families.ts),
//                   written after blobs/<key>.
//   leaves/<key>    the MD5 leaf digests, written last: the commit marker. A blob exists
//                   (size, keys, readLeaves) exactly when this object exists. Its metadata
//                   `blob-size` holds the data size (size() is one HEAD).
// Delete removes leaves/ first, then the other families, then blobs/, so a
// committed-looking blob always has its data.
//
// Leftovers and the safety rule (several nodes share the bucket, so "at start-up nothing
// else writes" does not hold): removeLeftovers touches only what looks abandoned, judged by
// the object timestamps of the service against this node's clock:
//   - a pending marker older than leftoverAgeMs (default 1 h): its writer stopped
//     heartbeating (the heartbeat runs every leftoverAgeMs / 4), so it crashed. Its multipart
//     uploads are aborted, its data object deleted unless the blob was committed, then the
//     marker. The marker is re-checked (HEAD) just before, in case a heartbeat landed since
//     the listing.
//   - a data object or leaves object without its partner (data and MD5 leaves; any other
//     family's leaves need the MD5 ones) and without a marker, older than leftoverAgeMs:
//     the piece of a delete or abort that was cut short.
//   - a multipart upload under blobs/ without a marker, initiated more than leftoverAgeMs
//     ago (a crash between the marker's removal and the upload's abort).
//   - never a key a live writer of this store instance is writing.
// Clocks of the nodes and the service must agree to well within leftoverAgeMs * 3/4.
//
// removeLeftovers is cheap enough (three paginated listings) to run periodically, not only
// at start-up; in a cluster it has to, since no node ever sees "nothing else writes".
// Services without ListMultipartUploads or AbortMultipartUpload (s3rver) are tolerated:
// their incomplete uploads stay on the service, everything else works the same. Use an
// unversioned bucket (deletes in a versioned one only hide the bytes).
//
// Why not @aws-sdk/lib-storage's Upload: it completes the upload when the stream ends
// (the data would be readable before commit, or every read would need a HEAD of the
// leaves first), its abort() resolves before its in-flight parts and the multipart abort
// have settled (so "abort leaves nothing" could not be awaited), and a small blob is
// written by a PutObject at stream end that nothing records as in progress. The writer
// here is the same technique (parts of partSize, queueSize in flight, one PUT when small),
// with the completion moved into commit.
import http from 'node:http';
import https from 'node:https';
import { Readable, Writable, addAbortSignal } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command,
  PutObjectCommand, S3Client, UploadPartCommand, type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { MIB, isId, newId } from '@oas/sdk';
import {
  READ_HIGH_WATER_MARK, abortOnSignal, checkKey, checkLeaves, checkReadArgs, checkReadLeavesArgs, leavesOutOfRange,
  streamFinished,
} from './common.js';
import { KNOWN_LEAF_FAMILIES, toLeafSet, type LeafSet } from './leaf-families.js';
import { BlobNotFoundError, type BlobStore, type BlobWriter, type StreamOptions } from './types.js';

/** Families other than MD5, which keep their leaves under leaves-<family>/. */
const OTHER_FAMILIES = KNOWN_LEAF_FAMILIES.filter((f) => f.name !== 'md5').map((f) => f.name);

export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix of everything this store writes; a `/` is appended when missing. */
  prefix?: string;
  /** `http(s)://host:port` of an S3-compatible service; AWS itself when omitted. */
  endpoint?: string;
  region: string;
  /** Both or neither; without them the SDK's default credential chain is used. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** `endpoint/bucket/key` addressing (Ceph, MinIO); Aliyun OSS needs it off. */
  forcePathStyle?: boolean;
  /** Bytes per multipart part (5 MiB .. 5 GiB), default 16 MiB; also the single-PUT limit. */
  partSize?: number;
  /** Parts uploaded at once per writer, default 4. A writer holds at most queueSize + 1 parts. */
  queueSize?: number;
  /** Sockets per agent, default 64. */
  maxSockets?: number;
  /**
   * Longest wait, default 5 min, for the answer to a request (a part upload included) and,
   * on reads, for the next bytes while the consumer is waiting for them. A paused consumer
   * is never timed out. A stalled or full service (radosgw blocks writes to a full pool)
   * thus fails the operation instead of hanging it.
   */
  requestTimeoutMs?: number;
  /** How long an unfinished write must have shown no sign of life before it is removed; default 1 h. */
  leftoverAgeMs?: number;
  /** The clock the leftover rule compares service timestamps against (tests shift it). */
  now?: () => number;
}

const DEFAULT_PART_SIZE = 16 * MIB;
const MIN_PART_SIZE = 5 * MIB;
const MAX_PART_SIZE = 5 * 1024 * MIB;
const MAX_PARTS = 10_000;
const DEFAULT_QUEUE_SIZE = 4;
const DEFAULT_MAX_SOCKETS = 64;
const DEFAULT_LEFTOVER_AGE_MS = 3_600_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
/** x-amz-meta-blob-size on the leaves object. */
const SIZE_META = 'blob-size';

/** The folder of a family's leaf objects. */
function leavesDir(family: string): string {
  return family === 'md5' ? 'leaves/' : `leaves-${family}/`;
}

type ErrorShape = { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | null | undefined;

function statusOf(err: unknown): number | undefined {
  return (err as ErrorShape)?.$metadata?.httpStatusCode;
}

/** A missing object (not a missing bucket or upload). HEAD answers carry no error code, only 404. */
function isNotFound(err: unknown): boolean {
  const name = (err as ErrorShape)?.name;
  if (name === 'NoSuchKey' || name === 'NotFound') return true;
  return statusOf(err) === 404 && name !== 'NoSuchBucket' && name !== 'NoSuchUpload';
}

function isNoSuchUpload(err: unknown): boolean {
  return (err as ErrorShape)?.name === 'NoSuchUpload';
}

function isUnsupported(err: unknown): boolean {
  const name = (err as ErrorShape)?.name;
  const status = statusOf(err);
  return name === 'NotImplemented' || name === 'MethodNotAllowed' || status === 501 || status === 405;
}

function isRangeNotSatisfiable(err: unknown): boolean {
  return statusOf(err) === 416 || (err as ErrorShape)?.name === 'InvalidRange';
}

/** `bytes <first>-<last>/<total>` of a 206 answer; total is undefined when the service sends `*`. */
function parseContentRange(value: string | undefined): { first: number; total: number | undefined } | null {
  const m = value === undefined ? null : /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(value.trim());
  return m ? { first: Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) } : null;
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
  return value;
}

export async function openS3BlobStore(opts: S3BlobStoreOptions): Promise<BlobStore> {
  if (!opts.bucket) throw new TypeError('an S3 blob store needs a bucket');
  if (!opts.region) throw new TypeError('an S3 blob store needs a region');
  if ((opts.accessKeyId === undefined) !== (opts.secretAccessKey === undefined)) {
    throw new TypeError('give both accessKeyId and secretAccessKey, or neither');
  }
  const store = new S3BlobStore(opts);
  try {
    await store.client.send(new HeadBucketCommand({ Bucket: store.bucket }));
  } catch (err) {
    await store.close();
    const status = statusOf(err);
    const why = status === 404 ? 'does not exist'
      : status !== undefined ? `cannot be used: ${(err as Error).name} (HTTP ${status})`
      : `cannot be reached: ${(err as Error).message}`;
    throw new Error(`S3 bucket ${opts.bucket}${opts.endpoint ? ` at ${opts.endpoint}` : ''} ${why}`, { cause: err });
  }
  return store;
}

interface Listed {
  key: string;
  modified: number;
}

/** Walks key-sorted listings side by side: one row per key, with its entry in each (or undefined). */
async function* joinByKey(sources: AsyncIterator<Listed>[]): AsyncGenerator<(Listed | undefined)[]> {
  const heads = await Promise.all(sources.map((s) => s.next()));
  for (;;) {
    let min: string | null = null;
    for (const h of heads) if (!h.done && (min === null || h.value.key < min)) min = h.value.key;
    if (min === null) return;
    const row: (Listed | undefined)[] = [];
    for (let i = 0; i < sources.length; i++) {
      const h = heads[i]!;
      if (!h.done && h.value.key === min) {
        row.push(h.value);
        heads[i] = await sources[i]!.next();
      } else {
        row.push(undefined);
      }
    }
    yield row;
  }
}

class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly partSize: number;
  readonly queueSize: number;
  readonly leftoverAgeMs: number;
  readonly heartbeatMs: number;
  readonly requestTimeoutMs: number;
  private readonly now: () => number;
  private readonly agent: http.Agent | https.Agent;
  /** Writers of this instance not yet committed or aborted: removeLeftovers leaves their keys alone. */
  readonly writers = new Set<S3BlobWriter>();

  constructor(opts: S3BlobStoreOptions) {
    this.bucket = opts.bucket;
    const prefix = opts.prefix ?? '';
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : prefix + '/';
    this.partSize = checkInteger('partSize', opts.partSize ?? DEFAULT_PART_SIZE, MIN_PART_SIZE, MAX_PART_SIZE);
    this.queueSize = checkInteger('queueSize', opts.queueSize ?? DEFAULT_QUEUE_SIZE, 1, 64);
    this.leftoverAgeMs = checkInteger('leftoverAgeMs', opts.leftoverAgeMs ?? DEFAULT_LEFTOVER_AGE_MS, 0, 30 * 86_400_000);
    this.heartbeatMs = Math.max(1000, Math.floor(this.leftoverAgeMs / 4));
    this.now = opts.now ?? Date.now;
    const maxSockets = checkInteger('maxSockets', opts.maxSockets ?? DEFAULT_MAX_SOCKETS, 1, 4096);
    this.requestTimeoutMs = checkInteger('requestTimeoutMs', opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, 100, 86_400_000);
    const secure = opts.endpoint === undefined || opts.endpoint.startsWith('https:');
    // One keep-alive agent: every request (parts, ranged reads, listings) reuses connections.
    this.agent = secure
      ? new https.Agent({ keepAlive: true, maxSockets })
      : new http.Agent({ keepAlive: true, maxSockets });
    const config: S3ClientConfig = {
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
      // Checksums only where S3 demands them: the CRC trailers newer SDKs send by default
      // are not understood by s3rver or radosgw of Ceph 16, and integrity is covered by the
      // SigV4 payload hash on writes and by the leaf digests the service checks on reads.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // requestTimeout runs until the response headers arrive (then the handler clears it),
      // so it bounds every request without cutting off a body a slow consumer has paused;
      // read bodies have their own stall timer (S3ReadStream). No socket idle timeout, for
      // the same reason. Timed-out requests are retried by the SDK like other transient errors.
      requestHandler: {
        [secure ? 'httpsAgent' : 'httpAgent']: this.agent,
        connectionTimeout: 10_000,
        requestTimeout: this.requestTimeoutMs,
        throwOnRequestTimeout: true,
      },
    };
    if (opts.accessKeyId !== undefined && opts.secretAccessKey !== undefined) {
      config.credentials = { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey };
    }
    this.client = new S3Client(config);
  }

  dataKey(key: string): string {
    return `${this.prefix}blobs/${key}`;
  }

  /** Where a family's leaves live: MD5 keeps the historical leaves/. */
  leavesKey(key: string, family = 'md5'): string {
    return `${this.prefix}${leavesDir(family)}${key}`;
  }

  markerKey(key: string): string {
    return `${this.prefix}pending/${key}`;
  }

  async putMarker(key: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.markerKey(key), Body: Buffer.alloc(0), ContentLength: 0 }));
  }

  async deleteObject(objectKey: string): Promise<void> {
    // DeleteObject of a missing key succeeds in S3; some services answer 404 instead.
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Aborts a multipart upload; one already gone, or a service that cannot abort, is fine. */
  async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.dataKey(key), UploadId: uploadId }));
    } catch (err) {
      if (!isNoSuchUpload(err) && !isNotFound(err) && !isUnsupported(err)) throw err;
    }
  }

  async create(options: StreamOptions = {}): Promise<BlobWriter> {
    options.signal?.throwIfAborted();
    const key = newId();
    // The marker comes first, so a crash at any later point leaves something removeLeftovers finds.
    await this.putMarker(key);
    const writer = new S3BlobWriter(key, this, options.signal);
    this.writers.add(writer);
    return writer;
  }

  read(key: string, start = 0, end?: number, options: StreamOptions = {}): Readable {
    checkReadArgs(key, start, end);
    const stream = new S3ReadStream(this, key, start, end);
    return options.signal ? addAbortSignal(options.signal, stream) : stream;
  }

  async readLeaves(key: string, first = 0, count?: number, family = 'md5'): Promise<Buffer> {
    const digestBytes = checkReadLeavesArgs(key, first, count, family);
    const objectKey = this.leavesKey(key, family);
    const outOfRange = async (): Promise<never> => {
      throw leavesOutOfRange(key, first, count, await this.leafCount(key, family));
    };
    if (count === 0) {
      if (first > (await this.leafCount(key, family))) await outOfRange();
      return Buffer.alloc(0);
    }
    const from = first * digestBytes;
    // No Range for the whole object: `bytes=0-` is unsatisfiable on an empty one.
    const range = count !== undefined ? `bytes=${from}-${from + count * digestBytes - 1}` : first > 0 ? `bytes=${from}-` : undefined;
    let body: Buffer | null = null;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey, Range: range }));
      const answered = parseContentRange(res.ContentRange);
      // Some services (s3rver) answer a range past the end with a bogus 206 instead of 416.
      if (range !== undefined && answered?.total !== undefined && from >= answered.total) (res.Body as Readable).destroy();
      else body = Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(key);
      if (!isRangeNotSatisfiable(err)) throw err;
    }
    if (body === null) {
      // The range starts at or past the end: fine for "the rest from `first`" when `first`
      // is exactly the leaf count, an error otherwise.
      if (count === undefined && first === (await this.leafCount(key, family))) return Buffer.alloc(0);
      return outOfRange();
    }
    if (body.length % digestBytes !== 0) throw new Error(`blob ${key}: leaves object has ${body.length} bytes, not a multiple of ${digestBytes}`);
    if (count !== undefined && body.length !== count * digestBytes) return outOfRange();
    return body;
  }

  private async leafCount(key: string, family: string): Promise<number> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.leavesKey(key, family) }));
      return (head.ContentLength ?? 0) / checkReadLeavesArgs(key, 0, undefined, family);
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(key);
      throw err;
    }
  }

  async size(key: string): Promise<number | null> {
    checkKey(key);
    let meta: Record<string, string> | undefined;
    try {
      meta = (await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.leavesKey(key) }))).Metadata;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    const size = Number(meta?.[SIZE_META]);
    if (Number.isSafeInteger(size) && size >= 0) return size;
    // A leaves object without the size (not written by this store): ask the data object.
    try {
      return (await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.dataKey(key) }))).ContentLength ?? null;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    // MD5 leaves first (the blob stops existing), then the rest; a crash in between leaves
    // objects without MD5 leaves, which removeLeftovers clears once they are old enough.
    await this.deleteObject(this.leavesKey(key));
    for (const family of OTHER_FAMILIES) await this.deleteObject(this.leavesKey(key, family));
    await this.deleteObject(this.dataKey(key));
  }

  async *keys(): AsyncIterable<string> {
    for await (const entry of this.list('leaves/')) yield entry.key;
  }

  /** Our objects under `<prefix><dir>`, by key, paginated (one page in memory). */
  private async *list(dir: string): AsyncGenerator<Listed> {
    const prefix = this.prefix + dir;
    let token: string | undefined;
    do {
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of res.Contents ?? []) {
        const key = o.Key?.slice(prefix.length);
        if (key !== undefined && isId(key)) yield { key, modified: o.LastModified?.getTime() ?? 0 };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  /** Incomplete multipart uploads under blobs/, by key; null when the service cannot list them. */
  private async listUploads(): Promise<Map<string, { uploadId: string; initiated: number }[]> | null> {
    const prefix = this.prefix + 'blobs/';
    const uploads = new Map<string, { uploadId: string; initiated: number }[]>();
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      for (;;) {
        const res = await this.client.send(new ListMultipartUploadsCommand({
          Bucket: this.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker,
        }));
        for (const u of res.Uploads ?? []) {
          const key = u.Key?.startsWith(prefix) ? u.Key.slice(prefix.length) : undefined;
          if (key === undefined || !isId(key) || !u.UploadId) continue;
          const list = uploads.get(key) ?? [];
          list.push({ uploadId: u.UploadId, initiated: u.Initiated?.getTime() ?? 0 });
          uploads.set(key, list);
        }
        if (!res.IsTruncated || (!res.NextKeyMarker && !res.NextUploadIdMarker)) break;
        keyMarker = res.NextKeyMarker;
        uploadIdMarker = res.NextUploadIdMarker;
      }
    } catch (err) {
      if (isUnsupported(err)) return null;
      throw err;
    }
    return uploads;
  }

  /** The marker is still there and still old (a heartbeat may have landed since the listing). */
  private async markerIsStale(key: string, cutoff: number): Promise<boolean> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.markerKey(key) }));
      return (head.LastModified?.getTime() ?? 0) <= cutoff;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async removeLeftovers(): Promise<number> {
    const cutoff = this.now() - this.leftoverAgeMs;
    const live = new Set([...this.writers].map((w) => w.key));
    // Uploads are listed before the markers: an upload started later has a younger marker.
    const uploads = await this.listUploads();
    const marked = new Set<string>();
    let removed = 0;
    const rows = joinByKey([this.list('blobs/'), this.list('leaves/'), this.list('pending/'), ...OTHER_FAMILIES.map((f) => this.list(leavesDir(f)))]);
    for await (const [data, leaves, marker, ...others] of rows) {
      const key = (data ?? leaves ?? marker ?? others.find((o) => o))!.key;
      if (live.has(key)) continue;
      const otherFamilies = OTHER_FAMILIES.filter((_, i) => others[i]);
      if (marker) {
        marked.add(key);
        if (marker.modified > cutoff || !(await this.markerIsStale(key, cutoff))) continue;
        if (!leaves) {
          // Abandoned before its commit finished: nothing of it is wanted.
          for (const u of uploads?.get(key) ?? []) await this.abortUpload(key, u.uploadId);
          for (const family of otherFamilies) await this.deleteObject(this.leavesKey(key, family));
          if (data) await this.deleteObject(this.dataKey(key));
        }
        // (With leaves the blob is committed; only its marker was left behind.)
        await this.deleteObject(this.markerKey(key));
        removed++;
      } else if (data && !leaves && data.modified <= cutoff) {
        await this.deleteObject(this.dataKey(key));
        removed++;
      } else if (leaves && !data && leaves.modified <= cutoff) {
        await this.deleteObject(this.leavesKey(key));
        removed++;
      } else if (!leaves) {
        // Other families' leaves of a blob whose MD5 leaves are gone (a delete cut short).
        for (const [i, family] of OTHER_FAMILIES.entries()) {
          if (others[i] && others[i]!.modified <= cutoff) {
            await this.deleteObject(this.leavesKey(key, family));
            removed++;
          }
        }
      }
    }
    for (const [key, list] of uploads ?? []) {
      if (live.has(key) || marked.has(key)) continue;
      for (const u of list) {
        if (u.initiated > cutoff) continue;
        await this.abortUpload(key, u.uploadId);
        removed++;
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    for (const w of this.writers) w.stopHeartbeat();
    this.client.destroy();
    this.agent.destroy();
  }
}

/** Keeps a writer's pending marker young while the writer lives. */
class Heartbeat {
  private timer: NodeJS.Timeout | null;
  private beating: Promise<void> = Promise.resolve();
  private lastBeat = performance.now();

  constructor(private readonly store: S3BlobStore, private readonly key: string) {
    this.timer = setInterval(() => { void this.beat(); }, store.heartbeatMs);
    this.timer.unref();
  }

  private beat(): Promise<void> {
    if (!this.timer) return this.beating;
    const started = performance.now();
    // A failed beat is retried on the next tick; the commit path checks freshness itself.
    this.beating = this.beating.then(() => this.store.putMarker(this.key)).then(() => { this.lastBeat = started; }, () => {});
    return this.beating;
  }

  /** Re-puts the marker unless it was put within one heartbeat interval. */
  async freshen(): Promise<void> {
    if (performance.now() - this.lastBeat > this.store.heartbeatMs) await this.beat();
    else await this.beating;
  }

  /** No more beats; resolves once a beat in flight has landed (so it cannot revive a deleted marker). */
  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.beating;
  }
}

type WriterState = 'open' | 'committing' | 'committed' | 'failed' | 'aborted';

/**
 * Buffers incoming bytes into parts of `partSize`. The first full part starts a multipart
 * upload; at most `queueSize` parts are in flight and further writes wait (backpressure).
 * A blob that never grows past one part stays in memory until commit puts it in one request.
 */
class S3BlobWriter implements BlobWriter {
  readonly stream: Writable;
  private state: WriterState = 'open';
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private size = 0;
  private upload: Promise<string> | null = null;
  private partCount = 0;
  private readonly etags: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private partError: unknown = null;
  private readonly cancel = new AbortController();
  private readonly heartbeat: Heartbeat;
  private commitDone: Promise<void> | null = null;
  private abortDone: Promise<void> | null = null;
  private readonly untie: () => void;

  constructor(readonly key: string, private readonly store: S3BlobStore, signal: AbortSignal | undefined) {
    this.heartbeat = new Heartbeat(store, key);
    this.stream = new Writable({
      highWaterMark: MIB,
      write: (chunk: Buffer, _enc, cb) => { this.onWrite(chunk).then(() => cb(), cb); },
      final: (cb) => { this.onFinal().then(() => cb(), cb); },
    });
    // The caller's pipeline sees errors; this keeps a late one from crashing the process.
    this.stream.on('error', () => {});
    this.untie = abortOnSignal(signal, () => this.abort());
  }

  stopHeartbeat(): void {
    void this.heartbeat.stop();
  }

  private checkOpen(): void {
    if (this.partError) throw this.partError;
    if (this.state !== 'open') throw new Error(`blob ${this.key}: write after ${this.state}`);
  }

  private async onWrite(chunk: Buffer): Promise<void> {
    this.checkOpen();
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.size += chunk.length;
    // Strictly more than a part: a blob of exactly partSize bytes still goes in one PUT.
    while (this.buffered > this.store.partSize) await this.sendPart(this.take(this.store.partSize));
  }

  private async onFinal(): Promise<void> {
    this.checkOpen();
    if (this.partCount > 0 && this.buffered > 0) await this.sendPart(this.take(this.buffered));
    await this.settleParts();
    this.checkOpen();
  }

  /** The first `n` buffered bytes as one buffer (one copy, or none for a single exact chunk). */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length === n) {
      this.chunks.shift();
      this.buffered -= n;
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    let used = 0;
    while (off < n) {
      const c = this.chunks[used]!;
      const want = n - off;
      if (c.length <= want) {
        c.copy(out, off);
        off += c.length;
        used++;
      } else {
        c.copy(out, off, 0, want);
        this.chunks[used] = c.subarray(want);
        off += want;
      }
    }
    this.chunks.splice(0, used);
    this.buffered -= n;
    return out;
  }

  private ensureUpload(): Promise<string> {
    // Not cancellable on purpose: abort must learn the id of an upload the service created.
    this.upload ??= this.store.client
      .send(new CreateMultipartUploadCommand({ Bucket: this.store.bucket, Key: this.store.dataKey(this.key), ContentType: 'application/octet-stream' }))
      .then((res) => {
        if (!res.UploadId) throw new Error(`blob ${this.key}: CreateMultipartUpload returned no UploadId`);
        return res.UploadId;
      });
    return this.upload;
  }

  private async sendPart(body: Buffer): Promise<void> {
    while (this.inFlight.size >= this.store.queueSize) await Promise.race(this.inFlight);
    this.checkOpen();
    const partNumber = this.partCount + 1;
    if (partNumber > MAX_PARTS) {
      throw new RangeError(`blob ${this.key}: more than ${MAX_PARTS} parts of ${this.store.partSize} bytes; raise partSize`);
    }
    this.partCount = partNumber;
    const uploadId = await this.ensureUpload();
    this.checkOpen();
    const task: Promise<void> = this.store.client
      .send(new UploadPartCommand({
        Bucket: this.store.bucket, Key: this.store.dataKey(this.key), UploadId: uploadId, PartNumber: partNumber,
        Body: body, ContentLength: body.length,
      }), { abortSignal: this.cancel.signal })
      .then((res) => {
        if (!res.ETag) throw new Error(`blob ${this.key}: part ${partNumber} was stored without an ETag`);
        this.etags[partNumber - 1] = res.ETag;
      })
      .catch((err: unknown) => { this.partError ??= err; })
      .finally(() => { this.inFlight.delete(task); });
    this.inFlight.add(task);
  }

  private async settleParts(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  commit(leaves: Buffer | LeafSet): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(`blob ${this.key}: commit after ${this.state}`));
    this.state = 'committing';
    this.commitDone = this.doCommit(toLeafSet(leaves)).then(
      () => { this.state = 'committed'; this.untie(); this.store.writers.delete(this); },
      (err: unknown) => { this.state = 'failed'; throw err; },
    );
    return this.commitDone;
  }

  private async doCommit(leaves: LeafSet): Promise<void> {
    await streamFinished(this.stream, this.key);
    if (this.partError) throw this.partError;
    const families = checkLeaves(this.key, this.size, leaves);
    const { client, bucket } = this.store;
    // The data object must not appear under an old-looking marker (see the file comment).
    await this.heartbeat.freshen();
    if (this.partCount > 0) {
      const uploadId = await this.ensureUpload();
      await client.send(new CompleteMultipartUploadCommand({
        Bucket: bucket, Key: this.store.dataKey(this.key), UploadId: uploadId,
        MultipartUpload: { Parts: this.etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }));
    } else {
      const body = this.buffered > 0 ? this.take(this.buffered) : Buffer.alloc(0);
      await client.send(new PutObjectCommand({
        Bucket: bucket, Key: this.store.dataKey(this.key), Body: body, ContentLength: body.length,
        ContentType: 'application/octet-stream',
      }));
    }
    await this.heartbeat.stop();
    // MD5 last: its object marks the blob committed.
    for (const [family, digests] of families) {
      await client.send(new PutObjectCommand({
        Bucket: bucket, Key: this.store.leavesKey(this.key, family), Body: digests, ContentLength: digests.length,
        ContentType: 'application/octet-stream', ...(family === 'md5' ? { Metadata: { [SIZE_META]: String(this.size) } } : {}),
      }));
    }
    // Committed now. A marker that cannot be deleted is only clutter: removeLeftovers
    // deletes the marker of a committed blob without touching the blob.
    await this.store.deleteObject(this.store.markerKey(this.key)).catch(() => {});
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
    this.cancel.abort();
    if (!this.stream.destroyed) this.stream.destroy();
    await this.settleParts();
    this.chunks.length = 0;
    this.buffered = 0;
    await this.heartbeat.stop();
    const uploadId = this.upload ? await this.upload.catch(() => null) : null;
    if (uploadId) await this.store.abortUpload(this.key, uploadId);
    if (failedCommit) {
      // A commit that failed half way may have created any object; the key is ours alone.
      await this.store.deleteObject(this.store.leavesKey(this.key));
      for (const family of OTHER_FAMILIES) await this.store.deleteObject(this.store.leavesKey(this.key, family));
      await this.store.deleteObject(this.store.dataKey(this.key));
    }
    await this.store.deleteObject(this.store.markerKey(this.key));
    this.store.writers.delete(this);
  }
}

/**
 * A ranged GetObject as a Node stream. The request starts at the first read; the response
 * body is paused whenever the consumer is behind, so nothing is buffered beyond the stream's
 * high-water mark; a body that ends short of its Content-Length is an error, not an EOF.
 * The answer is trimmed to the range asked for: HTTP lets a service ignore Range (a 200 with
 * the whole object), and s3rver takes an end of 0 for "to the end".
 */
class S3ReadStream extends Readable {
  private body: Readable | null = null;
  private started = false;
  private readonly cancel = new AbortController();
  /** Runs while the consumer waits for bytes that do not come. */
  private stallTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: S3BlobStore,
    private readonly key: string,
    private readonly start: number,
    private readonly end: number | undefined,
  ) {
    super({ highWaterMark: READ_HIGH_WATER_MARK });
  }

  /** Starts the stall timer, or restarts it when it runs. */
  private armStallTimer(): void {
    if (this.stallTimer) {
      this.stallTimer.refresh();
      return;
    }
    this.stallTimer = setTimeout(() => {
      this.destroy(new Error(`blob ${this.key}: no bytes from the service for ${this.store.requestTimeoutMs} ms`));
    }, this.store.requestTimeoutMs);
    this.stallTimer.unref();
  }

  private disarmStallTimer(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }

  override _read(): void {
    if (this.body) {
      this.armStallTimer();
      this.body.resume();
      return;
    }
    if (this.started) return;
    this.started = true;
    const range = this.start === 0 && this.end === undefined ? undefined : `bytes=${this.start}-${this.end ?? ''}`;
    this.store.client
      .send(new GetObjectCommand({ Bucket: this.store.bucket, Key: this.store.dataKey(this.key), Range: range }), { abortSignal: this.cancel.signal })
      .then((res) => this.attach(res.Body as Readable | undefined, res.ContentLength, res.ContentRange), (err: unknown) => {
        if (this.destroyed) return;
        // Unsatisfiable means the blob exists and the range starts at or past its end:
        // read as empty, like a file read past EOF.
        if (isRangeNotSatisfiable(err)) this.push(null);
        else this.destroy(isNotFound(err) ? new BlobNotFoundError(this.key) : (err as Error));
      });
  }

  private attach(body: Readable | undefined, length: number | undefined, contentRange: string | undefined): void {
    if (this.destroyed) {
      body?.destroy();
      return;
    }
    if (!body) {
      this.destroy(new Error(`blob ${this.key}: GetObject returned no body`));
      return;
    }
    this.body = body;
    const answered = parseContentRange(contentRange) ?? { first: 0, total: undefined };
    if (answered.total !== undefined && this.start >= answered.total) {
      body.destroy();
      this.push(null); // past the end, answered with a 206 instead of a 416
      return;
    }
    if (answered.first > this.start) {
      body.destroy();
      this.destroy(new Error(`blob ${this.key}: asked for bytes from ${this.start}, the service answered from ${answered.first}`));
      return;
    }
    this.armStallTimer();
    let skip = this.start - answered.first;
    let left = this.end === undefined ? Infinity : this.end - this.start + 1;
    let received = 0;
    let done = false;
    body.on('data', (data: Buffer) => {
      if (done) return;
      if (this.stallTimer) this.stallTimer.refresh(); // bytes are coming
      received += data.length;
      let chunk = data;
      if (skip > 0) {
        if (chunk.length <= skip) {
          skip -= chunk.length;
          return;
        }
        chunk = chunk.subarray(skip);
        skip = 0;
      }
      if (chunk.length >= left) {
        // All that was asked for; drop the rest of an answer longer than the range.
        done = true;
        this.disarmStallTimer();
        this.push(chunk.length === left ? chunk : chunk.subarray(0, left));
        this.push(null);
        if (length === undefined || received < length) body.destroy();
        return;
      }
      left -= chunk.length;
      if (!this.push(chunk)) {
        // The consumer is behind: it is not waiting for the service, so no stall timer
        // until it asks for more (_read).
        this.disarmStallTimer();
        body.pause();
      }
    });
    body.once('end', () => {
      if (done) return;
      done = true;
      this.disarmStallTimer();
      if (length !== undefined && received !== length) {
        this.destroy(new Error(`blob ${this.key}: the read ended after ${received} of ${length} bytes`));
      } else {
        this.push(null);
      }
    });
    // `on`, not `once`: a second error after the first must not go unhandled.
    body.on('error', (err) => { if (!done) this.destroy(err); });
    body.once('close', () => {
      if (!done && !this.destroyed) this.destroy(new Error(`blob ${this.key}: the connection closed after ${received} of ${length ?? '?'} bytes`));
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.disarmStallTimer();
    this.cancel.abort();
    this.body?.destroy();
    cb(err);
  }
}
