// fileRangeChunks, the reader behind file part uploads: exactly the range's bytes, through
// three reused buffers, a chunk left intact until the chunk after next is asked for (the
// HTTP body pump's guarantee), errors for a file shorter than the range.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileRangeChunks, sendBuffers } from '../src/ease/sources.js';

const dir = await mkdtemp(join(tmpdir(), 'file-chunks-'));
after(() => rm(dir, { recursive: true, force: true }));

const data = randomBytes(5 * 1024 * 1024 + 123);
const path = join(dir, 'data.bin');
await writeFile(path, data);

async function all(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of chunks) out.push(Buffer.from(chunk));
  return out;
}

test('exactly the range, in chunks of at most chunkSize, progress per chunk', async () => {
  const file = await open(path, 'r');
  try {
    for (const [position, length, chunkSize] of [
      [0, data.length, 1024 * 1024], [7, 1, 4096], [1000, 3 * 65536, 65536], [65536, 65536 * 2 + 1, 65536], [4096, data.length - 4096, 999_999],
    ] as Array<[number, number, number]>) {
      const got: Buffer[] = [];
      let reported = 0;
      for await (const chunk of fileRangeChunks(file, position, length, path, (n) => (reported += n), sendBuffers(chunkSize))) {
        assert.ok(chunk.length <= chunkSize && chunk.length > 0);
        got.push(Buffer.from(chunk));
      }
      assert.ok(Buffer.concat(got).equals(data.subarray(position, position + length)), `${position}+${length}`);
      assert.equal(reported, length);
    }
    assert.deepEqual(await all(fileRangeChunks(file, 0, 0, path)), []);
  } finally {
    await file.close();
  }
});

test('three reused buffers; a chunk stays intact until the chunk after next is asked for', async () => {
  const file = await open(path, 'r');
  try {
    const chunkSize = 65536;
    const buffers = new Set<ArrayBuffer>();
    let previous: { chunk: Buffer; copy: Buffer } | undefined;
    let at = 0;
    for await (const chunk of fileRangeChunks(file, 0, data.length, path, undefined, sendBuffers(chunkSize))) {
      buffers.add(chunk.buffer as ArrayBuffer);
      // The pump may still be sending the previous chunk while it pulls this one; give a
      // read ahead into its buffer (the bug this guards against) the time to land.
      await new Promise((resolve) => setTimeout(resolve, 2));
      if (previous) assert.ok(previous.chunk.equals(previous.copy), `chunk before ${at} overwritten early`);
      assert.ok(chunk.equals(data.subarray(at, at + chunk.length)));
      previous = { chunk, copy: Buffer.from(chunk) };
      at += chunk.length;
    }
    assert.equal(at, data.length);
    assert.equal(buffers.size, 3);
  } finally {
    await file.close();
  }
});

test('a file shorter than the range is an error naming it', async () => {
  const file = await open(path, 'r');
  try {
    await assert.rejects(all(fileRangeChunks(file, data.length - 10, 100, path)),
      /the file ended at \d+, expected 100 bytes from \d+ \(it changed during the upload\?\)/);
  } finally {
    await file.close();
  }
});
