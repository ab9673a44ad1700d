// A real HTTP proxy on loopback in front of an S3 test server that misbehaves on request:
// it forwards every request unchanged (so signatures stay valid) unless `rule` picks a
// fault for it. Used to test retries, resumption and restarts of OSS transfers.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type Fault =
  | 'pass'
  /** Never answer (the socket stays open until the client gives up or the proxy stops). */
  | 'stall'
  /** Forward the status, headers and about half of the response body, then stall. */
  | 'stall-body'
  /** Forward the status, headers and about half of the response body, then cut the connection. */
  | 'cut-body'
  /** Flip one byte in the middle of the request body. */
  | 'corrupt-request'
  /** Answer the S3 error `errorReply` at once, without forwarding (the body is not read). */
  | 's3-error';

export interface SeenRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  range: string | undefined;
  fault: Fault;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** Decides each request's fault (default: all pass). */
  rule: (req: { method: string; url: string; index: number }) => Fault;
  /** Every request seen, in order. */
  seen: SeenRequest[];
  /** What an 's3-error' fault answers (default: MinIO's full drive). */
  errorReply: { status: number; code: string; message: string };
  /** Resolves the next time a request is stalled. */
  nextStall(): Promise<SeenRequest>;
  /** Cuts every open connection (stalled ones too), and stops. */
  stop(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const to = new URL(target);
  const sockets = new Set<Socket>();
  let waiters: ((r: SeenRequest) => void)[] = [];
  const stalled = (r: SeenRequest) => {
    const w = waiters;
    waiters = [];
    for (const f of w) f(r);
  };
  const proxy: FaultProxy = {
    endpoint: '',
    rule: () => 'pass',
    seen: [],
    errorReply: { status: 507, code: 'XMinioStorageFull', message: 'Storage backend has reached its minimum free drive threshold.' },
    nextStall: () => new Promise((resolve) => waiters.push(resolve)),
    stop: async () => undefined,
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const index = proxy.seen.length;
    const fault = proxy.rule({ method: req.method ?? 'GET', url: req.url ?? '/', index });
    const seen: SeenRequest = { method: req.method ?? 'GET', url: req.url ?? '/', range: req.headers.range, fault };
    proxy.seen.push(seen);
    if (fault === 'stall') {
      req.resume();
      stalled(seen);
      return;
    }
    if (fault === 's3-error') {
      const { status, code, message } = proxy.errorReply;
      const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>FAULTPROXY</RequestId></Error>`;
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml), connection: 'close' });
      res.end(xml);
      return;
    }
    const upstream = httpRequest({
      host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers, agent: false,
    }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (fault !== 'stall-body' && fault !== 'cut-body') {
        up.pipe(res);
        return;
      }
      const length = Number(up.headers['content-length'] ?? 0);
      let sent = 0;
      let stopped = false;
      up.on('data', (chunk: Buffer) => {
        if (stopped) return;
        const room = Math.floor(length / 2) - sent;
        if (room > 0) res.write(chunk.subarray(0, room));
        sent += Math.min(chunk.byteLength, Math.max(room, 0));
        if (sent >= Math.floor(length / 2)) {
          stopped = true;
          up.destroy();
          if (fault === 'cut-body') res.socket?.destroy();
          else stalled(seen);
        }
      });
    });
    upstream.on('error', () => res.socket?.destroy());
    res.on('close', () => upstream.destroy());
    if (fault === 'corrupt-request') {
      const length = Number(req.headers['content-length'] ?? 0);
      let at = 0;
      req.on('data', (chunk: Buffer) => {
        const middle = Math.floor(length / 2);
        if (middle >= at && middle < at + chunk.byteLength) {
          chunk = Buffer.from(chunk);
          chunk[middle - at] ^= 0xff;
        }
        at += chunk.byteLength;
        upstream.write(chunk);
      });
      req.on('end', () => upstream.end());
    } else {
      req.pipe(upstream);
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  proxy.endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  let stopped: Promise<void> | null = null;
  proxy.stop = () => {
    stopped ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
    return stopped;
  };
  return proxy;
}
