// A small HTTP proxy for tests: forwards every request to a target server, counts what
// went through, and on demand injects failures: an OAS error answer (5xx or any code),
// a flipped byte in the request or response body, or a dropped connection.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface SeenRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: http.IncomingHttpHeaders;
  /** What the rule decided. */
  action: FaultAction['kind'];
}

export type FaultAction =
  | { kind: 'pass' }
  /** Answers with an OAS JSON error without asking the server (the request body is read and dropped). */
  | { kind: 'error'; status: number; code: string; type?: string; message?: string }
  /** Flips one byte of the request body (the server should answer InvalidDigest). */
  | { kind: 'corrupt-request'; at?: number }
  /** Flips one byte of the response body. */
  | { kind: 'corrupt-response'; at?: number }
  /** Forwards the request, then cuts the response body off after `after` bytes. */
  | { kind: 'truncate-response'; after: number }
  /** Reads the request, then drops the connection without an answer. */
  | { kind: 'reset' };

export type FaultRule = (request: { method: string; url: string; headers: http.IncomingHttpHeaders }, index: number) => FaultAction;

export interface FaultProxy {
  host: string;
  port: number;
  /** Every request seen, in arrival order. */
  readonly requests: SeenRequest[];
  /** Requests matching `method` and (optionally) a test on the URL or headers. */
  count(method: string, test?: (r: SeenRequest) => boolean): number;
  setRule(rule: FaultRule): void;
  close(): Promise<void>;
}

const PASS: FaultAction = { kind: 'pass' };

/** Flips the byte at absolute offset `at` of the stream passing through. */
function flipper(at: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (at >= seen && at < seen + chunk.length) {
        chunk = Buffer.from(chunk);
        chunk[at - seen] = chunk[at - seen]! ^ 0xff;
      }
      seen += chunk.length;
      done(null, chunk);
    },
  });
}

export async function startFaultProxy(target: { host: string; port: number }, rule: FaultRule = () => PASS): Promise<FaultProxy> {
  const requests: SeenRequest[] = [];
  let current = rule;
  const agent = new http.Agent({ keepAlive: false });
  const server = http.createServer((req, res) => {
    const info = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers };
    const action = current(info, requests.length);
    requests.push({ ...info, action: action.kind });
    void handle(req, res, action).catch(() => {
      req.destroy();
      res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, action: FaultAction): Promise<void> {
    if (action.kind === 'error') {
      req.resume();
      await new Promise((resolve) => req.once('end', resolve));
      const body = JSON.stringify({ code: action.code, message: action.message ?? `injected ${action.code}`,
        type: action.type ?? (action.status >= 500 ? 'server' : 'client') });
      res.writeHead(action.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
        'x-oas-request-id': 'FA17FA17FA17FA17FA17FA17FA17FA17' });
      res.end(body);
      return;
    }
    if (action.kind === 'reset') {
      req.resume();
      await new Promise((resolve) => req.once('end', resolve));
      req.socket.destroy();
      return;
    }
    const upstream = http.request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers, agent });
    const answered = new Promise<http.IncomingMessage>((resolve, reject) => {
      upstream.once('response', resolve);
      upstream.once('error', reject);
    });
    const sending = action.kind === 'corrupt-request'
      ? pipeline(req, flipper(action.at ?? 0), upstream)
      : pipeline(req, upstream);
    sending.catch(() => upstream.destroy());
    const response = await answered;
    const headers = { ...response.headers };
    res.writeHead(response.statusCode ?? 502, headers);
    if (action.kind === 'corrupt-response') {
      await pipeline(response, flipper(action.at ?? 0), res);
    } else if (action.kind === 'truncate-response') {
      let sent = 0;
      for await (const chunk of response as AsyncIterable<Buffer>) {
        const room = action.after - sent;
        if (room <= 0) break;
        const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
        res.write(piece);
        sent += piece.length;
      }
      // Leave the client with a body shorter than its Content-Length.
      await new Promise((resolve) => setTimeout(resolve, 20));
      res.destroy();
      response.destroy();
    } else {
      await pipeline(response, res);
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    requests,
    count(method, test) {
      return requests.filter((r) => r.method === method && (!test || test(r))).length;
    },
    setRule(next) {
      current = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
