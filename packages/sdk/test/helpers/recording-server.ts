// A loopback HTTP server for client tests: records every request as it arrived on the
// wire (method, raw request-target, raw header pairs, body bytes and MD5) and answers
// however a test says. Always close() it; close() also drops keep-alive connections.
import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** The request-target as sent: path plus `?query`. */
  url: string;
  path: string;
  /** Text after `?` ('' when none), undecoded. */
  rawQuery: string;
  /** Header names and values in wire order, values as node decodes them (latin1). */
  rawHeaders: Array<[string, string]>;
  /** The value of the (first) header with this name, case-insensitive. */
  header(name: string): string | undefined;
  /** Every value a header name was sent with. */
  headerAll(name: string): string[];
  /** Body bytes when at most `keepBodyBytes` long (hashes are always kept). */
  body: Buffer | undefined;
  bodyLength: number;
  /** Upper-case hex MD5 of the body. */
  bodyMd5: string;
  /** True when the client broke off before the whole body arrived. */
  aborted: boolean;
  /** The client's port: requests on one keep-alive connection share it. */
  remotePort: number | undefined;
  /** Settles once the body has ended or was aborted. */
  done: Promise<void>;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string | number>;
  body?: string | Buffer | object;
}

export interface RecordingServerOptions {
  /** Answers after the request body has been read (or aborted). Default: 200, no body. */
  respond?: (rec: RecordedRequest, res: http.ServerResponse) => void | Reply | Promise<void | Reply>;
  /** Called when the headers arrive, before the body is read; return true when it answered. */
  early?: (rec: RecordedRequest, res: http.ServerResponse, req: http.IncomingMessage) => boolean;
  /** Bodies up to this size are kept as bytes (default 16 MiB). */
  keepBodyBytes?: number;
}

export interface RecordingServer {
  port: number;
  host: string;
  requests: RecordedRequest[];
  /** Resolves with the next request to arrive (or the n-th overall if already there). */
  waitForRequest(index?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

/** Writes a Reply: JSON-encodes objects, adds Content-Length and an x-oas-request-id. */
export function sendReply(res: http.ServerResponse, reply: Reply): void {
  const body = reply.body === undefined ? Buffer.alloc(0)
    : Buffer.isBuffer(reply.body) ? reply.body
      : Buffer.from(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
  const headers: Record<string, string | number> = { 'x-oas-request-id': 'REQ0000000000000000000000000000001', ...reply.headers };
  if (typeof reply.body === 'object' && !Buffer.isBuffer(reply.body)) headers['Content-Type'] ??= 'application/json';
  headers['Content-Length'] = body.length;
  res.writeHead(reply.status ?? 200, headers);
  res.end(body);
}

export async function startRecordingServer(options: RecordingServerOptions = {}): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  const waiters: Array<{ index: number; resolve: (r: RecordedRequest) => void }> = [];
  const keep = options.keepBodyBytes ?? 16 * 1024 * 1024;

  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
    const md5 = createHash('md5');
    const chunks: Buffer[] = [];
    let length = 0;
    let finish!: () => void;
    const rec: RecordedRequest = {
      method: req.method ?? '',
      url,
      path: q < 0 ? url : url.slice(0, q),
      rawQuery: q < 0 ? '' : url.slice(q + 1),
      rawHeaders: pairs,
      header: (name) => pairs.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1],
      headerAll: (name) => pairs.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v),
      body: undefined,
      bodyLength: 0,
      bodyMd5: '',
      aborted: false,
      remotePort: req.socket.remotePort,
      done: new Promise<void>((resolve) => { finish = resolve; }),
    };
    requests.push(rec);
    for (const w of waiters.filter((w) => w.index === requests.length - 1)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(rec);
    }

    let answered = options.early?.(rec, res, req) ?? false;
    // Once a response has finished, node detaches the request: if the client then breaks
    // off, only the socket reports it.
    const onSocketClose = (): void => settle(!req.complete);
    req.socket.once('close', onSocketClose);
    const settle = (aborted: boolean): void => {
      if (rec.bodyMd5) return;
      req.socket.off('close', onSocketClose);
      rec.aborted = aborted;
      rec.bodyLength = length;
      rec.bodyMd5 = md5.digest('hex').toUpperCase();
      rec.body = length <= keep ? Buffer.concat(chunks) : undefined;
      finish();
      if (answered || aborted) return;
      answered = true;
      Promise.resolve(options.respond?.(rec, res)).then((reply) => {
        if (!res.headersSent && !res.writableEnded) sendReply(res, reply ?? {});
      }, (error: unknown) => {
        sendReply(res, { status: 500, body: { code: 'InternalError', message: String(error), type: 'server' } });
      });
    };
    req.on('data', (chunk: Buffer) => {
      md5.update(chunk);
      length += chunk.length;
      if (length <= keep) chunks.push(chunk);
      else chunks.length = 0;
    });
    req.on('end', () => settle(false));
    req.on('close', () => settle(!req.complete));
    req.on('error', () => settle(true));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    host: '127.0.0.1',
    requests,
    waitForRequest(index = requests.length) {
      const existing = requests[index];
      if (existing) return Promise.resolve(existing);
      return new Promise((resolve) => waiters.push({ index, resolve }));
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
