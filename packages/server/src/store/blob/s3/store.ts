// The scale-out blob store (the store itself and its leftover sweep; the writer, the reader
// and the options are beside it in s3/): any S3-compatible service (AWS S3, Ceph radosgw, MinIO, Aliyun
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
import { addAbortSignal, type Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand,
  ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { isId, newId } from '@oas/sdk';
import { checkAddedLeaves, checkKey, checkReadArgs, checkReadLeavesArgs, leavesOutOfRange } from '../common.js';
import { BlobNotFoundError, type BlobStore, type BlobWriter, type StreamOptions } from '../types.js';
import {
  DEFAULT_LEFTOVER_AGE_MS, DEFAULT_MAX_SOCKETS, DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE, DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_PART_SIZE, MIN_PART_SIZE, OTHER_FAMILIES, SIZE_META, checkInteger, isNoSuchUpload, isNotFound, isRangeNotSatisfiable,
  isUnsupported, leavesDir, parseContentRange, statusOf, type S3BlobStoreOptions,
} from './config.js';
import { S3ReadStream } from './reader.js';
import { S3BlobWriter } from './writer.js';

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

export class S3BlobStore implements BlobStore {
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

  async addLeaves(key: string, family: string, digests: Buffer): Promise<void> {
    checkKey(key);
    const size = await this.size(key);
    if (size === null) throw new BlobNotFoundError(key);
    checkAddedLeaves(key, size, family, digests);
    // One PUT replaces the object whole. A delete racing with it leaves a lone leaves object,
    // which removeLeftovers clears once it is old enough.
    await this.client.send(new PutObjectCommand({
      Bucket: this.bucket, Key: this.leavesKey(key, family), Body: digests, ContentLength: digests.length,
    }));
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
