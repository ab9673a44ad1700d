// Raw-socket HTTP for wire quirks node's client would not produce (two Host headers, ...).
import net from 'node:net';

export interface RawResp {
  status: number;
  /** Lower-case names; repeated headers keep the first value. */
  headers: Record<string, string>;
  head: string;
  body: Buffer;
  /** Interim 1xx status lines seen before the final response. */
  interim: number[];
}

/**
 * Sends bytes and reads one response: resolves as soon as the response is complete (by its
 * Content-Length) or the connection closes, then closes the socket.
 */
export function rawRequest(port: number, data: Buffer | string, opts: { pauseAfterHeadMs?: number; endAfterWrite?: boolean } = {}): Promise<RawResp> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let chunks = Buffer.alloc(0);
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      socket.destroy();
      if (err) reject(err);
      else {
        try { resolve(parse(chunks)); } catch (e) { reject(e); }
      }
    };
    socket.on('connect', () => {
      const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
      if (opts.pauseAfterHeadMs === undefined) {
        socket.write(buf);
        if (opts.endAfterWrite) socket.end();
        return;
      }
      const split = buf.indexOf('\r\n\r\n') + 4;
      socket.write(buf.subarray(0, split));
      setTimeout(() => { if (!socket.destroyed) socket.write(buf.subarray(split)); }, opts.pauseAfterHeadMs);
    });
    socket.on('data', (c: Buffer) => {
      chunks = Buffer.concat([chunks, c]);
      try {
        const res = parse(chunks);
        const length = Number(res.headers['content-length'] ?? 0);
        if (res.body.length >= length) finish();
      } catch {
        // not complete yet
      }
    });
    socket.on('error', (err) => finish(chunks.length ? undefined : err));
    socket.on('close', () => finish(chunks.length ? undefined : new Error('connection closed without a response')));
    socket.setTimeout(15_000, () => finish(new Error('raw request timed out')));
  });
}

function parse(all: Buffer): RawResp {
  const interim: number[] = [];
  let rest = all;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`no complete response in ${JSON.stringify(rest.toString('latin1').slice(0, 200))}`);
    const head = rest.subarray(0, end).toString('latin1');
    const lines = head.split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0]!)?.[1]);
    const body = rest.subarray(end + 4);
    if (status >= 100 && status < 200) {
      interim.push(status);
      rest = body;
      continue;
    }
    return { status, headers: parseHeaderLines(lines.slice(1)), head, body, interim };
  }
}

/** Header lines (`Name: value`) as a map: lower-case names; repeated headers keep the first value. */
export function parseHeaderLines(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).trim().toLowerCase();
    if (!(name in headers)) headers[name] = line.slice(i + 1).trim();
  }
  return headers;
}
