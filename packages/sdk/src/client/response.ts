// The answer to one OASAPI call, like the Python SDK's HTTPResponse. Every call but job
// output has its (small, JSON or empty) body read in full before it resolves, so nothing
// has to be released; job output is a stream, buffered only when read()/json()/text() is called.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import { OASError, type ErrorType } from '../protocol/errors.js';
import { streamOf } from './buffered-body.js';

/** Bodies at most this long are drained rather than destroyed by dispose(), keeping the socket. */
const DRAIN_LIMIT = 64 * 1024;

export interface OASResponseOptions {
  /** The whole body, already read (every call but fetchJobOutput). */
  content?: Buffer;
  /** Turns a failure while reading a streamed body into the error read() rejects with. */
  wrapBodyError?: (error: unknown) => Error;
}

/**
 * A response of any status (non-2xx ones are returned, not thrown).
 *
 * Only a streamed body (job output) holds its connection until consumed: read it
 * (read/json/text/toError), consume `body` to its end, or call dispose().
 */
export class OASResponse {
  readonly status: number;
  readonly statusText: string;
  /** Header names lower-cased, as node gives them. */
  readonly headers: IncomingHttpHeaders;
  private readonly message: IncomingMessage;
  private readonly content: Buffer | undefined;
  private readonly wrapBodyError: (error: unknown) => Error;
  private contentStream: Readable | undefined;
  private buffered: Promise<Buffer> | undefined;

  constructor(message: IncomingMessage, options: OASResponseOptions = {}) {
    this.message = message;
    this.content = options.content;
    this.wrapBodyError = options.wrapBodyError ?? ((e) => e as Error);
    this.status = message.statusCode ?? 0;
    this.statusText = message.statusMessage || STATUS_CODES[this.status] || '';
    this.headers = message.headers;
  }

  /**
   * The body as a byte stream. For job output it is the live response (consume it
   * directly for large outputs); for every other call a stream over the bytes already read.
   */
  get body(): Readable {
    if (this.content === undefined) return this.message;
    this.contentStream ??= streamOf(this.content);
    return this.contentStream;
  }

  /** Whether the body is a live stream from the network (job output) rather than bytes already read. */
  get streamed(): boolean {
    return this.content === undefined;
  }

  /** 2xx. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** `x-oas-request-id`, present on every OAS response (protocol.md §1.4). */
  get requestId(): string | undefined {
    return this.getHeader('x-oas-request-id');
  }

  /** A header by case-insensitive name; repeated headers are joined with ', '. */
  getHeader(name: string): string | undefined {
    const value = this.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  /** The whole body. Safe to call more than once (the bytes are kept after the first). */
  read(): Promise<Buffer> {
    if (this.content !== undefined) return Promise.resolve(this.content);
    if (!this.buffered) {
      if (this.message.readableDidRead || this.message.readableEnded || this.message.destroyed) {
        return Promise.reject(new Error('the response body was already consumed through response.body or disposed'));
      }
      this.buffered = this.collect();
    }
    return this.buffered;
  }

  async text(): Promise<string> {
    return (await this.read()).toString('utf8');
  }

  async json<T = unknown>(): Promise<T> {
    const text = await this.text();
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new SyntaxError(`response body (HTTP ${this.status}, ${text.length} characters) is not JSON: ${(error as Error).message}`);
    }
  }

  /**
   * The OAS error this response carries: `code`, `message`, `type` from the JSON body
   * (protocol.md §6), request id from the header or the body's `request_id`. A body that is not
   * an error JSON gives the status text as code and message (with the start of the body).
   */
  async toError(): Promise<OASError> {
    let text = '';
    try {
      text = (await this.read()).toString('utf8');
    } catch {
      // Body already consumed or broken: the status line is all there is.
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const fallbackType: ErrorType = this.status >= 500 ? 'server' : 'client';
    if (parsed && typeof parsed === 'object' && typeof (parsed as { code?: unknown }).code === 'string') {
      const body = parsed as { code: string; message?: unknown; type?: unknown; request_id?: unknown };
      return new OASError(this.status, body.code,
        typeof body.message === 'string' ? body.message : this.statusText,
        typeof body.type === 'string' ? body.type : fallbackType,
        this.requestId ?? (typeof body.request_id === 'string' ? body.request_id : undefined));
    }
    const code = this.statusText.replace(/[^A-Za-z0-9]/g, '') || `HTTP${this.status}`;
    const snippet = text.trim().slice(0, 200);
    return new OASError(this.status, code, snippet ? `${this.statusText}: ${snippet}` : this.statusText || `HTTP ${this.status}`,
      fallbackType, this.requestId);
  }

  /**
   * Releases the connection of a streamed body without reading it: a short remaining body is drained
   * so the socket goes back to the pool, a long (or unknown-length) one is destroyed.
   */
  dispose(): void {
    if (this.content !== undefined) return;
    const body = this.message;
    if (body.readableEnded || body.destroyed) return;
    // Node hands the socket back to the pool on the body's 'end', so even a body that has
    // fully arrived (`complete`) must still be read out.
    const length = Number(this.getHeader('content-length'));
    if (body.complete || (this.getHeader('content-length') !== undefined && length <= DRAIN_LIMIT)) {
      body.on('error', () => {});
      body.resume();
    } else {
      body.destroy();
    }
  }

  private collect(): Promise<Buffer> {
    const body = this.message;
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      body.on('data', (chunk: Buffer) => chunks.push(chunk));
      body.once('end', () => resolve(Buffer.concat(chunks)));
      body.once('error', (error) => reject(this.wrapBodyError(error)));
      // 'close' without 'end' and without 'error' (destroyed quietly): never hang.
      body.once('close', () => {
        if (!body.complete) reject(this.wrapBodyError(new Error('the response body was cut short')));
      });
    });
  }
}
