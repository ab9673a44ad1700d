// The S3 side of OSS transfer jobs: one S3 client per job, built only from the server's
// host configuration (never from anything the user typed but the configured host's name),
// transient-error retries with exponential backoff, and error messages a person can act on.
// Aliyun OSS, Ceph radosgw, MinIO and AWS all speak this protocol.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createHash } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { TransferError, isTransientNetworkError } from '@oas/sdk/protocol';
import type { OssHostConfig } from '../../oss-config.js';

export interface OssClient {
  s3: S3Client;
  host: OssHostConfig;
  destroy(): void;
}

const QUIET = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export function createOssClient(host: OssHostConfig): OssClient {
  const agentOptions = { keepAlive: true, maxSockets: host.concurrency + 2 };
  const httpAgent = new HttpAgent(agentOptions);
  const httpsAgent = new HttpsAgent(agentOptions);
  const s3 = new S3Client({
    endpoint: host.endpoint,
    region: host.region,
    credentials: {
      accessKeyId: host.accessKeyId,
      secretAccessKey: host.secretAccessKey,
      ...(host.sessionToken !== undefined ? { sessionToken: host.sessionToken } : {}),
    },
    forcePathStyle: host.addressing === 'path',
    // The SDK would print retry warnings on the console; failures reach the job's StatusMessage.
    logger: QUIET,
    // Retries are ours (withRetry): they resume transfers instead of repeating them.
    maxAttempts: 1,
    // Never follow a redirect to another region's endpoint: only the configured endpoint is contacted.
    followRegionRedirects: false,
    // Integrity is checked with MD5s and ETags, which every S3-compatible store supports;
    // the SDK's default CRC trailers are not understood by older stores (radosgw 16, s3rver).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      // Idle time of the socket (a stalled store), not the length of a transfer.
      socketTimeout: host.requestTimeoutMs,
      connectionTimeout: host.connectTimeoutMs,
      httpAgent,
      httpsAgent,
    },
  });
  return {
    s3,
    host,
    destroy() {
      s3.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/**
 * A failure that ends the job with `message` as its StatusMessage. A retryable failure of
 * our own (a checksum that did not match in transit, a short body) is the protocol core's
 * TransferError.
 */
export class FinalTransferError extends TransferError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  Code?: string;
}

const TRANSIENT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'SlowDown', 'InternalError',
  'ServiceUnavailable', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequests', 'Transient',
  // The bytes arrived damaged (Content-MD5 or payload hash did not match): send them again.
  'BadDigest', 'InvalidDigest', 'XAmzContentSHA256Mismatch']);

function statusOf(err: unknown): number | undefined {
  return (err as SdkError | null)?.$metadata?.httpStatusCode;
}

function codeOf(err: unknown): string {
  const e = err as SdkError | null;
  return e?.Code ?? e?.name ?? 'Error';
}

/** Network trouble, timeouts, 5xx, throttling: worth another attempt. */
export function isTransient(err: unknown): boolean {
  if (err instanceof TransferError) return err.retryable;
  const e = err as SdkError | null;
  if (!e) return false;
  if (isTransientNetworkError(e)) return true;
  if (e.name && TRANSIENT_NAMES.has(e.name)) return true;
  const status = statusOf(err);
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  // No HTTP answer at all (socket hang up, aborted response): a network problem.
  return /socket hang up|ECONNRESET|aborted|premature/i.test(e.message ?? '');
}

function networkWords(err: unknown): string {
  const e = err as SdkError;
  if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT') return 'timed out';
  return e.code ?? e.message ?? String(err);
}

/**
 * The StatusMessage for an error of the object store. `what` says what was being done
 * ("reading oss://bucket/key"), `attempts` how often.
 */
export function describeError(err: unknown, host: OssHostConfig, what: string, attempts: number): string {
  if (err instanceof FinalTransferError) return err.message;
  const tries = attempts > 1 ? ` (gave up after ${attempts} attempts)` : '';
  if (err instanceof TransferError) return `${what} failed: ${err.message}${tries}`;
  const status = statusOf(err);
  const code = codeOf(err);
  const detail = (err as SdkError).message && (err as SdkError).message !== code ? `: ${(err as SdkError).message}` : '';
  if (status === undefined) {
    const words = networkWords(err);
    if (words === 'timed out') {
      return `${what} failed: the OSS endpoint ${host.endpoint} of ${host.name} did not answer within ${host.requestTimeoutMs / 1000}s${tries}`;
    }
    return `${what} failed: cannot reach the OSS endpoint ${host.endpoint} of ${host.name} (${words})${tries}`;
  }
  if (code === 'NoSuchBucket') return `${what} failed: the bucket does not exist at ${host.name} (NoSuchBucket)`;
  if (code === 'NoSuchKey') return `${what} failed: the object does not exist at ${host.name} (NoSuchKey)`;
  if (code === 'PreconditionFailed') return `${what} failed: the object was changed while it was being copied; start the job again`;
  if (status === 403 || code === 'AccessDenied' || code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch') {
    return `${what} failed: access denied by ${host.name} (${code}${detail}); check the credentials configured for this OSS host on the server and the bucket's permissions`;
  }
  if (status === 404) return `${what} failed: not found at ${host.name} (${code})`;
  return `${what} failed: ${host.name} answered HTTP ${status} ${code}${detail}${tries}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The wait before attempt `failures + 1`: base · 2^(failures−1), ±50 % jitter, at most 30 s. */
export function backoffMs(host: OssHostConfig, failures: number): number {
  const base = Math.min(30_000, host.retryBaseMs * 2 ** Math.min(failures - 1, 20));
  return Math.round(base * (0.5 + Math.random()));
}

/**
 * Runs `fn` until it succeeds, retrying transient errors with backoff up to the host's
 * maxAttempts. A permanent error, or the last transient one, becomes a FinalTransferError
 * with a readable message. Aborting `signal` rethrows its reason at once.
 */
export async function withRetry<T>(host: OssHostConfig, what: string, signal: AbortSignal, fn: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    signal.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (!isTransient(err) || attempt >= host.maxAttempts) throw new FinalTransferError(describeError(err, host, what, attempt));
      await sleep(backoffMs(host, attempt), signal);
    }
  }
}

export { sleep as abortableSleep };

/** An ETag without quotes, lower case. */
export function normalizeEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/"/g, '').trim().toLowerCase();
}

/** A plain MD5 ETag (single PUT objects of most stores). */
export function isMd5Etag(etag: string): boolean {
  return /^[0-9a-f]{32}$/.test(etag);
}

/** `md5hex-N`: the AWS form of multipart ETags; returns N, or null. */
export function multipartEtagParts(etag: string): number | null {
  const m = /^[0-9a-f]{32}-(\d{1,5})$/.exec(etag);
  return m ? Number(m[1]) : null;
}

/** The AWS multipart ETag of parts with these MD5s (hex, any case). */
export function multipartEtag(partMd5s: string[]): string {
  const md5 = createHash('md5');
  for (const hex of partMd5s) md5.update(Buffer.from(hex, 'hex'));
  return `${md5.digest('hex')}-${partMd5s.length}`;
}

/** `oss://bucket/key` at host, for messages (control characters escaped). */
export function ossName(host: string, bucket: string, key: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `oss://${clean(bucket)}/${clean(key)} at ${host}`;
}
