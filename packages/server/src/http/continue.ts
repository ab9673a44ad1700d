// `Expect: 100-continue` (RFC 9110 §10.1.1): the client waits before sending its body, so
// `100 Continue` must mean the server wants it. Node would send it as soon as the headers
// arrive; here it goes out when a handler starts reading the body, which is after the
// signature, the vault and the headers were checked. A request refused before that gets its
// error without a 100, and node closes the connection after it (a response without the
// 100 gets `Connection: close`): the client may still send the body it held back.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Installs the deferred 100 Continue on a node HTTP server (before it listens). */
export function deferContinue(server: Server): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const read = req._read;
    // The first read of the body (a handler piping or reading it) sends the 100. A read after
    // the final response (node draining an unread body) sends nothing.
    req._read = function (this: IncomingMessage, size: number) {
      req._read = read;
      if (!res.headersSent) res.writeContinue();
      return read.call(this, size);
    };
    server.emit('request', req, res);
  });
}
