// A bodiless request whose 2xx answer is read from the socket straight into the caller's
// memory (net's `onread`): no buffer per 64 KiB the network delivers, no stream in between.
// For a large download this is most of the client's work: node:http gives every chunk its
// own buffer outside V8's heap (garbage that makes V8 run full collections) and one event
// each, which the caller then copies again. Plain HTTP on a fresh connection only; anything
// else is left to the ordinary transport (see OASAPI.fetchJobOutputInto).
import { connect, type Socket } from 'node:net';
import { OASAbortError, OASTransportError, describeCause, type RequestTarget } from './errors.js';
import type { OutgoingRequest } from './transport.js';

/** Where a directly received body goes. */
export interface BodyTarget {
  /** The memory the next bytes go into; undefined while it has no room (see ready()). */
  space(): Uint8Array | undefined;
  /** `n` bytes were written at the start of what space() last returned. */
  filled(n: number): void;
  /** Resolves once space() has room again (rejects if the target failed). */
  ready(): Promise<void>;
}

export interface DirectResponse {
  status: number;
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Record<string, string>;
}

export interface DirectEndpoint {
  host: string;
  port: number;
  timeoutMs: number;
}

/** A response head larger than this is not a job output's: left to the ordinary transport. */
const HEAD_LIMIT = 16 * 1024;
/** Where bytes go while the target has no room (only ever the first read after a pause). */
const SPILL_SIZE = 64 * 1024;

/**
 * Sends `request` (no body) and reads the answer. A 2xx answer with a Content-Length and no
 * Transfer-Encoding has its body delivered into `target`, and resolves with its status and
 * headers once every byte is there. Any other answer resolves undefined before a byte of its
 * body reached the target (the connection is closed): ask again through the transport,
 * which turns it into the response or error the caller expects.
 */
export function receiveInto(endpoint: DirectEndpoint, request: OutgoingRequest, target: BodyTarget): Promise<DirectResponse | undefined> {
  const where: RequestTarget = { operation: request.operation, method: request.method, host: endpoint.host, port: endpoint.port, path: request.path };
  const { signal } = request;
  if (signal?.aborted) return Promise.reject(new OASAbortError(request.operation, signal.reason));
  return new Promise((resolve, reject) => {
    const head = Buffer.allocUnsafe(HEAD_LIMIT);
    const spill = Buffer.allocUnsafe(SPILL_SIZE);
    let headLength = 0;
    let response: DirectResponse | undefined;
    let remaining = 0;
    /** Body bytes read but not yet in the target (it had no room); the socket is paused meanwhile. */
    let pending: Uint8Array | undefined;
    /** Where the last read went: the target's memory, or the spill buffer. */
    let into: 'target' | 'spill' = 'target';
    let settled = false;

    const finish = (error?: Error, result?: DirectResponse): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve(result);
    };
    const fail = (detail: string, cause?: unknown): void => finish(new OASTransportError(where, detail, cause));
    const onAbort = (): void => finish(new OASAbortError(request.operation, signal?.reason));

    /**
     * The memory the next read goes into (asked for right after each read is handled, so
     * what it returns is fixed until that read happens, whatever happens meanwhile).
     */
    const nextBuffer = (): Uint8Array => {
      if (!response) return head.subarray(headLength);
      const room = pending ? undefined : target.space();
      if (room && room.byteLength > 0) {
        into = 'target';
        return room.byteLength > remaining ? room.subarray(0, remaining) : room;
      }
      into = 'spill';
      return spill;
    };

    /** Copies what the target has room for now; returns the rest. */
    const copyNow = (bytes: Uint8Array): Uint8Array => {
      let at = 0;
      for (let room = target.space(); at < bytes.byteLength && room && room.byteLength > 0; room = target.space()) {
        const n = Math.min(room.byteLength, bytes.byteLength - at);
        room.set(bytes.subarray(at, at + n));
        target.filled(n);
        at += n;
      }
      return bytes.subarray(at);
    };

    /**
     * Body bytes read outside the target: in now if it has room (true: read on), else kept
     * and the socket paused until the target took them (false).
     */
    const deliver = (bytes: Uint8Array): boolean => {
      const rest = copyNow(bytes);
      if (rest.byteLength === 0) return !done();
      pending = Buffer.from(rest);
      void (async () => {
        while (pending) {
          await target.ready();
          if (settled) return;
          const left = copyNow(pending);
          if (left.byteLength === pending.byteLength) throw new Error('the download target has no room after ready()');
          pending = left.byteLength > 0 ? left : undefined; // a view of our own copy
        }
        if (!done()) socket.resume();
      })().catch((error: unknown) => finish(error as Error));
      return false;
    };

    /** True (and the call resolved) once the whole body is in. */
    const done = (): boolean => {
      if (remaining > 0 || pending) return false;
      finish(undefined, response);
      return true;
    };

    const onHead = (n: number): boolean => {
      headLength += n;
      const end = head.subarray(0, headLength).indexOf('\r\n\r\n');
      if (end < 0) {
        if (headLength < HEAD_LIMIT) return true;
        finish(undefined, undefined);
        return false;
      }
      const parsed = parseHead(head.toString('latin1', 0, end));
      const length = parsed?.headers['content-length'];
      if (!parsed || parsed.status < 200 || parsed.status > 299 || parsed.headers['transfer-encoding'] !== undefined
        || length === undefined || !/^\d+$/.test(length)) {
        finish(undefined, undefined);
        return false;
      }
      response = parsed;
      remaining = Number(length);
      // Bytes past the Content-Length would be the next response's: there is none (Connection: close).
      const early = head.subarray(end + 4, Math.min(headLength, end + 4 + remaining));
      remaining -= early.byteLength;
      return deliver(early);
    };

    const socket: Socket = connect({
      host: endpoint.host,
      port: endpoint.port,
      onread: {
        buffer: nextBuffer,
        callback: (n: number, buffer: Uint8Array): boolean => {
          if (settled) return false;
          if (!response) return onHead(n);
          const body = Math.min(n, remaining); // reads into the target never go past the body; the spill may
          remaining -= body;
          if (into === 'spill') return deliver(buffer.subarray(0, body));
          target.filled(body);
          return !done();
        },
      },
    });
    signal?.addEventListener('abort', onAbort);
    socket.setNoDelay(true);
    socket.setTimeout(endpoint.timeoutMs, () => fail(`timed out (no activity for ${endpoint.timeoutMs} ms)`,
      Object.assign(new Error(`no activity for ${endpoint.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    socket.on('error', (error) => fail(describeCause(error), error));
    const onClosed = (): void => {
      if (!response) fail('the connection closed before a response arrived');
      else if (remaining > 0) fail(`the connection closed with ${remaining} bytes of the body missing`);
      // else every byte was read: those still pending reach the target, then the call resolves.
    };
    socket.on('end', onClosed);
    socket.on('close', onClosed);
    const lines = [`${request.method} ${request.path} HTTP/1.1`];
    for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
    // Not end(): some servers take a client's half-close for a cancelled request.
    lines.push('Connection: close', '', '');
    socket.write(lines.join('\r\n'), 'latin1');
  });
}

/** Status and headers of an HTTP/1.x response head; undefined if it is not one. */
function parseHead(text: string): DirectResponse | undefined {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (!status) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(status[1]), headers };
}
