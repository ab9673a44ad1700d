// postArchiveFromReader / postMultipartFromReader: exactly contentLength bytes, the rest
// of the reader left alone, backpressure, early end, reader errors, early server answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, createReadStream, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { OASAPI, OASTransportError } from '../src/client/index.js';
import { startRecordingServer, sendReply, type RecordingServer } from './helpers/recording-server.js';
import { pattern } from './helpers/pattern.js';

const MIB = 1024 * 1024;
const VAULT = '79D2D8F33B7C287037286185863B6823';
const UPLOAD = '0C7A4E5F60718293A4B5C6D7E8F90A1B';
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex').toUpperCase();

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'oas-client-reader-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

async function withServer(fn: (server: RecordingServer, api: OASAPI) => Promise<void>,
  options: Parameters<typeof startRecordingServer>[0] = {}): Promise<void> {
  const server = await startRecordingServer(options);
  const api = new OASAPI(server.host, 'id', 'secret', { port: server.port });
  try {
    await fn(server, api);
  } finally {
    api.close();
    await server.close();
  }
}

/** An endless pattern generator (1 MiB chunks) that counts what it produced. */
function counting(chunkSize = MIB): { gen: AsyncGenerator<Buffer>; produced: () => number; finished: () => boolean } {
  let produced = 0;
  let finished = false;
  async function* gen(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const chunk = pattern(chunkSize, produced % 251);
        produced += chunk.length;
        yield chunk;
      }
    } finally {
      finished = true;
    }
  }
  return { gen: gen(), produced: () => produced, finished: () => finished };
}

test('file stream: exactly contentLength bytes; the rest stays readable in the stream', async () => {
  const data = pattern(3 * MIB + 17);
  const file = join(dir, 'data.bin');
  writeFileSync(file, data);
  await withServer(async (server, api) => {
    const stream = createReadStream(file, { highWaterMark: 64 * 1024 });
    const length = MIB + 5;
    const res = await api.postArchiveFromReader(VAULT, stream, length, md5(data.subarray(0, length)), 'T', 'from a file');
    assert.equal(res.status, 200);
    res.dispose();
    const rec = server.requests[0]!;
    await rec.done;
    assert.equal(rec.header('content-length'), String(length));
    assert.equal(rec.bodyLength, length);
    assert.equal(rec.bodyMd5, md5(data.subarray(0, length)));
    assert.equal(rec.aborted, false);
    assert.equal(stream.destroyed, false, 'the caller\'s stream is not destroyed');

    // The next part can be sent from the same stream, starting right after the first.
    const second = 2 * MIB;
    const res2 = await api.postMultipartFromReader(VAULT, UPLOAD, stream, second, `${length}-${length + second - 1}`, 'E', 'T');
    res2.dispose();
    const rec2 = server.requests[1]!;
    await rec2.done;
    assert.equal(rec2.bodyMd5, md5(data.subarray(length, length + second)));
    assert.equal(rec2.header('content-range'), `${length}-${length + second - 1}`);

    // And what is left is exactly the tail.
    const rest: Buffer[] = [];
    for await (const chunk of stream) rest.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(rest), data.subarray(length + second));
  });
});

test('push-based Readable whose chunks straddle contentLength', async () => {
  await withServer(async (server, api) => {
    const stream = new Readable({ read() {} });
    stream.push(Buffer.from('abcdef'));
    stream.push(Buffer.from('ghijkl'));
    const res = await api.postArchiveFromReader(VAULT, stream, 8, 'E', 'T');
    res.dispose();
    await server.requests[0]!.done;
    assert.equal(server.requests[0]!.body!.toString(), 'abcdefgh');
    assert.equal(stream.read(4).toString(), 'ijkl', 'the unsent tail is still in the stream');
    stream.destroy();
  });
});

test('async generator: exact byte count, rest ignored, generator not returned', async () => {
  await withServer(async (server, api) => {
    const source = counting(100 * 1024);
    const length = MIB + 3;
    const res = await api.postArchiveFromReader(VAULT, source.gen, length, 'E', 'T');
    res.dispose();
    const rec = server.requests[0]!;
    await rec.done;
    assert.equal(rec.bodyLength, length);
    assert.equal(rec.bodyMd5, md5(pattern(length)));
    assert.ok(source.produced() < length + 100 * 1024, 'stopped pulling after contentLength');
    assert.equal(source.finished(), false, 'the generator was left suspended, not closed');
    await source.gen.return(undefined);
  });
});

