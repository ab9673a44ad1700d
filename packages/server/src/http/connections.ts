// Connection limits and timeouts (docs/operations.md, "Connections and timeouts"): a
// client that stalls, mid-body or mid-headers, is cut off, and connections beyond the
// limit are closed as soon as they are accepted, so the process always keeps descriptors
// for the clients it serves (each upload holds a socket and a temporary file).
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { HttpError } from './errors.js';

export interface ConnectionLimits {
  /** No byte either way this long closes the connection (0: never). */
  idleTimeoutMs: number;
  /** Headers not complete this long after they began: 408 (0: no limit). */
  headersTimeoutMs: number;
  /** Idle time allowed between two requests on a kept-alive connection. */
  keepAliveTimeoutMs: number;
  /** Connections at once; null: derived from the open-file limit. */
  maxConnections: number | null;
}

export type TimeoutReason = 'idle' | 'headers';

/** Where the plumbing reports what it cut or refused (the /metrics counters). */
export interface ConnectionEvents {
  timedOut(reason: TimeoutReason): void;
  refused(): void;
}

/** Descriptors kept for the process itself: stdio, SQLite files, pools, worker threads. */
const RESERVED_FDS = 64;
/**
 * Descriptors one connection may hold at once: its socket, the temporary file of an
 * upload (or the blob a download reads) and a leaves file while a blob commits.
 */
const FDS_PER_CONNECTION = 3;

/** The soft limit on open files (Linux, after node raised it to the hard limit); null when unknown. */
export function openFileLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The default connection limit for an open-file limit (null: unknown, no limit). */
export function defaultMaxConnections(fileLimit: number | null): number | null {
  if (fileLimit === null) return null;
  return Math.max(1, Math.floor((fileLimit - RESERVED_FDS) / FDS_PER_CONNECTION));
}

/** The 408 a header slowloris gets (where a response can still be written). */
export function isHeadersTimeout(err: NodeJS.ErrnoException): boolean {
  return err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
}

export function headersTimeoutError(limits: ConnectionLimits): HttpError {
  return new HttpError('request-timeout', `the request headers did not arrive within ${limits.headersTimeoutMs / 1000} s`);
}

interface SocketState {
  /** Requests whose response has not closed yet. */
  open: number;
  /** Responses finished on this connection. */
  served: number;
  /** socket.bytesRead when the last response finished. */
  readAtRest: number;
  /** The last response went out before its request's body was all in (an error answered early). */
  bodyOwed: boolean;
  /** The latest request on the connection. */
  req?: IncomingMessage;
  res?: ServerResponse;
}

/**
 * Applies the limits to a node HTTP server before it listens. Returns the connection limit
 * in force (null: none).
 */
export function applyConnectionLimits(server: Server, limits: ConnectionLimits, events: ConnectionEvents): number | null {
  // A whole upload may take hours: only silence and slow headers end a request.
  server.requestTimeout = 0;
  server.headersTimeout = limits.headersTimeoutMs;
  // Node checks the headers deadline on this period (30 s by default): often enough that
  // a slow client is answered close to the deadline. Read when the server starts listening.
  if (limits.headersTimeoutMs > 0) {
    (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(30_000, Math.max(100, Math.floor(limits.headersTimeoutMs / 4)));
  }
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.timeout = limits.idleTimeoutMs;

  const states = new WeakMap<Socket, SocketState>();
  server.on('connection', (socket: Socket) => states.set(socket, { open: 0, served: 0, readAtRest: 0, bodyOwed: false }));
  server.on('request', (req, res) => {
    // Kept here: node unsets req.socket once the connection is gone.
    const socket = req.socket;
    const state = states.get(socket);
    if (!state) return;
    state.open++;
    state.req = req;
    state.res = res;
    res.once('close', () => {
      state.open--;
      state.served++;
      state.readAtRest = socket.bytesRead;
      state.bodyOwed = !req.complete;
      // Node gives a kept-alive connection the keep-alive timeout once a response is done,
      // even while the rest of a refused request's body is still owed (and read to be
      // discarded): a client stalling there is mid-body, so the idle timeout still holds.
      if (state.bodyOwed && limits.idleTimeoutMs > 0 && !socket.destroyed) socket.setTimeout(limits.idleTimeoutMs);
      if (state.res === res) state.req = state.res = undefined;
    });
  });
  // Node emits 'timeout' for the idle timeout and for the keep-alive timeout alike; the
  // latter (nothing since the last response) is ordinary and not counted. A listener here
  // means node leaves the closing to us.
  server.on('timeout', (socket: Socket) => {
    const state = states.get(socket);
    if (state?.req?.complete && state.res && !state.res.headersSent && !state.res.destroyed) {
      // The whole request is in and the server is still at work (say, fsyncing a large
      // upload): the silence is the server's, not the client's. Cutting now would lose the
      // answer to an upload that is being stored. Look again after another period.
      socket.setTimeout(limits.idleTimeoutMs);
      return;
    }
    const betweenRequests = state !== undefined && state.open === 0 && state.served > 0 && !state.bodyOwed
      && socket.bytesRead === state.readAtRest;
    if (!betweenRequests) events.timedOut('idle');
    // The request (if any) sees the connection go: an upload aborts its temporary blob.
    socket.destroy();
  });

  const max = limits.maxConnections ?? defaultMaxConnections(openFileLimit());
  if (max !== null) {
    // Node closes a connection over the limit right after accepting it (no parsing, no
    // buffers) and emits 'drop'.
    server.maxConnections = max;
    server.on('drop', () => events.refused());
  }
  return max;
}
