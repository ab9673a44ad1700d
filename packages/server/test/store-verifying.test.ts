// The blob layer's verifying writer and reader on both blob stores (files, S3 on s3rver):
// the writer commits only what matches every expectation and leaves nothing otherwise
// (size too long or too short, wrong etag or tree etag, an abort through its signal), and
// stores any leaf family beside the MD5 leaves; the reader passes on only bytes whose leaf
// matched, for any range, and stops before a bad leaf.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MIB, hashBuffer, leafWorkerStats, treeHash } from '@oas/sdk';
import { openFileBlobStore } from '../src/store/blob/file.js';
import { SHA256_LEAVES, MD5_LEAVES } from '../src/store/blob/leaf-families.js';
import { openS3BlobStore } from '../src/store/blob/s3.js';
import type { BlobStore } from '../src/store/blob/types.js';
import { CorruptDataError, readVerified } from '../src/store/blob/verifying-reader.js';
import { BlobCheckError, writeBlob } from '../src/store/blob/verifying-writer.js';
import { startS3rver } from './helpers/s3rver.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { leavesOf } from './store-contract.js';

interface Opened {
  store: BlobStore;
  close(): Promise<void>;
}

const STORES: { name: string; open(): Promise<Opened> }[] = [
  {
    name: 'file',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'oas-verify-'));
      const store = await openFileBlobStore(dir);
      return { store, close: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
    },
  },
  {
    name: 's3rver',
    async open() {
      const server = await startS3rver();
      await server.createBucket('verify');
      const store = await openS3BlobStore({
        bucket: 'verify', endpoint: server.endpoint, region: server.region, accessKeyId: server.accessKeyId,
        secretAccessKey: server.secretAccessKey, forcePathStyle: true, partSize: 5 * MIB,
      });
      return { store, close: async () => { await store.close(); await server.stop(); } };
    },
  },
];

/** `data` in uneven chunks, as a socket delivers it. */
function source(data: Buffer): Readable {
  const sizes = [65536, 1, 3 * MIB + 7, 16384, 777];
  return Readable.from((function* () {
    for (let at = 0, i = 0; at < data.length; i++) {
      const n = sizes[i % sizes.length]!;
      yield data.subarray(at, at + n);
      at += n;
    }
  })());
}

async function keys(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const k of store.keys()) out.push(k);
  return out.sort();
}

function isPrefix(got: Buffer, of: Buffer): boolean {
  return got.length <= of.length && got.equals(of.subarray(0, got.length));
}

async function readAll(stream: Readable): Promise<{ bytes: Buffer; error: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of stream) chunks.push(c as Buffer);
    return { bytes: Buffer.concat(chunks), error: null };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

