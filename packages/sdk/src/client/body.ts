// Streams exactly `length` bytes of a caller's reader into a request, like the SDK's
// __http_reader_request: never more, never buffering the whole thing, honouring
// backpressure, and leaving the rest of the reader untouched for its owner.
import type { EventEmitter } from 'node:events';
import type { Writable, Readable } from 'node:stream';
import { chunkBytes, iteratorOf, isNodeReadable, sortSource, type ByteSource, type SortedSource } from './byte-source.js';

/**
 * Where an upload's bytes come from: bytes in memory, a Blob, a node Readable (file,
 * socket…), a web ReadableStream or any iterable of byte chunks.
 */
export type BodyReader = ByteSource;

/** A BodyReader checked and sorted by checkReader(). */
export type CheckedReader = Exclude<SortedSource, { kind: 'file' }>;

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
export function checkReader(reader: unknown): CheckedReader {
  return sortSource(reader, 'reader', { paths: false }) as CheckedReader;
}

/**
 * A Readable, pulled with read(n) (byte mode: never more than asked) or read() and
 * unshift() of the excess (object mode), so the bytes after `length` stay in the stream:
 * the caller can go on reading the next part from the same stream, as with Python's
 * reader.read(n). Nothing is destroyed or drained.
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
          if (!r.readableObjectMode) {
            const chunk: unknown = r.read(Math.min(max, r.readableLength));
            if (chunk !== null) return chunkBytes(chunk, 'reader');
          } else {
            const chunk: unknown = r.read();
            if (chunk !== null) {
              const bytes = chunkBytes(chunk, 'reader');
              if (bytes.length <= max) return bytes;
              r.unshift(bytes.subarray(max));
              return bytes.subarray(0, max);
            }
          }
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
function iterableSource(reader: AsyncIterable<unknown> | Iterable<unknown>, stop: AbortSignal): ChunkSource {
  const it = iteratorOf(reader);
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
        pending = chunkBytes(result.value, 'reader');
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
export async function pumpBody(reader: CheckedReader, length: number, out: Writable, stop: AbortSignal): Promise<PumpResult> {
  if (length === 0) return 'sent';
  const source = reader.kind === 'bytes' ? iterableSource([reader.data], stop)
    : isNodeReadable(reader.stream) ? readableSource(reader.stream, stop) : iterableSource(reader.stream, stop);
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
