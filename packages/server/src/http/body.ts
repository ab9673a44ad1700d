// Small request bodies (job JSON): read with a bound, whatever the Content-Type.
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

export function readSmallBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) {
    return Promise.reject(new HttpError('bad-request', `the request body is larger than ${max} bytes`));
  }
  // The client may have gone while the handler awaited the store (with PostgreSQL a real
  // wait, so socket events get in first): a destroyed request emits nothing any more.
  if (req.destroyed && !req.readableEnded) {
    return Promise.reject(new HttpError('incomplete-body', 'the request body could not be read: the client closed the connection'));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    // Closed before its end (and without an error event): the body is incomplete.
    const onClose = () => {
      cleanup();
      reject(new HttpError('incomplete-body', 'the request body could not be read: the client closed the connection'));
    };
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total > max) {
        cleanup();
        req.resume(); // the rest is read and dropped; the connection stays usable
        reject(new HttpError('bad-request', `the request body is larger than ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new HttpError('incomplete-body', `the request body could not be read: ${err.message}`));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}