test('reader ending early: rejects with a clear error and the server sees an aborted body', async () => {
  await withServer(async (server, api) => {
    async function* short(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(600);
      await server.waitForRequest(0); // the request is on the wire before the reader ends
      yield new Uint8Array(400);
    }
    await assert.rejects(api.postArchiveFromReader(VAULT, short(), 5000, 'E', 'T'), (e: Error) =>
      e instanceof OASTransportError && e.message.includes('postArchiveFromReader')
      && e.message.includes('reader ended after 1000 of 5000 bytes'));
    const rec = await server.waitForRequest(0);
    await rec.done;
    assert.equal(rec.aborted, true);
    assert.ok(rec.bodyLength <= 1000);
  });
});

test('reader failing: rejects naming the byte count, with the reader error as cause', async () => {
  await withServer(async (server, api) => {
    const boom = new Error('disk on fire');
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(700);
      await server.waitForRequest(0);
      throw boom;
    }
    await assert.rejects(api.postMultipartFromReader(VAULT, UPLOAD, failing(), 2000, '0-1999', 'E', 'T'), (e: Error) =>
      e instanceof OASTransportError && /reading the body failed after 700 of 2000 bytes: disk on fire/.test(e.message) && e.cause === boom);
    const rec = await server.waitForRequest(0);
    await rec.done;
    assert.equal(rec.aborted, true);
  });
});

test('a failing Readable does not crash the process: the upload rejects', async () => {
  await withServer(async (server, api) => {
    const stream = new Readable({ read() {} });
    stream.push(Buffer.alloc(100));
    void server.waitForRequest(0).then(() => stream.destroy(new Error('EIO')));
    await assert.rejects(api.postArchiveFromReader(VAULT, stream, 1000, 'E', 'T'), /reading the body failed after 100 of 1000 bytes: EIO/);
    await (await server.waitForRequest(0)).done;
  });
});

test('contentLength 0 sends an empty body without pulling from the reader', async () => {
  await withServer(async (server, api) => {
    const source = counting();
    const res = await api.postArchiveFromReader(VAULT, source.gen, 0, 'E', 'T');
    res.dispose();
    await server.requests[0]!.done;
    assert.equal(server.requests[0]!.header('content-length'), '0');
    assert.equal(source.produced(), 0);
  });
});

test('64 MiB generated on the fly: right MD5 at the server, producer held back by backpressure', async () => {
  let producedWhilePaused = -1;
  const source = counting();
  await withServer(async (server, api) => {
    const total = 64 * MIB;
    const res = await api.postMultipartFromReader(VAULT, UPLOAD, source.gen, total, `0-${total - 1}`, 'E', 'T');
    assert.equal(res.status, 200);
    res.dispose();
    const rec = server.requests[0]!;
    await rec.done;
    assert.equal(rec.bodyLength, total);
    const expected = createHash('md5');
    for (let offset = 0; offset < total; offset += MIB) expected.update(pattern(MIB, offset % 251));
    assert.equal(rec.bodyMd5, expected.digest('hex').toUpperCase());
    assert.ok(producedWhilePaused >= 0 && producedWhilePaused < 32 * MIB,
      `the reader was not pulled far ahead of a stalled server (${producedWhilePaused} bytes)`);
  }, {
    keepBodyBytes: 0,
    // Stall the upload for a while: the client must stop pulling from the generator.
    early: (_rec, _res, req) => {
      req.pause();
      setTimeout(() => {
        producedWhilePaused = source.produced();
        req.resume();
      }, 300);
      return false;
    },
  });
});

test('server answering early and closing: resolves with its response (EPIPE/reset tolerated)', async () => {
  const source = counting();
  await withServer(async (_server, api) => {
    const res = await api.postArchiveFromReader(VAULT, source.gen, 256 * MIB, 'E', 'T');
    assert.equal(res.status, 400);
    const err = await res.toError();
    assert.equal(err.code, 'InvalidDigest');
    assert.equal(err.type, 'client');
    assert.ok(source.produced() < 256 * MIB, 'stopped sending once answered');
  }, {
    early: (_rec, res, req) => {
      sendReply(res, { status: 400, headers: { Connection: 'close' }, body: { code: 'InvalidDigest', message: 'bad etag', type: 'client' } });
      res.on('finish', () => req.socket.destroy());
      return true;
    },
  });
});

test('server answering early but still reading: resolves with its response and stops sending', async () => {
  const source = counting();
  await withServer(async (server, api) => {
    const res = await api.postMultipartFromReader(VAULT, UPLOAD, source.gen, 256 * MIB, '0-268435455', 'E', 'T');
    assert.equal(res.status, 413);
    assert.equal((await res.toError()).code, 'EntityTooLarge');
    const rec = server.requests[0]!;
    await rec.done;
    assert.ok(rec.bodyLength < 256 * MIB);
  }, {
    keepBodyBytes: 0,
    early: (_rec, res) => {
      sendReply(res, { status: 413, body: { code: 'EntityTooLarge', message: 'too big', type: 'client' } });
      return true;
    },
  });
});

