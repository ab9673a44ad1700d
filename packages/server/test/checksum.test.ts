// Upload verification hashing (the leaf families beside a content MD5, as the verifying
// writer uses them, through stream-digester.ts): large streams hash their MD5 and SHA-256
// leaves on the sdk's worker pool, small ones on their own thread; every path gives the
// same digests, concurrent streams all use the pool, everything held is freed, and the
// workers do not outlive the last server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ChecksumHasher, hashBuffer, leafWorkerStats } from '@oas/sdk';
import { MD5_LEAVES, SHA256_LEAVES } from '../src/store/blob/leaf-families.js';
import { StreamDigester } from '../src/store/blob/stream-digester.js';
import { startServer } from './helpers/server.js';
import { assertError } from './helpers/assert.js';

const MIB = 1048576;

interface StreamDigest {
  /** Upper-case hex MD5 of all bytes. */
  etag: string;
  /** Upper-case hex tree etag ('' for no bytes). */
  treeEtag: string;
  size: number;
  /** The raw 16-byte MD5 of every 1 MiB leaf, concatenated (what BlobWriter.commit takes). */
  leaves: Buffer;
}

interface StreamHasher {
  update(chunk: Buffer): void;
  digest(): Promise<StreamDigest>;
  /** Abandons the hash (aborted upload); frees whatever it holds. */
  destroy(): void;
}

/** A hasher for `expectedSize` bytes (unknown: assume small); the results are the same on every path. */
function createStreamHasher(expectedSize = 0): StreamHasher {
  const content = createHash('md5');
  const leaves = new StreamDigester([MD5_LEAVES, SHA256_LEAVES], expectedSize, true);
  const sha256: Buffer[] = [];
  let size = 0;
  return {
    update(chunk) {
      content.update(chunk);
      leaves.update(chunk);
      for (let at = 0; at < chunk.length;) { // the SHA-256 reference, leaf by leaf
        const leaf = Math.floor(size / MIB);
        const take = Math.min(chunk.length - at, (leaf + 1) * MIB - size);
        (sha256[leaf] ??= Buffer.alloc(0));
        sha256[leaf] = Buffer.concat([sha256[leaf], chunk.subarray(at, at + take)]);
        at += take;
        size += take;
      }
    },
    async digest() {
      const { leaves: digests, etag } = await leaves.digest();
      const want = Buffer.concat(sha256.map((leaf) => createHash('sha256').update(leaf).digest()));
      assert.ok(digests.sha256!.equals(want), 'SHA-256 leaves equal node:crypto');
      assert.equal(etag, content.digest('hex').toUpperCase(), 'the content MD5 (on a worker for large data) equals node:crypto');
      return { etag: etag!, treeEtag: MD5_LEAVES.tree(digests.md5!), size, leaves: digests.md5! };
    },
    destroy() {
      leaves.destroy();
    },
  };
}

/** The reference: the single-threaded hasher with its leaves collected. */
function reference(data: Buffer) {
  const leaves: Buffer[] = [];
  const digest = new ChecksumHasher((leaf) => leaves.push(leaf)).update(data).digest();
  return { ...digest, leaves: Buffer.concat(leaves) };
}

/** Feeds `data` in uneven chunks (as a socket delivers it). */
function feed(hasher: ReturnType<typeof createStreamHasher>, data: Buffer): void {
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = [65536, 1, 3 * MIB + 7, 16384, 777][i % 5]!;
    hasher.update(data.subarray(at, at + n));
    at += n;
  }
}

async function settled(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = leafWorkerStats();
    if (s.inflight === 0 && s.free === s.slots) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`leaf slots not given back: ${JSON.stringify(leafWorkerStats())}`);
}

test('digests equal the single-threaded reference at every size, inline or on the worker', async () => {
  for (const size of [1, MIB, 8 * MIB, 8 * MIB + 1, 20 * MIB + 5]) {
    const data = randomBytes(size);
    const hasher = createStreamHasher(size);
    feed(hasher, data);
    assert.deepEqual(await hasher.digest(), reference(data), `size ${size}`);
  }
  await settled();
});

test('three large streams at once, all on the pool, all correct', async () => {
  const inputs = [randomBytes(17 * MIB + 3), randomBytes(25 * MIB), randomBytes(9 * MIB + 1)];
  const hashers = inputs.map((d) => createStreamHasher(d.length));
  // Interleaved, like concurrent uploads.
  for (let at = 0; at < 25 * MIB; at += MIB) {
    inputs.forEach((d, i) => { if (at < d.length) hashers[i]!.update(d.subarray(at, at + MIB)); });
  }
  const digests = await Promise.all(hashers.map((h) => h.digest()));
  digests.forEach((d, i) => assert.deepEqual(d, reference(inputs[i]!)));
  await settled();
});

test('a destroyed hash gives its slots back and the next large stream hashes on the pool', async () => {
  const first = createStreamHasher(40 * MIB);
  first.update(randomBytes(30 * MIB));
  first.destroy();
  first.destroy(); // twice is harmless
  await settled();
  const data = randomBytes(24 * MIB);
  const next = createStreamHasher(data.length);
  feed(next, data);
  assert.deepEqual(await next.digest(), reference(data));
  await settled();
});

test('server: a large upload is verified and stored, a bad one leaves nothing, and close stops the worker', async () => {
  const s = await startServer();
  try {
    const vault = await s.client.vaultId('hashing');
    const data = randomBytes(20 * MIB + 5);
    const id = await s.client.archiveId(vault, data);
    const job = await s.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: id });
    await s.client.waitJob(vault, job);
    const out = await s.client.get(`/vaults/${vault}/jobs/${job}/output`);
    assert.equal(out.status, 200);
    assert.ok(out.body.equals(data));
    assert.equal(out.headers['x-oas-tree-etag'], hashBuffer(data).treeEtag);

    const bad = await s.client.uploadArchive(vault, data, undefined, { 'x-oas-tree-etag': 'F'.repeat(32) });
    assertError(bad, 400, 'InvalidDigest');
    assert.deepEqual(await readdir(join(s.dataDir, 'blobs', 'tmp')), []);
    assert.equal(leafWorkerStats().running, true, 'the large uploads hashed their leaves on the worker');
  } finally {
    await s.close();
  }
  assert.equal(leafWorkerStats().running, false, 'the leaf worker outlived the last server');
});
