// `Expect: 100-continue` (RFC 9110 §10.1.1): the client waits before sending its body, so
// `100 Continue` must mean the server wants it. Node would send it as soon as the headers
// arrive; here it goes out when a handler starts reading the body, which is after the
// signature, the vault and the headers were checked. A request refused before that gets its
// error without a 100, and the connection closes: the client may still send the body it
// held back, and nothing will read it.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Requests that asked for 100 Continue and have not been sent one. */
const waiting = new WeakSet<IncomingMessage>();

/** Installs the deferred 100 Continue on a node HTTP server (before it listens). */
export function deferContinue(server: Server): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    waiting.add(req);
    const read = req._read;
    // The first read of the body (a handler piping or reading it) sends the 100. A read after
    // the final response (node draining an unread body) sends nothing.
    req._read = function (this: IncomingMessage, size: number) {
      req._read = read;
      if (waiting.delete(req) && !res.headersSent) res.writeContinue();
      return read.call(this, size);
    };
    server.emit('request', req, res);
  });
}

/** True when the request is answered without having had its 100 Continue (its body never asked for). */
export function bodyHeldBack(req: IncomingMessage): boolean {
  return waiting.has(req);
}