for (const backend of STORES) {
  describe(`verifying writer and reader [${backend.name}]`, () => {
    let opened: Opened;
    let store: BlobStore;
    before(async () => {
      opened = await backend.open();
      store = opened.store;
    });
    after(() => opened?.close());

    test('a write matching every expectation is committed with its leaves, content etag and tree etag', async () => {
      const data = pattern(5 * MIB + 123, 3);
      const { etag, treeEtag } = hashBuffer(data);
      const blob = await writeBlob(store, source(data), { expect: { size: data.length, etag, trees: { md5: treeEtag } } });
      assert.equal(blob.size, data.length);
      assert.equal(blob.etag, etag);
      assert.equal(blob.treeEtag, treeEtag);
      assert.ok((await store.readLeaves(blob.key)).equals(leavesOf(data)));
      assert.ok((await readAll(readVerified(store, [{ blobKey: blob.key, size: data.length }], 0, data.length - 1))).bytes.equals(data));
      await store.delete(blob.key);
    });

    test('too long, too short, wrong etag or tree etag: refused, nothing committed', async () => {
      const before = await keys(store);
      const data = pattern(2 * MIB + 9, 4);
      const { etag, treeEtag } = hashBuffer(data);
      const cases: [string, Parameters<typeof writeBlob>[2], string][] = [
        ['too long', { expect: { size: data.length - 1 } }, 'too-long'],
        ['too short', { expect: { size: data.length + 1 } }, 'too-short'],
        ['wrong etag', { expect: { size: data.length, etag: 'A'.repeat(32), trees: { md5: treeEtag } } }, 'etag'],
        ['wrong tree etag', { expect: { size: data.length, etag, trees: { md5: 'B'.repeat(32) } } }, 'tree'],
        ['other leaves', { expect: { md5Leaves: leavesOf(pattern(2 * MIB + 9, 5)) } }, 'leaves'],
      ];
      for (const [what, options, check] of cases) {
        await assert.rejects(writeBlob(store, source(data), options), (err: unknown) => {
          assert.ok(err instanceof BlobCheckError, `${what}: ${String(err)}`);
          assert.equal(err.check, check, what);
          return true;
        });
      }
      // A source that breaks off short of the expected size is incomplete, not a store failure.
      let reads = 0;
      const broken = new Readable({
        read() {
          if (reads++ === 0) this.push(data.subarray(0, MIB));
          else this.destroy(new Error('client went away'));
        },
      });
      await assert.rejects(writeBlob(store, broken, { expect: { size: data.length } }), (err: unknown) =>
        err instanceof BlobCheckError && err.check === 'too-short' && Number(err.actual) <= MIB);
      assert.deepEqual(await keys(store), before);
      assert.equal(await store.removeLeftovers(), 0, 'aborted writes left nothing to sweep');
    });

    test('a large write (hashed on pool slots): exact bytes, MD5 and SHA-256 leaves; failures leave nothing; slots come back', async () => {
      const before = await keys(store);
      const data = pattern(27 * MIB + 5, 11);
      const { etag, treeEtag } = hashBuffer(data);
      const blob = await writeBlob(store, source(data), { expect: { size: data.length, etag, trees: { md5: treeEtag } } });
      assert.equal(blob.treeEtag, treeEtag);
      const shaLeaves = Array.from({ length: Math.ceil(data.length / MIB) }, (_, i) => createHash('sha256').update(data.subarray(i * MIB, (i + 1) * MIB)).digest());
      assert.ok(blob.leaves.sha256?.equals(Buffer.concat(shaLeaves)), 'SHA-256 leaves of the same bytes');
      assert.ok((await store.readLeaves(blob.key)).equals(leavesOf(data)));
      assert.ok((await readAll(readVerified(store, [{ blobKey: blob.key, size: data.length }], 0, data.length - 1))).bytes.equals(data));
      await store.delete(blob.key);

      await assert.rejects(writeBlob(store, source(data), { expect: { size: data.length - 1 } }), (err: unknown) =>
        err instanceof BlobCheckError && err.check === 'too-long');
      await assert.rejects(writeBlob(store, source(data), { expect: { size: data.length, etag, trees: { md5: 'C'.repeat(32) } } }), (err: unknown) =>
        err instanceof BlobCheckError && err.check === 'tree');
      let reads = 0;
      const broken = new Readable({
        read() {
          if (reads++ < 12) this.push(data.subarray((reads - 1) * MIB, reads * MIB));
          else this.destroy(new Error('client went away'));
        },
      });
      await assert.rejects(writeBlob(store, broken, { expect: { size: data.length } }), (err: unknown) =>
        err instanceof BlobCheckError && err.check === 'too-short');
      assert.deepEqual(await keys(store), before);
      assert.equal(await store.removeLeftovers(), 0);
      for (let i = 0; i < 100 && leafWorkerStats().inflight > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      const stats = leafWorkerStats();
      assert.equal(stats.free, stats.slots, 'every pool slot given back');
    });

    test('an abort through the signal stops the write and leaves nothing', async () => {
      const before = await keys(store);
      const controller = new AbortController();
      let sent = 0;
      const endless = new Readable({
        read() {
          sent += MIB;
          if (sent === 3 * MIB) controller.abort(new Error('stop here'));
          this.push(Buffer.alloc(MIB, 7));
        },
      });
      await assert.rejects(writeBlob(store, endless, { signal: controller.signal }), /stop here/);
      assert.deepEqual(await keys(store), before);
      assert.equal(await store.removeLeftovers(), 0);
    });

    test('another leaf family is stored beside the MD5 leaves, read back, and deleted with the blob', async () => {
      const data = pattern(3 * MIB + 1, 6);
      const blob = await writeBlob(store, source(data), { families: [MD5_LEAVES, SHA256_LEAVES] });
      const sha = await store.readLeaves(blob.key, 0, undefined, 'sha256');
      assert.equal(sha.length, 4 * 32);
      assert.ok(sha.equals(await SHA256_LEAVES.hashLeaves([data.subarray(0, 3 * MIB)]).then(async (full) =>
        Buffer.concat([full, await SHA256_LEAVES.hashLeaves([data.subarray(3 * MIB)])]))));
      assert.ok((await store.readLeaves(blob.key, 1, 2, 'sha256')).equals(sha.subarray(32, 96)));
      assert.ok((await store.readLeaves(blob.key)).equals(leavesOf(data)), 'MD5 leaves where they always were');
      assert.equal(blob.trees.sha256, treeHash(data), 'the Glacier tree hash of the data');
      // The reader can check either family.
      const viaSha = await readAll(readVerified(store, [{ blobKey: blob.key, size: data.length }], 5, data.length - 2, { family: SHA256_LEAVES }));
      assert.ok(viaSha.bytes.equals(data.subarray(5, data.length - 1)));
      await store.delete(blob.key);
      await assert.rejects(store.readLeaves(blob.key, 0, undefined, 'sha256'));
      assert.equal(await store.removeLeftovers(), 0);
    });

    test('reader: any range of several segments, aligned or not, comes back exact', async () => {
      const a = pattern(4 * MIB, 7);
      const b = pattern(2 * MIB + 300, 8);
      const ka = (await writeBlob(store, source(a))).key;
      const kb = (await writeBlob(store, source(b))).key;
      const all = Buffer.concat([a, b]);
      const segments = [{ blobKey: ka, size: a.length }, { blobKey: kb, size: b.length }];
      for (const [s, e] of [[0, all.length - 1], [1, 2], [MIB - 1, MIB], [3 * MIB + 5, 4 * MIB + 7], [4 * MIB, all.length - 1], [all.length - 1, all.length - 1]] as const) {
        const leaves: Buffer[] = [];
        const got = await readAll(readVerified(store, segments, s, e, { onLeaf: (d) => leaves.push(Buffer.from(d)) }));
        assert.equal(got.error, null, `${s}-${e}`);
        assert.ok(got.bytes.equals(all.subarray(s, e + 1)), `${s}-${e}`);
        assert.ok(leaves.length >= 1, 'the enclosing leaves were checked');
      }
      await store.delete(ka);
      await store.delete(kb);
    });

    test('reader: stops before a bad leaf, passes on only what was checked, and reports it', async () => {
      // Stored digests that disagree with leaf 2's bytes: what bit rot looks like to a reader.
      const data = pattern(4 * MIB + 10, 9);
      const leaves = Buffer.from(leavesOf(data));
      leaves[2 * 16] = leaves[2 * 16]! ^ 1;
      const writer = await store.create();
      writer.stream.end(data);
      await new Promise((resolve) => writer.stream.once('finish', resolve));
      await writer.commit(leaves);
      const segments = [{ blobKey: writer.key, size: data.length }];
      const seen: CorruptDataError[] = [];
      const onCorrupt = (err: CorruptDataError) => seen.push(err);

      const whole = await readAll(readVerified(store, segments, 0, data.length - 1, { label: 'archive X', onCorrupt }));
      assert.ok(whole.error instanceof CorruptDataError);
      assert.equal(whole.error.start, 2 * MIB);
      assert.equal(whole.error.end, 3 * MIB - 1);
      assert.match(whole.error.message, /bytes 2097152-3145727 of archive X do not match their stored checksum/);
      // Bytes passed on before the failure may still be in flight when it is raised: a
      // consumer sees at most the leaves before the bad one, never a byte of it.
      assert.ok(isPrefix(whole.bytes, data.subarray(0, 2 * MIB)), 'only bytes of the leaves before the bad one');

      // Unaligned: inside the bad leaf nothing goes out; ending before it, all is well.
      const inside = await readAll(readVerified(store, segments, 2 * MIB + 3, 2 * MIB + 100, { onCorrupt }));
      assert.ok(inside.error instanceof CorruptDataError);
      assert.equal(inside.bytes.length, 0);
      const straddling = await readAll(readVerified(store, segments, MIB + 7, 2 * MIB + 1, { onCorrupt }));
      assert.ok(straddling.error instanceof CorruptDataError);
      assert.ok(isPrefix(straddling.bytes, data.subarray(MIB + 7, 2 * MIB)));
      const clean = await readAll(readVerified(store, segments, 3 * MIB + 1, data.length - 1, { onCorrupt }));
      assert.equal(clean.error, null);
      assert.ok(clean.bytes.equals(data.subarray(3 * MIB + 1)));
      assert.equal(seen.length, 3, 'each refused read reported once');
      await store.delete(writer.key);
    });

    test('reader: destroyed half way, it stops reading', async () => {
      const data = pattern(20 * MIB, 10);
      const key = (await writeBlob(store, source(data))).key;
      const stream = readVerified(store, [{ blobKey: key, size: data.length }], 0, data.length - 1);
      let got = 0;
      for await (const chunk of stream) {
        got += (chunk as Buffer).length;
        if (got >= MIB) break; // destroys the stream
      }
      assert.ok(stream.destroyed);
      await store.delete(key);
    });
  });
}
