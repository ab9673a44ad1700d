// The S3 blob store: the shared contract and what only an S3 service can show (object
// layout, leftovers of crashed writers under the age rule, multipart streaming with bounded
// memory, abort, concurrent writers), each against s3rver (in-process, fast) and a real
// single-node Ceph radosgw (never skipped: missing Ceph binaries fail the run).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createServer, connect, type Socket } from 'node:net';
import {
  CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand,
  ListObjectsV2Command, PutObjectCommand, type S3Client, AbortMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { MIB, newId } from '@oas/sdk';
import { openS3BlobStore, type S3BlobStoreOptions } from '../src/store/blob/s3.js';
import { BlobNotFoundError, type BlobStore } from '../src/store/blob/types.js';
import { blobStoreContract, leavesOf, writeBlob } from './store-contract.js';
import { startCephRgw } from './helpers/ceph-rgw.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { startS3rver } from './helpers/s3rver.js';
import { testS3Client, type S3Endpoint } from './helpers/s3-client.js';

const HOUR = 3_600_000;
const PART = 5 * MIB; // the smallest part size S3 allows
const BUCKET = 'oas-blobs';

interface TestServer extends S3Endpoint {
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

interface Backend {
  name: string;
  start(): Promise<TestServer>;
  /** ListMultipartUploads and AbortMultipartUpload work (s3rver has neither). */
  multipartAdmin: boolean;
  /** The service checks the SigV4 payload hash of what it receives (s3rver does not). */
  checksPayload: boolean;
}

const BACKENDS: Backend[] = [
  { name: 's3rver', start: startS3rver, multipartAdmin: false, checksPayload: false },
  { name: 'ceph radosgw', start: () => startCephRgw(), multipartAdmin: true, checksPayload: true },
];

/** Deterministic 1 MiB chunks, each different (its index is stamped into it). */
function chunkOf(index: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(MIB);
  let x = (index * 2654435761 + seed * 40503) >>> 0;
  for (let i = 0; i < MIB; i += 4) {
    x = (x * 1103515245 + 12345) >>> 0;
    buf.writeUInt32LE(x, i);
  }
  buf.writeUInt32BE(index, 0);
  return buf;
}

/** Bytes start..end (inclusive) of the blob made of chunkOf(0..) with `seed`. */
function expectedRange(start: number, end: number, seed: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = Math.floor(start / MIB); i <= Math.floor(end / MIB); i++) parts.push(chunkOf(i, seed));
  const from = start - Math.floor(start / MIB) * MIB;
  return Buffer.concat(parts).subarray(from, from + end - start + 1);
}

function bytes(size: number, seed: number): Buffer {
  return size === 0 ? Buffer.alloc(0) : expectedRange(0, size - 1, seed);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Writes `data` in 256 KiB chunks, each accepted before the next (no end). */
async function writeSome(stream: Writable, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length; off += 256 * 1024) {
    await new Promise<void>((resolve, reject) => stream.write(data.subarray(off, off + 256 * 1024), (err) => (err ? reject(err) : resolve())));
  }
}

/**
 * A TCP proxy on loopback that counts the bytes each way and can stop taking bytes from
 * the client, so a test sees how much a writer accepts while nothing reaches the service.
 * `pauseOn` pauses the client side as soon as a chunk containing that text goes through.
 */
interface CountingProxy {
  endpoint: string;
  /** Bytes forwarded client -> service and service -> client. */
  readonly up: number;
  readonly down: number;
  pauseOn: string | null;
  paused: boolean;
  resume(): void;
  stop(): Promise<void>;
}

async function startCountingProxy(target: string): Promise<CountingProxy> {
  const to = new URL(target);
  const clients = new Set<Socket>();
  const sockets = new Set<Socket>();
  let up = 0;
  let down = 0;
  const proxy: CountingProxy = {
    endpoint: '',
    get up() { return up; },
    get down() { return down; },
    pauseOn: null,
    paused: false,
    resume() {
      proxy.paused = false;
      for (const c of clients) c.resume();
    },
    stop: async () => undefined,
  };
  const server = createServer((client) => {
    const upstream = connect(Number(to.port), to.hostname);
    clients.add(client);
    sockets.add(client);
    sockets.add(upstream);
    if (proxy.paused) client.pause();
    client.on('data', (chunk: Buffer) => {
      up += chunk.length;
      const more = upstream.write(chunk);
      if (proxy.pauseOn !== null && chunk.includes(proxy.pauseOn)) {
        proxy.pauseOn = null;
        proxy.paused = true;
        for (const c of clients) c.pause();
      } else if (!more) {
        client.pause();
      }
    });
    upstream.on('drain', () => { if (!proxy.paused) client.resume(); });
    upstream.on('data', (chunk: Buffer) => {
      down += chunk.length;
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    const close = () => {
      client.destroy();
      upstream.destroy();
      clients.delete(client);
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  proxy.endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  proxy.stop = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  return proxy;
}

/** Resolves once `value()` has not changed for ten polls in a row (the flow has stopped). */
async function settled(value: () => number): Promise<number> {
  let last = value();
  for (let still = 0; still < 10;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = value();
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return last;
}

for (const backend of BACKENDS) {
  describe(`S3 blob store on ${backend.name}`, () => {
    let server: TestServer;
    let raw: S3Client;
    const stores: BlobStore[] = [];

    before(async () => {
      server = await backend.start();
      await server.createBucket(BUCKET);
      raw = testS3Client(server);
    });

    after(async () => {
      for (const s of stores) await s.close();
      raw?.destroy();
      await server?.stop();
    });

    const open = (prefix: string, over: Partial<S3BlobStoreOptions> = {}): Promise<BlobStore> => openS3BlobStore({
      bucket: BUCKET, prefix, endpoint: server.endpoint, region: server.region, accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey, forcePathStyle: true, partSize: PART, ...over,
    });

    /** A store that closes itself when the describe ends. */
    const openTracked = async (prefix: string, over: Partial<S3BlobStoreOptions> = {}): Promise<BlobStore> => {
      const s = await open(prefix, over);
      stores.push(s);
      return s;
    };

    /** Every object name under `prefix`, relative to it. */
    const objects = async (prefix: string): Promise<string[]> => {
      const names: string[] = [];
      let token: string | undefined;
      do {
        const res = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
        for (const o of res.Contents ?? []) names.push(o.Key!.slice(prefix.length));
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
      return names.sort();
    };

    const uploads = async (prefix: string): Promise<{ key: string; uploadId: string }[]> => {
      const res = await raw.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }));
      return (res.Uploads ?? []).map((u) => ({ key: u.Key!.slice(prefix.length), uploadId: u.UploadId! }));
    };

    /** Removes everything under `prefix` (objects, and uploads where the service can). */
    const wipe = async (prefix: string): Promise<void> => {
      if (backend.multipartAdmin) {
        for (const u of await uploads(prefix)) {
          await raw.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: prefix + u.key, UploadId: u.uploadId }));
        }
      }
      for (const name of await objects(prefix)) await raw.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: prefix + name }));
    };

    const freshPrefix = () => `t-${newId().slice(0, 12)}/`;

    blobStoreContract(`s3 on ${backend.name}`, async () => {
      const prefix = freshPrefix();
      return {
        store: await open(prefix),
        cleanup: () => wipe(prefix),
        // The restarted process runs long after the crash: its clock is past the leftover age.
        reopen: () => open(prefix, { now: () => Date.now() + 2 * HOUR }),
      };
    });

    test(`${backend.name}: layout: a marker while writing, blobs/ and leaves/ after commit`, async () => {
      const prefix = freshPrefix();
      const store = await openTracked(prefix);
      try {
        const seed = 11;
        const data = bytes(2 * PART + 3 * MIB + 5, seed);
        const w = await store.create();
        assert.deepEqual(await objects(prefix), [`pending/${w.key}`]);
        await pipeline(Readable.from([data.subarray(0, 2 * PART + MIB)]), w.stream, { end: false });
        await writeSome(w.stream, data.subarray(2 * PART + MIB));
        await new Promise<void>((resolve) => w.stream.end(resolve));
        assert.deepEqual(await objects(prefix), [`pending/${w.key}`], 'the parts are not an object before commit');
        if (backend.multipartAdmin) assert.deepEqual((await uploads(prefix)).map((u) => u.key), [`blobs/${w.key}`]);
        await w.commit(leavesOf(data));
        assert.deepEqual(await objects(prefix), [`blobs/${w.key}`, `leaves/${w.key}`]);
        if (backend.multipartAdmin) assert.deepEqual(await uploads(prefix), []);

        const got = await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}blobs/${w.key}` }));
        assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data));
        const leaves = await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}leaves/${w.key}` }));
        assert.ok(Buffer.from(await leaves.Body!.transformToByteArray()).equals(leavesOf(data)));
        assert.equal(leaves.Metadata?.['blob-size'], String(data.length));

        // A small blob is one PUT at commit: nothing but the marker before.
        const small = await store.create();
        await pipeline(Readable.from([data.subarray(0, 1000)]), small.stream);
        assert.ok(!(await objects(prefix)).includes(`blobs/${small.key}`));
        await small.commit(leavesOf(data.subarray(0, 1000)));
        assert.ok((await readAll(store.read(small.key))).equals(data.subarray(0, 1000)));
        assert.equal((await objects(prefix)).length, 4);
      } finally {
        await wipe(prefix);
      }
    });

    test(`${backend.name}: removeLeftovers keeps young leftovers and removes old ones, never a live writer`, async () => {
      const prefix = freshPrefix();
      const store = await openTracked(prefix);
      const put = (name: string, body: Buffer = Buffer.alloc(0)) =>
        raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: prefix + name, Body: body, ContentLength: body.length }));
      try {
        const kept = await writeBlob(store, bytes(3000, 1));
        // A writer that streamed three parts and died before commit (its upload is open).
        const crashed = await store.create();
        await pipeline(Readable.from([bytes(2 * PART + 7, 2)]), crashed.stream);
        // A writer that died with its bytes still in memory: only its marker exists.
        const dropped = await store.create();
        await writeSome(dropped.stream, bytes(1000, 3));
        // A commit cut between the data object and the leaves object.
        const halfCommitted = newId();
        await put(`blobs/${halfCommitted}`, bytes(500, 4));
        await put(`pending/${halfCommitted}`);
        // A delete cut between the leaves and the data object (no marker).
        const halfDeleted = await writeBlob(store, bytes(600, 5));
        await raw.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${prefix}leaves/${halfDeleted}` }));
        // A commit whose final marker delete failed: the blob stays, the marker goes.
        const committedWithMarker = await writeBlob(store, bytes(700, 6));
        await put(`pending/${committedWithMarker}`);
        // An upload with no marker at all (a crash between an abort's steps).
        let unmarkedUpload = '';
        if (backend.multipartAdmin) {
          unmarkedUpload = newId();
          await raw.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${prefix}blobs/${unmarkedUpload}` }));
        }
        // Objects that are not ours are never touched.
        await put('blobs/README', Buffer.from('not a blob'));
        const before = await objects(prefix);

        assert.equal(await store.removeLeftovers(), 0, 'all of it is young: another node may still be writing');
        assert.deepEqual(await objects(prefix), before);
        if (backend.multipartAdmin) assert.equal((await uploads(prefix)).length, 2);

        // Two hours later (the default age is one), on another node with a live writer of its own.
        const later = await openTracked(prefix, { now: () => Date.now() + 2 * HOUR });
        const live = await later.create();
        await writeSome(live.stream, bytes(PART + 10, 7));
        const expected = 5 + (backend.multipartAdmin ? 1 : 0);
        assert.equal(await later.removeLeftovers(), expected);
        assert.deepEqual(await objects(prefix), [
          'blobs/README',
          `blobs/${committedWithMarker}`, `blobs/${kept}`,
          `leaves/${committedWithMarker}`, `leaves/${kept}`,
          `pending/${live.key}`,
        ].sort());
        if (backend.multipartAdmin) {
          assert.deepEqual((await uploads(prefix)).map((u) => u.key), [`blobs/${live.key}`], "only the live writer's upload is left");
        }
        assert.equal(await later.removeLeftovers(), 0);
        assert.deepEqual((await collect(later.keys())).sort(), [committedWithMarker, kept].sort());
        assert.equal(await later.size(kept), 3000);
        assert.equal(await later.size(halfDeleted), null);

        // The live writer was left alone and still commits.
        const rest = bytes(PART + 10, 7);
        await new Promise<void>((resolve) => live.stream.end(resolve));
        await live.commit(leavesOf(rest));
        assert.ok((await readAll(later.read(live.key))).equals(rest));

        // The crashed writers' handles still release cleanly (their uploads are gone).
        await crashed.abort();
        await dropped.abort();
      } finally {
        await wipe(prefix);
      }
    });

    test(`${backend.name}: a live writer keeps its marker young (heartbeat); commit ends it`, async () => {
      const prefix = freshPrefix();
      // leftoverAgeMs 4 s: a heartbeat every second (the default age is an hour).
      const store = await openTracked(prefix, { leftoverAgeMs: 4000 });
      const markerTime = async (key: string): Promise<number> =>
        (await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${prefix}pending/${key}` }))).LastModified!.getTime();
      try {
        const w = await store.create();
        const first = await markerTime(w.key);
        // Wait (bounded) for a beat to land: timestamps have one-second resolution.
        let later = first;
        for (let i = 0; i < 100 && later === first; i++) {
          await new Promise((r) => setTimeout(r, 200));
          later = await markerTime(w.key);
        }
        assert.ok(later > first, 'the marker was re-put while the writer lived');
        const data = bytes(1000, 1);
        await pipeline(Readable.from([data]), w.stream);
        await w.commit(leavesOf(data));
        assert.deepEqual(await objects(prefix), [`blobs/${w.key}`, `leaves/${w.key}`]);
      } finally {
        await wipe(prefix);
      }
    });

    test(`${backend.name}: abort leaves nothing, mid-stream, after the end, and after a failed commit`, async () => {
      const prefix = freshPrefix();
      const store = await openTracked(prefix, { queueSize: 2 });
      try {
        const mid = await store.create();
        await writeSome(mid.stream, bytes(3 * PART, 1)); // parts in flight while aborting
        await mid.abort();

        const ended = await store.create();
        await pipeline(Readable.from([bytes(2 * PART + 1, 2)]), ended.stream);
        await ended.abort();

        const data = bytes(2 * PART + 1, 3);
        const badLeaves = await store.create();
        await pipeline(Readable.from([data]), badLeaves.stream);
        await assert.rejects(badLeaves.commit(leavesOf(data).subarray(16)), /leaf/);
        await badLeaves.abort();

        const notEnded = await store.create();
        notEnded.stream.write(bytes(100, 4));
        await assert.rejects(notEnded.commit(leavesOf(bytes(100, 4))), /ended/);
        await notEnded.abort();

        for (const w of [mid, ended, badLeaves, notEnded]) assert.equal(await store.size(w.key), null);
        assert.deepEqual(await objects(prefix), []);
        if (backend.multipartAdmin) assert.deepEqual(await uploads(prefix), []);
        assert.equal(await store.removeLeftovers(), 0);
        assert.deepEqual(await collect(store.keys()), []);
      } finally {
        await wipe(prefix);
      }
    });

    test(`${backend.name}: a 105 MiB blob streams with bounded buffering and reads back by ranges across parts`, async (t) => {
      const prefix = freshPrefix();
      const queueSize = 2;
      const proxy = await startCountingProxy(server.endpoint);
      const store = await openTracked(prefix, { queueSize, endpoint: proxy.endpoint });
      const seed = 42;
      const size = 105 * MIB + 12_345;
      try {
        const leaves: Buffer[] = [];
        const md5 = createHash('md5');
        let pulled = 0;
        async function* source(): AsyncGenerator<Buffer> {
          for (let i = 0; i * MIB < size; i++) {
            const chunk = chunkOf(i, seed).subarray(0, Math.min(MIB, size - i * MIB));
            leaves.push(createHash('md5').update(chunk).digest());
            md5.update(chunk);
            for (let off = 0; off < chunk.length; off += 256 * 1024) {
              const piece = chunk.subarray(off, off + 256 * 1024);
              pulled += piece.length;
              yield piece;
            }
          }
        }
        const w = await store.create();
        // The service stops taking bytes as soon as the first part is on its way: the
        // writer may then hold queueSize parts in flight plus the one it is filling.
        proxy.pauseOn = 'partNumber=1';
        const written = pipeline(source(), w.stream);
        // The first part request goes out once its upload exists (bounded wait).
        for (let i = 0; i < 600 && !proxy.paused; i++) await new Promise((r) => setTimeout(r, 50));
        assert.ok(proxy.paused, 'the first part request went out');
        const held = await settled(() => pulled);
        const bound = (queueSize + 1) * PART + 2 * MIB;
        assert.ok(held <= bound, `the writer took ${(held / MIB).toFixed(2)} MiB while the service took nothing; bound ${(bound / MIB).toFixed(2)} MiB`);
        assert.ok(held > queueSize * PART, `only ${(held / MIB).toFixed(2)} MiB taken: parts were not sent ${queueSize} at a time`);
        t.diagnostic(`accepted while the service took nothing: ${(held / MIB).toFixed(2)} MiB (bound ${(bound / MIB).toFixed(2)} MiB)`);
        proxy.resume();
        await written;
        await w.commit(Buffer.concat(leaves));
        assert.equal(await store.size(w.key), size);

        // Reading: stop consuming after 5 MiB; the store must not run ahead of its consumer.
        const reader = store.read(w.key);
        const downBefore = proxy.down;
        let consumed = 0;
        const readMd5 = createHash('md5');
        await new Promise<void>((resolve, reject) => {
          const onData = (c: Buffer) => {
            readMd5.update(c);
            consumed += c.length;
            if (consumed >= 5 * MIB) {
              reader.pause();
              reader.off('data', onData);
              resolve();
            }
          };
          reader.on('data', onData);
          reader.once('error', reject);
        });
        const delivered = (await settled(() => proxy.down)) - downBefore;
        // What the proxy delivered but the consumer has not taken sits in this stream's
        // buffer (2 MiB) and in the kernel's socket buffers of the two loopback hops.
        assert.ok(delivered - consumed < 40 * MIB, `the read ran ${((delivered - consumed) / MIB).toFixed(2)} MiB ahead of its consumer`);
        t.diagnostic(`read-ahead of a stalled consumer: ${((delivered - consumed) / MIB).toFixed(2)} MiB`);
        for await (const c of reader) {
          readMd5.update(c as Buffer);
          consumed += (c as Buffer).length;
        }
        assert.equal(consumed, size);
        assert.equal(readMd5.digest('hex'), md5.digest('hex'));

        // Ranges on, across and far beyond part boundaries.
        for (const [s, e] of [
          [0, 0], [PART - 1, PART], [PART - 3, 2 * PART + 2], [2 * PART, 2 * PART], [7 * PART - 100, 9 * PART + 100],
          [20 * PART - 1, size - 1], [size - 1, size - 1], [MIB + 17, 3 * MIB - 5],
        ] as const) {
          assert.ok((await readAll(store.read(w.key, s, e))).equals(expectedRange(s, e, seed)), `${s}-${e}`);
        }
        assert.ok((await store.readLeaves(w.key, 50, 3)).equals(Buffer.concat(leaves.slice(50, 53))));
        assert.ok((await store.readLeaves(w.key)).equals(Buffer.concat(leaves)));
      } finally {
        proxy.resume();
        await wipe(prefix);
        await proxy.stop();
      }
    });

    test(`${backend.name}: a read cut or stalled midway fails instead of ending short or hanging`, async () => {
      const prefix = freshPrefix();
      const faults = await startFaultProxy(server.endpoint);
      const store = await openTracked(prefix, { endpoint: faults.endpoint });
      try {
        const data = bytes(3 * MIB, 5);
        const key = await writeBlob(store, data);
        faults.rule = ({ method }) => (method === 'GET' ? 'cut-body' : 'pass');
        await assert.rejects(readAll(store.read(key)));
        await assert.rejects(readAll(store.read(key, MIB, 3 * MIB - 1)));
        faults.rule = () => 'pass';
        assert.ok((await readAll(store.read(key, 10, 20))).equals(data.subarray(10, 21)));

        // A body that stalls fails after requestTimeoutMs; a consumer that pauses longer
        // than that is not a stall.
        const impatient = await openTracked(prefix, { endpoint: faults.endpoint, requestTimeoutMs: 1500 });
        faults.rule = ({ method }) => (method === 'GET' ? 'stall-body' : 'pass');
        await assert.rejects(readAll(impatient.read(key)), /no bytes from the service/);
        faults.rule = () => 'pass';
        const slow = impatient.read(key);
        const chunks: Buffer[] = [];
        await new Promise<void>((resolve, reject) => {
          slow.once('data', (c: Buffer) => { chunks.push(c); slow.pause(); resolve(); });
          slow.once('error', reject);
        });
        await new Promise((r) => setTimeout(r, 2500));
        for await (const c of slow) chunks.push(c as Buffer);
        assert.ok(Buffer.concat(chunks).equals(data));
      } finally {
        await wipe(prefix);
        await faults.stop();
      }
    });

    if (backend.checksPayload) {
      test(`${backend.name}: bytes corrupted on the way are refused, and the write leaves nothing`, async () => {
        const prefix = freshPrefix();
        const faults = await startFaultProxy(server.endpoint);
        const store = await openTracked(prefix, { endpoint: faults.endpoint, queueSize: 2 });
        try {
          for (const size of [2 * PART + 1, 1000]) {
            // Every upload of data bytes (parts, or the single PUT) gets one byte flipped.
            faults.rule = ({ method, url }) => (method === 'PUT' && url.includes('/blobs/') ? 'corrupt-request' : 'pass');
            const data = bytes(size, 8);
            const w = await store.create();
            await assert.rejects((async () => {
              await pipeline(Readable.from([data]), w.stream);
              await w.commit(leavesOf(data));
            })(), (err: Error) => /sha256|digest/i.test(`${err.name} ${err.message}`));
            await w.abort();
            faults.rule = () => 'pass';
            assert.deepEqual(await objects(prefix), [], `size ${size}`);
            assert.deepEqual(await uploads(prefix), []);
          }
        } finally {
          await wipe(prefix);
          await faults.stop();
        }
      });
    }

    test(`${backend.name}: concurrent writers on two nodes get distinct keys and intact blobs`, async () => {
      const prefix = freshPrefix();
      const a = await openTracked(prefix, { queueSize: 2 });
      const b = await openTracked(prefix, { queueSize: 2 });
      try {
        const sizes = [2 * PART + 3, PART, 7, 0, PART + MIB + 1, 3 * PART - 1];
        const written = await Promise.all(sizes.map(async (size, i) => {
          const store = i % 2 === 0 ? a : b;
          const data = bytes(size, 100 + i);
          const w = await store.create();
          // Interleave with the others: yield to the event loop between chunks.
          async function* slow(): AsyncGenerator<Buffer> {
            for (let off = 0; off < data.length; off += 512 * 1024) {
              await new Promise((r) => setImmediate(r));
              yield data.subarray(off, off + 512 * 1024);
            }
          }
          await pipeline(slow(), w.stream);
          await w.commit(leavesOf(data));
          return { key: w.key, data };
        }));
        assert.equal(new Set(written.map((x) => x.key)).size, sizes.length);
        for (const [i, { key, data }] of written.entries()) {
          const reader = i % 2 === 0 ? b : a; // the other node reads it
          assert.equal(await reader.size(key), data.length);
          assert.ok((await readAll(reader.read(key))).equals(data), `blob ${i}`);
          assert.ok((await reader.readLeaves(key)).equals(leavesOf(data)));
        }
        assert.deepEqual((await collect(a.keys())).sort(), written.map((x) => x.key).sort());
        assert.equal(await b.removeLeftovers(), 0);
      } finally {
        await wipe(prefix);
      }
    });

    test(`${backend.name}: missing blobs, empty blobs, reads past the end, reads cut short`, async () => {
      const prefix = freshPrefix();
      const store = await openTracked(prefix);
      try {
        const missing = newId();
        await assert.rejects(readAll(store.read(missing)), (err: unknown) => err instanceof BlobNotFoundError && err.key === missing);
        await assert.rejects(store.readLeaves(missing), BlobNotFoundError);
        await assert.rejects(store.readLeaves(missing, 0, 0), BlobNotFoundError);
        await store.delete(missing);

        const empty = await writeBlob(store, Buffer.alloc(0));
        assert.equal(await store.size(empty), 0);
        assert.equal((await readAll(store.read(empty))).length, 0);
        assert.equal((await readAll(store.read(empty, 0, 10))).length, 0);
        assert.equal((await store.readLeaves(empty)).length, 0);
        assert.equal((await store.readLeaves(empty, 0, 0)).length, 0);
        await assert.rejects(store.readLeaves(empty, 0, 1), RangeError);

        const data = bytes(3 * MIB, 9);
        const key = await writeBlob(store, data);
        assert.equal((await readAll(store.read(key, data.length))).length, 0, 'from the end: empty');
        assert.equal((await readAll(store.read(key, data.length + 5))).length, 0);
        assert.ok((await readAll(store.read(key, 10, data.length + 100))).equals(data.subarray(10)), 'end clipped to the size');
        assert.equal((await store.readLeaves(key, 3)).length, 0, 'the rest after the last leaf');
        await assert.rejects(store.readLeaves(key, 4), RangeError);
        await assert.rejects(store.readLeaves(key, 4, 0), RangeError);

        // A reader that stops early releases its connection; the store keeps working.
        for (let i = 0; i < 5; i++) {
          const stream = store.read(key);
          await new Promise<void>((resolve, reject) => {
            stream.once('data', () => { stream.destroy(); resolve(); });
            stream.once('error', reject);
          });
        }
        const never = store.read(key);
        never.destroy(); // never read: no request at all
        assert.ok((await readAll(store.read(key, MIB, 2 * MIB - 1))).equals(data.subarray(MIB, 2 * MIB)));
      } finally {
        await wipe(prefix);
      }
    });

    test(`${backend.name}: opening checks the bucket and the options`, async () => {
      await assert.rejects(open('x/', { bucket: 'no-such-bucket-' + newId().toLowerCase().slice(0, 8) }), /does not exist/);
      await assert.rejects(open('x/', { partSize: MIB }), RangeError);
      await assert.rejects(open('x/', { queueSize: 0 }), RangeError);
      await assert.rejects(open('x/', { accessKeyId: 'only-one', secretAccessKey: undefined }), /both/);
      // A prefix without the slash gets one.
      const prefix = `p-${newId().slice(0, 8)}`;
      const store = await openTracked(prefix);
      try {
        const key = await writeBlob(store, Buffer.from('hello'));
        assert.deepEqual(await objects(prefix + '/'), [`blobs/${key}`, `leaves/${key}`]);
      } finally {
        await wipe(prefix + '/');
      }
    });
  });
}

// The test helper, not the product: the S3 blob store puts and deletes its pending markers
// side by side, and s3rver must take that as S3 does (see keepDirectoriesOnDelete).
test('s3rver (test helper): a PUT and a DELETE in one directory at once both succeed, and nothing crashes', async () => {
  const s3 = await startS3rver();
  const client = testS3Client(s3);
  try {
    await s3.createBucket(BUCKET);
    for (let i = 0; i < 50; i++) {
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `p/pending/a${i}`, Body: '' }));
      await Promise.all([
        client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `p/pending/a${i}` })),
        client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `p/pending/b${i}`, Body: '' })),
      ]);
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `p/pending/b${i}` }));
    }
    assert.equal((await client.send(new ListObjectsV2Command({ Bucket: BUCKET }))).KeyCount, 0);
  } finally {
    client.destroy();
    await s3.stop();
  }
});
