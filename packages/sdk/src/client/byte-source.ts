// What counts as bytes to upload, for both layers (postArchiveFromReader and friends,
// Vault.uploadArchive, Uploader): every binary shape a Node user has at hand is accepted,
// anything else (text, numbers, objects) is refused with a TypeError before it can be sent.
import { Blob } from 'node:buffer';
import type { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fileURLToPath } from 'node:url';
import { isAnyArrayBuffer } from 'node:util/types';

/** Bytes in memory: a Buffer, any TypedArray, a DataView, an ArrayBuffer or SharedArrayBuffer. */
export type BinaryData = ArrayBufferView | ArrayBufferLike;

/**
 * Bytes read in order: a node Readable (byte mode, or object mode yielding byte chunks), a
 * web ReadableStream, or any async or sync iterable of byte chunks.
 */
export type ByteStream = Readable | WebReadableStream<Uint8Array> | AsyncIterable<BinaryData> | Iterable<BinaryData>;

/** Any byte source: bytes in memory, a Blob or File, or a stream of bytes. */
export type ByteSource = BinaryData | Blob | ByteStream;

/** A byte source sorted by how it is read. */
export type SortedSource =
  | { kind: 'bytes'; data: Buffer }
  | { kind: 'file'; path: string }
  | { kind: 'stream'; stream: Readable | AsyncIterable<unknown> | Iterable<unknown>; size: number | undefined };

/** A Buffer over the same memory as `value` when it is binary data, else undefined. */
export function bytesOf(value: unknown): Buffer | undefined {
  if (Buffer.isBuffer(value)) return value;
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (isAnyArrayBuffer(value)) return Buffer.from(value);
  return undefined;
}

/** A stream yielded something that is not bytes (text, an object, a number). */
export class NotBytesError extends TypeError {}

/** One chunk read from a stream, as bytes; a NotBytesError naming what it was otherwise. */
export function chunkBytes(chunk: unknown, what: string): Buffer {
  const bytes = bytesOf(chunk);
  if (bytes) return bytes;
  throw new NotBytesError(`${what} yielded ${describe(chunk)}, not bytes: only Buffer, TypedArray, DataView or ArrayBuffer chunks `
    + 'can be uploaded (text would be silently re-encoded; give the bytes, e.g. a stream without setEncoding())');
}

export function isNodeReadable(value: unknown): value is Readable {
  const r = value as Partial<Readable> | null;
  return typeof r === 'object' && r !== null && typeof r.read === 'function' && typeof r.on === 'function'
    && typeof r.readableLength === 'number';
}

/**
 * Sorts `source`, throwing a TypeError for what cannot be read as bytes. `paths` lets a
 * string or a file: URL name a file (the high-level layer); otherwise they are refused.
 */
export function sortSource(source: unknown, what: string, options: { paths: boolean }): SortedSource {
  if (typeof source === 'string' || source instanceof URL) {
    if (!options.paths) {
      throw new TypeError(`${what} is a ${typeof source === 'string' ? 'string' : 'URL'}: give bytes (Buffer.from(text) for text) `
        + 'or a stream (fs.createReadStream(path) for a file)');
    }
    if (typeof source === 'string') return { kind: 'file', path: source };
    if (source.protocol !== 'file:') throw new TypeError(`${what} is a ${source.protocol} URL; only file: URLs name a local file`);
    return { kind: 'file', path: fileURLToPath(source) };
  }
  const bytes = bytesOf(source);
  if (bytes) return { kind: 'bytes', data: bytes };
  if (source instanceof Blob) return { kind: 'stream', stream: source.stream(), size: source.size };
  if (isNodeReadable(source)) {
    if (source.readableEncoding) {
      throw new TypeError(`${what} is a stream decoding to text (setEncoding('${source.readableEncoding}')), so its bytes would be `
        + 're-encoded: give the stream without setEncoding()');
    }
    return { kind: 'stream', stream: source, size: undefined };
  }
  const candidate = source as Partial<AsyncIterable<unknown> & Iterable<unknown>> | null;
  if (typeof candidate === 'object' && candidate !== null
    && (typeof candidate[Symbol.asyncIterator] === 'function' || typeof candidate[Symbol.iterator] === 'function')) {
    return { kind: 'stream', stream: candidate as AsyncIterable<unknown> | Iterable<unknown>, size: undefined };
  }
  throw new TypeError(`${what} must be bytes (Buffer, TypedArray, DataView, ArrayBuffer), a Blob, a Readable, a web ReadableStream `
    + `or an iterable of byte chunks${options.paths ? ', or a file path' : ''}; got ${describe(source)}`);
}

/** The iterator of a stream source, sync or async (both are driven with `await it.next()`). */
export function iteratorOf(stream: Readable | AsyncIterable<unknown> | Iterable<unknown>): AsyncIterator<unknown> | Iterator<unknown> {
  const s = stream as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
  return typeof s[Symbol.asyncIterator] === 'function' ? s[Symbol.asyncIterator]!() : s[Symbol.iterator]!();
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value)})`;
  if (typeof value !== 'object' && typeof value !== 'function') return `a ${typeof value} (${String(value)})`;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' && name !== 'Object' ? `a ${name}` : `an ${typeof value}`;
}
