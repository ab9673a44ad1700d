// The S3 blob store's writer: parts of partSize streamed into a multipart upload (or one PUT
// when small), completed only by commit, with a heartbeat that keeps its pending marker
// young while it lives (see store.ts for the layout and the leftover rules).
import { Writable } from 'node:stream';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { MIB } from '@oas/sdk';
import { abortOnSignal, checkLeaves, streamFinished } from '../common.js';
import { toLeafSet, type LeafSet } from '../leaf-families.js';
import type { BlobWriter } from '../types.js';
import { MAX_PARTS, OTHER_FAMILIES, SIZE_META } from './config.js';
import type { S3BlobStore } from './store.js';

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
export class S3BlobWriter implements BlobWriter {
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
