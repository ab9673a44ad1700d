// One HTTP exchange with an OAS endpoint: connection pooling, timeout, abort, streamed
// request bodies and the rules for what counts as a transport failure.
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { OASResponse } from './response.js';
import { OASAbortError, OASTransportError, describeCause, type RequestTarget } from './errors.js';
import { pumpBody, ShortBodyError, ReaderError, type CheckedReader } from './body.js';
import { readWholeBody } from './buffered-body.js';
import { NotBytesError } from './byte-source.js';

export interface TransportOptions {
  host: string;
  port: number;
  secure: boolean;
  timeoutMs: number;
  /** The caller's agent (used for every request and never destroyed by close()). */
  agent?: http.Agent | undefined;
  /** HTTPS: trusted certificate authorities (PEM) instead of Node's list (agents this transport creates). */
  ca?: string | Buffer | Array<string | Buffer> | undefined;
}

export interface OutgoingRequest {
  operation: string;
  method: string;
  /** Path plus query string, exactly as it goes on the request line. */
  path: string;
  /** Wire header values (already validated and transcoded). */
  headers: Record<string, string>;
  body?: Buffer | { reader: CheckedReader; length: number } | undefined;
  signal?: AbortSignal | undefined;
  /** Resolve as soon as the headers arrive and hand the body over as a stream (job output). */
  streamResponse?: boolean | undefined;
}

/** How long a pooled idle socket is kept: below node's own 5 s server keep-alive default. */
const IDLE_SOCKET_MS = 4_000;

/** Errors that mean a pooled socket had been closed by the server while idle. */
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE']);

export class Transport {
  readonly protocol: 'http:' | 'https:';
  private readonly module: typeof http | typeof https;
  /** Keep-alive pool for ordinary requests. */
  private readonly agent: http.Agent;
  /**
   * Streamed uploads get a fresh connection each (like the Python SDK, which connects per
   * request): their body cannot be replayed, so they must never land on a pooled socket
   * the server has just closed.
   */
  private readonly streamAgent: http.Agent;
  private readonly ownsAgents: boolean;
  private closed = false;

  constructor(private readonly options: TransportOptions) {
    this.protocol = options.secure ? 'https:' : 'http:';
    this.module = options.secure ? https : http;
    const Agent = options.secure ? https.Agent : http.Agent;
    const ca = options.secure && options.ca !== undefined ? { ca: options.ca } : {};
    this.ownsAgents = !options.agent;
    this.agent = options.agent ?? new Agent({ keepAlive: true, maxSockets: 64, timeout: IDLE_SOCKET_MS, ...ca });
    this.streamAgent = options.agent ?? new Agent({ keepAlive: false, maxSockets: 64, ...ca });
  }

  /** The agent ordinary requests use (tests check its protocol). */
  get httpAgent(): http.Agent {
    return this.agent;
  }

  /** Destroys the pooled sockets (only of agents this client created). */
  close(): void {
    this.closed = true;
    if (this.ownsAgents) {
      this.agent.destroy();
      this.streamAgent.destroy();
    }
  }

  async send(request: OutgoingRequest): Promise<OASResponse> {
    const target: RequestTarget = {
      operation: request.operation, method: request.method,
      host: this.options.host, port: this.options.port, path: request.path,
    };
    if (this.closed) throw new OASTransportError(target, 'the client was closed');
    const streamed = request.body !== undefined && !Buffer.isBuffer(request.body);
    try {
      return await this.exchange(request, target, false);
    } catch (error) {
      // A request on a reused keep-alive socket that the server closed while it idled
      // fails at once with ECONNRESET/EPIPE and no response; node's documented remedy is
      // to retry it once. Only buffered bodies can be sent again.
      if (!streamed && error instanceof OASTransportError && (error as StaleFlag).staleSocket) {
        return this.exchange(request, target, true);
      }
      throw error;
    }
  }

