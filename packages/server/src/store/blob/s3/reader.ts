// The S3 blob store's reader: one ranged GetObject as a Node stream.
import { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { READ_HIGH_WATER_MARK } from '../common.js';
import { BlobNotFoundError } from '../types.js';
import { isNotFound, isRangeNotSatisfiable, parseContentRange } from './config.js';
import type { S3BlobStore } from './store.js';

/**
 * A ranged GetObject as a Node stream. The request starts at the first read; the response
 * body is paused whenever the consumer is behind, so nothing is buffered beyond the stream's
 * high-water mark; a body that ends short of its Content-Length is an error, not an EOF.
 * The answer is trimmed to the range asked for: HTTP lets a service ignore Range (a 200 with
 * the whole object), and s3rver takes an end of 0 for "to the end".
 */
export class S3ReadStream extends Readable {
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
