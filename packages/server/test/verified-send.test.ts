// The verifying reader's zero-copy send: piped into an HTTP response it writes the worker
// pool's slots themselves and frees each once the socket took it. Many responses at once
// (more than the pool has slots) come back exact; a consumer that holds on to chunks (a
// Transform, collected later) gets copies that later reads never overwrite; a client that
// goes away mid-body frees every slot; a bad leaf still cuts the response short.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MIB, leafWorkerStats, stopLeafWorker } from '@oas/sdk';
import { openFileBlobStore } from '../src/store/blob/file.js';
import type { BlobStore } from '../src/store/blob/types.js';
import { readVerified, scanVerified, type BlobSpan } from '../src/store/blob/verifying-reader.js';
import { writeBlob } from '../src/store/blob/verifying-writer.js';

let dir: string;
let store: BlobStore;
let server: http.Server;
let port: number;
const data = randomBytes(40 * MIB + 12345);
let span: BlobSpan;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oas-send-'));
  store = await openFileBlobStore(dir);
  const written = await writeBlob(store, Readable.from([data]), { expect: { size: data.length } });
  span = { blobKey: written.key, size: data.length };
  server = http.createServer((req, res) => {
    const [start, end] = (req.url ?? '').slice(1).split('-').map(Number) as [number, number];
    res.writeHead(200, { 'content-length': end - start + 1 });
    const body = readVerified(store, [span], start, end);
    body.once('error', () => res.destroy());
    body.pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await store.close();
  await rm(dir, { recursive: true, force: true });
  await stopLeafWorker();
});

function get(path: string): Promise<{ status: number; body: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), complete: res.complete }));
      res.once('error', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), complete: false }));
    }).once('error', reject);
  });
}

async function poolIdle(): Promise<void> {
  for (let i = 0; i < 500 && leafWorkerStats().free !== leafWorkerStats().slots; i++) await new Promise((r) => setTimeout(r, 10));
  const stats = leafWorkerStats();
  assert.equal(stats.free, stats.slots, 'every pool slot given back');
}

test('six responses at once, whole and unaligned ranges, all exact', async () => {
  const ranges: [number, number][] = [[0, data.length - 1], [0, data.length - 1], [5, 17 * MIB + 3], [MIB, 9 * MIB - 1],
    [data.length - 100, data.length - 1], [8 * MIB - 1, 24 * MIB]];
  const results = await Promise.all(ranges.map(([a, b]) => get(`/${a}-${b}`)));
  results.forEach((r, i) => {
    const [a, b] = ranges[i]!;
    assert.equal(r.status, 200);
    assert.ok(r.complete);
    assert.ok(r.body.equals(data.subarray(a, b + 1)), `range ${a}-${b}`);
  });
  await poolIdle();
});

test('a consumer that keeps the chunks gets copies: later reads do not overwrite them', async () => {
  const held: Buffer[] = [];
  const keep = new PassThrough({ highWaterMark: 64 * MIB });
  const streams = [readVerified(store, [span], 0, data.length - 1), readVerified(store, [span], 0, data.length - 1)];
  // Both read everything into PassThroughs before anyone looks at a byte.
  const other = new PassThrough({ highWaterMark: 64 * MIB });
  await Promise.all([pipeline(streams[0]!, keep), pipeline(streams[1]!, other)]);
  for await (const chunk of keep) held.push(chunk as Buffer);
  other.resume();
  assert.ok(Buffer.concat(held).equals(data));
  await poolIdle();
});

test('a client that goes away mid-body frees every slot; a later read is still exact', async () => {
  await new Promise<void>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/0-${data.length - 1}`, agent: false }, (res) => {
      let got = 0;
      res.on('data', (c: Buffer) => {
        got += c.length;
        if (got > 3 * MIB) {
          req.destroy();
          resolve();
        }
      });
    });
    req.once('error', () => undefined);
    req.setTimeout(30_000, () => reject(new Error('no body')));
  });
  await poolIdle();
  const again = await get(`/0-${data.length - 1}`);
  assert.ok(again.body.equals(data));
  assert.equal(await scanVerified(store, [span], 0, data.length - 1), data.length);
  await poolIdle();
});

test('a bad leaf cuts the response before its bytes; the good leaves before it come through', async () => {
  const blobsDir = join(dir, 'blobs');
  const sub = (await readdir(blobsDir))[0]!;
  const path = join(blobsDir, sub, span.blobKey);
  const bad = Buffer.from(data);
  bad[20 * MIB + 5] = bad[20 * MIB + 5]! ^ 1;
  await writeFile(path, bad);
  const r = await get(`/0-${data.length - 1}`);
  assert.ok(!r.complete);
  assert.ok(r.body.length <= 20 * MIB, `${r.body.length} bytes passed on`);
  assert.ok(r.body.equals(data.subarray(0, r.body.length)));
  await assert.rejects(scanVerified(store, [span], 0, data.length - 1), /do not match their stored checksum/);
  await writeFile(path, data);
  await poolIdle();
});
