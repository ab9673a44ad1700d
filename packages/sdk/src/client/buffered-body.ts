// Small answers (everything but job output) are read whole before the call resolves, so a
// caller who only looks at the status and headers never leaves a connection checked out.
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

/**
 * The most a non-streamed answer may carry. OAS answers of that kind are JSON documents
 * or empty: a 1000-item listing page is well under 1 MiB.
 */
export const MAX_BUFFERED_BODY = 8 * 1024 * 1024;

/** The answer was larger than MAX_BUFFERED_BODY; the connection was dropped. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number, readonly declared: number | undefined) {
    super(`the answer's body is ${declared === undefined ? 'longer than' : `${declared} bytes, over`} the ${limit} bytes kept in memory for this call`
      + ' (only job output is streamed)');
  }
}

/** Reads `message` to its end, at most `limit` bytes; destroys it and rejects beyond that. */
export function readWholeBody(message: IncomingMessage, limit = MAX_BUFFERED_BODY): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const declared = Number(message.headers['content-length']);
    if (Number.isSafeInteger(declared) && declared > limit) {
      message.destroy();
      return reject(new BodyTooLargeError(limit, declared));
    }
    const chunks: Buffer[] = [];
    let total = 0;
    message.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        message.destroy();
        reject(new BodyTooLargeError(limit, undefined));
        return;
      }
      chunks.push(chunk);
    });
    message.once('end', () => resolve(Buffer.concat(chunks, total)));
    message.once('error', reject);
    // Destroyed without 'end' or 'error' (a timeout or abort destroys it with an error, so
    // this is a quiet close): never hang.
    message.once('close', () => {
      if (!message.complete) reject(new Error('the response body was cut short'));
    });
  });
}

/** A fresh byte stream over bytes already in memory. */
export function streamOf(content: Buffer): Readable {
  const stream = new Readable({ read() {} });
  if (content.length > 0) stream.push(content);
  stream.push(null);
  return stream;
}