test('readers that are not bytes are refused with a TypeError, before anything is sent', async () => {
  await withServer(async (server, api) => {
    await assert.rejects(api.postArchiveFromReader(VAULT, Readable.from([{ a: 1 }]), 10, 'E', 'T'),
      (e: Error) => e instanceof TypeError && /reader yielded an object, not bytes/.test(e.message));
    await assert.rejects(api.postArchiveFromReader(VAULT, Readable.from(['abc']), 3, 'E', 'T'),
      (e: Error) => e instanceof TypeError && /yielded a string \("abc"\), not bytes/.test(e.message));
    await assert.rejects(api.postArchiveFromReader(VAULT, (async function* () { yield 42; })() as AsyncIterable<never>, 3, 'E', 'T'),
      (e: Error) => e instanceof TypeError && /yielded a number \(42\)/.test(e.message));
    const text = Readable.from([Buffer.from('abc')], { objectMode: false });
    text.setEncoding('utf8');
    await assert.rejects(api.postArchiveFromReader(VAULT, text, 3, 'E', 'T'), /decoding to text \(setEncoding\('utf8'\)\)/);
    await assert.rejects(api.postArchiveFromReader(VAULT, 'abc' as unknown as Readable, 3, 'E', 'T'), /reader is a string: give bytes/);
    await assert.rejects(api.postArchiveFromReader(VAULT, 7 as unknown as Readable, 3, 'E', 'T'), /got a number \(7\)/);
    await assert.rejects(api.postArchiveFromReader(VAULT, new Readable({ read() {} }), -1, 'E', 'T'), /contentLength/);
    assert.equal(server.requests.length, 0);
  });
});

test('every byte source: Buffer, TypedArray, DataView, ArrayBuffer, Blob, object-mode Readable of buffers, web stream, iterables', async () => {
  const data = Buffer.from('0123456789abcdef');
  const copy = (): Buffer => Buffer.from(data);
  const sources: Array<[string, () => unknown]> = [
    ['Buffer', copy],
    ['Uint8Array', () => new Uint8Array(copy())],
    ['Uint16Array', () => new Uint16Array(new Uint8Array(data).buffer)],
    ['DataView', () => { const b = copy(); return new DataView(b.buffer, b.byteOffset, b.byteLength); }],
    ['ArrayBuffer', () => { const b = copy(); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }],
    ['Blob', () => new Blob([data.subarray(0, 5), data.subarray(5)])],
    ['Readable.from([buf1, buf2])', () => Readable.from([data.subarray(0, 7), data.subarray(7)])],
    ['web ReadableStream', () => Readable.toWeb(Readable.from([data.subarray(0, 3), data.subarray(3)]))],
    ['array of chunks', () => [data.subarray(0, 9), new Uint8Array(data.subarray(9))]],
    ['async generator', () => (async function* () { yield data.subarray(0, 1); yield data.subarray(1); })()],
  ];
  await withServer(async (server, api) => {
    for (const [i, [name, make]] of sources.entries()) {
      const res = await api.postArchiveFromReader(VAULT, make() as Readable, data.length, 'E', 'T');
      assert.equal(res.status, 200, name);
      const rec = await server.waitForRequest(i);
      await rec.done;
      assert.deepEqual(rec.body, data, name);
    }
    // postArchive takes the in-memory shapes too.
    const res = await api.postArchive(VAULT, new DataView(data.buffer, data.byteOffset, 4), 'E', 'T');
    assert.equal(res.status, 200);
    assert.deepEqual((await server.waitForRequest(sources.length)).body, data.subarray(0, 4));
  });
});

test('an object-mode Readable of buffers: exactly contentLength bytes go, the rest stays in the stream', async () => {
  await withServer(async (server, api) => {
    const stream = Readable.from([Buffer.from('abcdef'), Buffer.from('ghij')]);
    await api.postMultipartFromReader(VAULT, 'U', stream, 4, '0-3', 'E', 'T');
    await api.postMultipartFromReader(VAULT, 'U', stream, 6, '4-9', 'E', 'T');
    const [a, b] = [await server.waitForRequest(0), await server.waitForRequest(1)];
    await Promise.all([a.done, b.done]);
    assert.equal(a.body?.toString(), 'abcd');
    assert.equal(b.body?.toString(), 'efghij');
  });
});
