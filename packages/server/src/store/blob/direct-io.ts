// Blob data written and read with O_DIRECT where the file system allows it: straight
// between the disk and page-aligned memory (the SDK's hashing pool slots), not through
// the page cache. An archive is written once and read rarely, so caching it only costs:
// a copy into the cache, and memory the kernel must find (on a virtual machine that hands
// freed memory back to its host, every new cache page costs a page fault on the host: a
// buffered 1 GiB write measured 2.4-4.5 s of system time there, the same write direct
// 0.1 s). Bytes that cannot go direct (a tail shorter than a block, a file system without
// O_DIRECT such as tmpfs, an unaligned buffer) go through an ordinary descriptor of the
// same file; both see the same data, and fsync covers both.
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { LeafBuffer, MIB, copyIntoShared } from '@oas/sdk';

/** Offsets, lengths and buffer addresses of direct I/O are multiples of this (any disk's block). */
export const DIRECT_ALIGN = 4096;
/** Each of a writer's two staging buffers: one fills while the other is written. */
const HALF = 4 * MIB;
/**
 * Chunks queued in front of the stream: little, since they are copied out at once (16
 * uploads at 4 MiB each held 64 MB of socket chunks).
 */
const QUEUE_BYTES = MIB;

const openFd = promisify(fs.open);
const closeFd = promisify(fs.close);
const writeFd = promisify(fs.write);
const readFd = promisify(fs.read);

const isEinval = (err: unknown): boolean => (err as NodeJS.ErrnoException | null)?.code === 'EINVAL';

/** `path` opened once more with O_DIRECT; undefined where the file system refuses it. */
export async function openDirect(path: string, write: boolean): Promise<number | undefined> {
  const { O_DIRECT, O_RDONLY, O_WRONLY } = fs.constants;
  if (O_DIRECT === undefined) return undefined; // not Linux
  try {
    return await openFd(path, (write ? O_WRONLY : O_RDONLY) | O_DIRECT);
  } catch (err) {
    if (isEinval(err)) return undefined;
    throw err;
  }
}

/** Whether direct I/O may work on `buf[offset..]`: pool slots are page-aligned shared memory. */
const alignedMemory = (buf: Buffer, offset: number): boolean =>
  buf.buffer instanceof SharedArrayBuffer && (buf.byteOffset + offset) % DIRECT_ALIGN === 0;

/**
 * The data stream of a blob being written: chunks are copied into two halves of a pool slot
 * and each full half goes to the disk direct while the other fills. Without a slot or a
 * direct descriptor it writes every chunk through `fd`. Destroying it closes both
 * descriptors once no write is in flight.
 */
export class BlobDataStream extends Writable {
  /** Bytes on their way to the file or there: what the commit checks the leaves against. */
  bytesWritten = 0;
  /** Of those, the bytes written with direct I/O. */
  directBytes = 0;
  private slot: LeafBuffer | undefined;
  private readonly halves: Buffer[] = [];
  private readonly writing: (Promise<void> | undefined)[] = [undefined, undefined];
  private turn = 0;
  private fill = 0;
  private position = 0;
  /** Cleared when a direct write is refused (EINVAL): the rest goes through `fd`. */
  private directWorks: boolean;

  /** `direct`: the same file opened by openDirect (taken over: closed with the stream). */
  constructor(private readonly fd: number, private readonly direct: number | undefined) {
    // Not destroyed at 'finish': the commit still fsyncs the descriptor.
    super({ highWaterMark: QUEUE_BYTES, autoDestroy: false });
    this.directWorks = direct !== undefined;
    if (direct !== undefined) this.slot = LeafBuffer.acquire();
    if (this.slot) this.halves.push(this.slot.data.subarray(0, HALF), this.slot.data.subarray(HALF, 2 * HALF));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.take(chunk).then(() => done(), done);
  }

