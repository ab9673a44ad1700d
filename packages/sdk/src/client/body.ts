// Streams exactly `length` bytes of a caller's reader into a request, like the SDK's
// __http_reader_request: never more, never buffering the whole thing, honouring
// backpressure, and leaving the rest of the reader untouched for its owner.
import type { EventEmitter } from 'node:events';
import type { Writable, Readable } from 'node:stream';

/** Where an upload's bytes come from: a node Readable (file, socket…) or any async iterable. */
export type BodyReader = Readable | AsyncIterable<Uint8Array>;

/** The reader ended before `length` bytes. */
export class ShortBodyError extends Error {
  constructor(readonly sent: number, readonly expected: number) {
    super(`reader ended after ${sent} of ${expected} bytes`);
  }
}

/** The reader failed; `sent` bytes had gone out. */
export class ReaderError extends Error {
  constructor(readonly sent: number, readonly expected: number, cause: unknown) {
    super(`reading the body failed after ${sent} of ${expected} bytes: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

interface ChunkSource {
  /** Up to `max` bytes, null at the end; resolves early (with null) once `stop` fires. */
  next(max: number): Promise<Buffer | null>;
  /** Detaches from the reader without consuming or destroying anything more. */
  release(): void;
}

/** Resolves on the first of `events` or when `stop` fires; never rejects. */
export function waitFor(emitter: EventEmitter, events: readonly string[], stop?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      for (const e of events) emitter.off(e, done);
      stop?.removeEventListener('abort', done);
      resolve();
    };
    if (stop?.aborted) return resolve();
    for (const e of events) emitter.on(e, done);
    stop?.addEventListener('abort', done);
  });
}

/** Throws a TypeError, before anything is sent, for what pumpBody cannot read bytes from. */
export function checkReader(reader: unknown): asserts reader is BodyReader {
  if (reader === null || typeof reader !== 'object' && typeof reader !== 'function') {
    throw new TypeError('reader must be a Readable stream or an AsyncIterable<Uint8Array>');
  }
  if (isNodeReadable(reader as BodyReader)) {
    const r = reader as Readable;
    if (r.readableObjectMode) throw new TypeError('reader is an object-mode stream; give a byte stream');
    if (r.readableEncoding) throw new TypeError(`reader decodes to text (encoding ${r.readableEncoding}); give a byte stream`);
    return;
  }
  if (typeof (reader as Partial<AsyncIterable<Uint8Array>>)[Symbol.asyncIterator] !== 'function') {
    throw new TypeError('reader must be a Readable stream or an AsyncIterable<Uint8Array>');
  }
}

function isNodeReadable(reader: BodyReader): reader is Readable {
  const r = reader as Partial<Readable>;
  return typeof r.read === 'function' && typeof r.on === 'function' && typeof r.readableLength === 'number';
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  throw new TypeError(`the reader yielded a ${typeof chunk}, expected Uint8Array chunks`);
}

/**
 * A byte-mode Readable, pulled with read(n): read(n) never takes more than asked, so the
 * bytes after `length` stay in the stream (the caller can go on reading the next part from
 * the same stream, as with Python's reader.read(n)). Nothing is destroyed or drained.
 */
function readableSource(r: Readable, stop: AbortSignal): ChunkSource {
  if (r.readableFlowing) r.pause();
  let wake: (() => void) | undefined;
  const onEvent = (): void => { const w = wake; wake = undefined; w?.(); };
  // The 'error' listener also keeps an error during the upload from becoming uncaught;
  // the failure itself is read from r.errored below.
  const events = ['readable', 'end', 'close', 'error'] as const;
  for (const e of events) r.on(e, onEvent);
  return {
    async next(max) {
      for (;;) {
        if (stop.aborted) return null;
        if (r.errored) throw r.errored;
        if (r.readableEnded) return null;
        if (r.readableLength > 0) {
          const chunk: unknown = r.read(Math.min(max, r.readableLength));
          if (chunk !== null) return toBuffer(chunk);
        }
        if (r.destroyed) throw new Error('the reader was destroyed');
        await new Promise<void>((resolve) => {
          wake = resolve;
          stop.addEventListener('abort', onEvent, { once: true });
        });
        stop.removeEventListener('abort', onEvent);
      }
    },
    release() {
      for (const e of events) r.off(e, onEvent);
    },
  };
}

/**
 * Any async iterable (generator, web stream…). Its iterator is never return()ed, so a
 * generator is simply left suspended; the unsent tail of the chunk that crossed `length`
 * is dropped, since an iterator cannot take bytes back.
 */
function iterableSource(reader: AsyncIterable<Uint8Array>, stop: AbortSignal): ChunkSource {
  const it = reader[Symbol.asyncIterator]();
  // One listener for the whole upload: a pending it.next() cannot be cancelled, only raced.
  const stopped = new Promise<null>((resolve) => {
    if (stop.aborted) resolve(null);
    else stop.addEventListener('abort', () => resolve(null), { once: true });
  });
  let pending: Buffer | null = null;
  return {
    async next(max) {
      while (!pending || pending.length === 0) {
        if (stop.aborted) return null;
        const result = await Promise.race([it.next(), stopped]);
        if (result === null || result.done) return null;
        pending = toBuffer(result.value);
      }
      const out = pending.length > max ? pending.subarray(0, max) : pending;
      pending = pending.length > max ? pending.subarray(max) : null;
      return out;
    },
    release() {
      pending = null;
    },
  };
}

export type PumpResult = 'sent' | 'stopped';

/**
 * Writes exactly `length` bytes from `reader` to `out`, waiting for 'drain' whenever
 * write() asks to. Returns 'stopped' as soon as `stop` fires (the caller decided the
 * request is over: early response, abort, failure). Throws ShortBodyError/ReaderError.
 * The caller ends or destroys `out`.
 */
export async function pumpBody(reader: BodyReader, length: number, out: Writable, stop: AbortSignal): Promise<PumpResult> {
  if (length === 0) return 'sent';
  const source = isNodeReadable(reader) ? readableSource(reader, stop) : iterableSource(reader, stop);
  let sent = 0;
  try {
    while (sent < length) {
      let chunk: Buffer | null;
      try {
        chunk = await source.next(length - sent);
      } catch (error) {
        throw new ReaderError(sent, length, error);
      }
      if (stop.aborted) return 'stopped';
      if (chunk === null) throw new ShortBodyError(sent, length);
      if (chunk.length === 0) continue;
      sent += chunk.length;
      if (!out.write(chunk)) await waitFor(out, ['drain', 'close'], stop);
      if (stop.aborted) return 'stopped';
    }
    return 'sent';
  } finally {
    source.release();
  }
}