  private exchange(request: OutgoingRequest, target: RequestTarget, isRetry: boolean): Promise<OASResponse> {
    const { signal, body } = request;
    return new Promise<OASResponse>((resolve, reject) => {
      if (signal?.aborted) return reject(new OASAbortError(request.operation, signal.reason));

      let settled = false;
      let response: IncomingMessage | undefined;
      let bodySent = body === undefined || Buffer.isBuffer(body);
      // Tells the body pump to stop pulling from the reader.
      const stopPump = new AbortController();

      const settle = (error: Error | undefined, value?: OASResponse): void => {
        if (settled) return;
        settled = true;
        if (error) {
          stopPump.abort();
          signal?.removeEventListener('abort', onAbort);
          req.destroy();
          reject(error);
        } else {
          resolve(value!);
        }
      };

      const onAbort = (): void => {
        const error = new OASAbortError(request.operation, signal?.reason);
        if (!settled) return settle(error);
        // Already answered: abort the body download instead.
        if (response && !response.readableEnded) response.destroy(error);
        signal?.removeEventListener('abort', onAbort);
      };

      let req: http.ClientRequest;
      try {
        req = this.module.request({
          host: this.options.host,
          port: this.options.port,
          method: request.method,
          path: request.path,
          headers: request.headers,
          agent: body !== undefined && !Buffer.isBuffer(body) ? this.streamAgent : this.agent,
        });
      } catch (error) {
        // node validates path/headers synchronously; OASAPI checks them first, so this
        // is a programming error surfacing as a TypeError.
        return reject(new TypeError(`${request.operation}: ${describeCause(error)}`, { cause: error }));
      }
      signal?.addEventListener('abort', onAbort);

      req.on('error', (error) => {
        // After the response arrived node reports socket trouble on the response stream
        // itself; nothing to do here (a write error such as EPIPE after the server answered
        // early and closed is exactly the case the SDK tolerates).
        if (response) return;
        const failure = new OASTransportError(target, describeCause(error), error);
        const code = (error as { code?: string }).code;
        if (!isRetry && req.reusedSocket && code !== undefined && STALE_SOCKET_CODES.has(code)) {
          (failure as StaleFlag).staleSocket = true;
        }
        settle(failure);
      });

      req.setTimeout(this.options.timeoutMs, () => {
        const cause = Object.assign(new Error(`no activity for ${this.options.timeoutMs} ms`), { code: 'ETIMEDOUT' });
        const failure = new OASTransportError(target, `timed out (${cause.message})`, cause);
        if (!response) settle(failure);
        else if (!response.complete) response.destroy(failure);
      });

      req.on('response', (res: IncomingMessage) => {
        response = res;
        if (!bodySent) {
          // The server answered before the whole body went out (typically an error). Stop
          // sending, return its answer, and drop the connection once the answer has been
          // read: a half-sent request cannot be followed by another on that socket.
          stopPump.abort();
          res.once('close', () => req.destroy());
        }
        const wrapBodyError = (error: unknown): Error =>
          error instanceof OASTransportError || error instanceof OASAbortError
            ? error : new OASTransportError(target, `reading the response failed: ${describeCause(error)}`, error);
        if (request.streamResponse) {
          res.once('close', () => signal?.removeEventListener('abort', onAbort));
          settle(undefined, new OASResponse(res, { wrapBodyError }));
          return;
        }
        // Until the body is in, a timeout or abort still fails the call itself.
        readWholeBody(res).then((content) => {
          signal?.removeEventListener('abort', onAbort);
          settle(undefined, new OASResponse(res, { content }));
        }, (error: unknown) => settle(wrapBodyError(error)));
      });

      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        pumpBody(body.reader, body.length, req, stopPump.signal).then((result) => {
          if (result === 'sent') {
            bodySent = true;
            req.end();
          }
        }, (error: unknown) => {
          // A reader yielding text or objects is the caller's mistake, not a network failure.
          if (error instanceof ReaderError && error.cause instanceof NotBytesError) return settle(error.cause);
          // Destroying the request makes the server see a short (aborted) body.
          const detail = error instanceof ShortBodyError || error instanceof ReaderError ? error.message : describeCause(error);
          settle(new OASTransportError(target, detail, error instanceof ReaderError ? error.cause : error));
        });
      }
    });
  }
}

type StaleFlag = { staleSocket?: boolean };