  /** Queued chunks: one buffered write of them all, or one copy each into the halves. */
  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    const all = async (): Promise<void> => {
      if (this.halves.length === 0) return this.take(Buffer.concat(chunks.map((c) => c.chunk)));
      for (const { chunk } of chunks) await this.take(chunk);
    };
    all().then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    if (this.fill > 0) this.send();
    Promise.all(this.writing).then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    // A write in flight must land before its descriptor closes (the number could be reused).
    void Promise.allSettled(this.writing).then(async () => {
      this.slot?.release();
      this.slot = undefined;
      const closing = [closeFd(this.fd)];
      if (this.direct !== undefined) closing.push(closeFd(this.direct));
      const failed = (await Promise.allSettled(closing)).find((r) => r.status === 'rejected');
      done(err ?? (failed ? (failed.reason as Error) : null));
    });
  }

  private async take(chunk: Buffer): Promise<void> {
    if (this.halves.length === 0) {
      const write = this.writeAll(this.fd, chunk, this.position);
      this.writing[0] = write; // so that a destroy waits for it
      this.position += chunk.length;
      this.bytesWritten += chunk.length;
      return write;
    }
    for (let at = 0; at < chunk.length;) {
      if (this.fill === 0) {
        await this.writing[this.turn]; // this half's last write must be out
        // Destroyed meanwhile: the slot is going back to the pool, not a byte more into it.
        if (this.destroyed) throw new Error('the blob stream was destroyed');
      }
      const n = Math.min(HALF - this.fill, chunk.length - at);
      copyIntoShared(at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n), this.halves[this.turn]!, this.fill);
      this.fill += n;
      at += n;
      if (this.fill === HALF) this.send();
    }
  }

  /** Writes the filling half out and starts on the other one. */
  private send(): void {
    const write = this.writeOut(this.halves[this.turn]!.subarray(0, this.fill), this.position);
    write.catch(() => undefined); // awaited before the half is reused and at the end
    this.writing[this.turn] = write;
    this.position += this.fill;
    this.bytesWritten += this.fill;
    this.fill = 0;
    this.turn ^= 1;
  }

  private async writeOut(data: Buffer, position: number): Promise<void> {
    const aligned = this.directWorks ? data.length - (data.length % DIRECT_ALIGN) : 0;
    if (aligned > 0) {
      try {
        await this.writeAll(this.direct!, data.subarray(0, aligned), position);
        this.directBytes += aligned;
      } catch (err) {
        if (!isEinval(err)) throw err;
        // The file system or the memory does not take direct writes after all: stay buffered.
        this.directWorks = false;
        await this.writeAll(this.fd, data.subarray(0, aligned), position);
      }
    }
    if (aligned < data.length) await this.writeAll(this.fd, data.subarray(aligned), position + aligned);
  }

  /** Never issues a write once the stream is destroyed: its descriptors are about to close. */
  private async writeAll(fd: number, buf: Buffer, position: number): Promise<void> {
    for (let done = 0; done < buf.length;) {
      if (this.destroyed) throw new Error('the blob stream was destroyed');
      done += (await writeFd(fd, buf, done, buf.length - done, position + done)).bytesWritten;
    }
  }
}

/**
 * Positional reads of a committed blob: whole blocks into aligned memory go direct, the
 * rest (a short tail, a buffer of its own) through the page cache.
 */
export class BlobDataReader {
  /** Bytes read with direct I/O. */
  directBytes = 0;
  /** Cleared when a direct read is refused (EINVAL); the descriptor stays open until close. */
  private directWorks: boolean;

  constructor(private readonly fd: number, private readonly direct: number | undefined) {
    this.directWorks = direct !== undefined;
  }

  static async open(path: string): Promise<BlobDataReader> {
    const fd = await openFd(path, 'r');
    try {
      return new BlobDataReader(fd, await openDirect(path, false));
    } catch (err) {
      await closeFd(fd);
      throw err;
    }
  }

  async read(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    const blocks = length - (length % DIRECT_ALIGN);
    if (this.directWorks && blocks > 0 && position % DIRECT_ALIGN === 0 && alignedMemory(buf, offset)) {
      try {
        const { bytesRead } = await readFd(this.direct!, buf, offset, blocks, position);
        this.directBytes += bytesRead;
        return bytesRead;
      } catch (err) {
        if (!isEinval(err)) throw err;
        this.directWorks = false;
      }
    }
    return (await readFd(this.fd, buf, offset, length, position)).bytesRead;
  }

  async close(): Promise<void> {
    await closeFd(this.fd);
    if (this.direct !== undefined) await closeFd(this.direct);
  }
}
