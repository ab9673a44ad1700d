// Uploads through the high-level layer against the real server, in process over HTTP:
// single and multipart, streams of unknown length, resume, abort, retries.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, open } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MIB, combineTreeEtags, hashBuffer, treeEtag } from '../src/protocol/etag.js';
import { OASError } from '../src/protocol/errors.js';
import { Vault } from '../src/ease/vault.js';
import { callOk } from '../src/ease/call.js';
import { PartMismatchError } from '../src/ease/errors.js';
import type { SeenRequest } from './helpers/fault-proxy.js';
import { startTestServer, KEY_ID, KEY_SECRET, type TestServer } from './helpers/ease-server.js';
import { OASAPI } from '../src/client/api.js';
import { pattern } from './helpers/pattern.js';

const FAST_RETRY = { baseDelayMs: 1, maxDelayMs: 5 };
/** Small parts keep the tests fast: multipart from 1 MiB up. */
const SMALL = { partSize: MIB, singleUploadThreshold: MIB, retry: FAST_RETRY };

/**
 * Starts a multipart upload through a proxy and aborts it when the `abortAtPut`-th PUT goes
 * out (one part at a time): returns the upload id left open on the server and the proxy.
 */
async function interruptedUpload(source: () => Parameters<Vault['uploadArchive']>[0], abortAtPut: number,
  options: { partSize?: number } = {}): Promise<{ uploadId: string; proxy: Awaited<ReturnType<TestServer['proxied']>>['proxy'] }> {
  const controller = new AbortController();
  let uploadId = '';
  let puts = 0;
  const { api, proxy } = await t.proxied((req) => {
    if (req.method === 'PUT' && ++puts === abortAtPut) controller.abort();
    return { kind: 'pass' };
  });
  const v = await Vault.getById(api, vault.id);
  await assert.rejects(v.uploadArchive(source(), { ...SMALL, ...options, concurrency: 1, signal: controller.signal, onUploadId: (id) => { uploadId = id; } }),
    { name: 'AbortError' });
  return { uploadId, proxy };
}

let t: TestServer;
let vault: Vault;
let n = 0;

async function localFile(size: number, offset = 0): Promise<{ path: string; data: Buffer }> {
  const data = pattern(size, offset);
  const path = join(t.dir, `file-${n++}.bin`);
  await writeFile(path, data);
  return { path, data };
}

async function* generate(data: Buffer, chunk = 100_000): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += chunk) {
    await new Promise((resolve) => setImmediate(resolve));
    yield data.subarray(at, Math.min(at + chunk, data.length));
  }
}

async function assertArchive(v: Vault, archiveId: string, data: Buffer): Promise<void> {
  const meta = await v.headArchive(archiveId);
  assert.equal(meta.size, data.length);
  assert.equal(meta.treeEtag, hashBuffer(data).treeEtag);
}

const isPartPut = (uploadId: string) => (r: SeenRequest) => r.url.includes(`/multipart-uploads/${uploadId}`);

before(async () => {
  t = await startTestServer();
  vault = await Vault.create(t.api, 'ease-upload');
});
after(async () => {
  await t.close();
});

describe('single and multipart uploads', () => {
  test('a small file goes up in one request', async () => {
    const { path, data } = await localFile(300_000);
    const seen: number[] = [];
    const result = await vault.uploadArchive(path, { description: 'small one', onProgress: (p) => seen.push(p.done) });
    assert.equal(result.parts, 1);
    assert.equal(result.uploadId, undefined);
    assert.equal(result.size, data.length);
    assert.equal(result.treeEtag, hashBuffer(data).treeEtag);
    assert.equal(seen.at(-1), data.length);
    await assertArchive(vault, result.archiveId, data);
    assert.equal((await vault.headArchive(result.archiveId)).description, 'small one');
  });

  test('a file above the threshold goes up in parallel parts', async () => {
    const { path, data } = await localFile(5 * MIB + 12_345);
    const ids: string[] = [];
    let last = { done: 0, total: null as number | null };
    const result = await vault.uploadArchive(path, { ...SMALL, concurrency: 3, onUploadId: (id) => ids.push(id), onProgress: (p) => { last = p; } });
    assert.equal(result.parts, 6);
    assert.equal(result.uploadId, ids[0]);
    assert.equal(result.treeEtag, hashBuffer(data).treeEtag);
    assert.deepEqual(last, { done: data.length, total: data.length });
    await assertArchive(vault, result.archiveId, data);
    // Completed uploads are no longer listed.
    assert.ok(!(await vault.listUploads()).some((u) => u.id === result.uploadId));
  });

  test('a 64 MiB+ file with the default settings: 64 MiB parts', async () => {
    const { path, data } = await localFile(64 * MIB + 5);
    const result = await vault.uploadArchive(path);
    assert.equal(result.parts, 2);
    assert.ok(result.uploadId);
    await assertArchive(vault, result.archiveId, data);
  });

  test('a zero-byte file is refused before anything is sent', async () => {
    const { path } = await localFile(0);
    await assert.rejects(vault.uploadArchive(path), /zero-byte/);
  });

  test('an explicit part size must be a multiple of 1 MiB from 1 MiB to 4 GiB', async () => {
    const { path } = await localFile(3 * MIB);
    const { api, proxy } = await t.proxied();
    const v = await Vault.getById(api, vault.id);
    for (const bad of [MIB + 1, MIB / 2, 5 * 1024 * MIB]) {
      await assert.rejects(v.uploadArchive(path, { ...SMALL, partSize: bad }), (e: unknown) =>
        e instanceof RangeError && /part size must be a multiple of 1 MiB from 1 MiB to 4 GiB/.test(e.message), String(bad));
    }
    assert.equal(proxy.count('POST'), 0, 'refused before any request');
  });
});

describe('part sizes that are not 1 MiB × 2^k', () => {
  /** The x-oas-tree-etag of each complete request that went through the proxy. */
  const completes = (requests: SeenRequest[]) =>
    requests.filter((r) => r.method === 'POST' && /\/multipart-uploads\/[0-9A-F]{32}$/.test(r.url)).map((r) => String(r.headers['x-oas-tree-etag']));

  test('3 MiB parts from a file: complete carries the combined part tree etags, the result is the archive\'s tree etag', async () => {
    // The example of protocol.md §3.4: 10 MiB + 7 in 3 MiB parts.
    const { path, data } = await localFile(10 * MIB + 7);
    const { api, proxy } = await t.proxied();
    const v = await Vault.getById(api, vault.id);
    const result = await v.uploadArchive(path, { ...SMALL, partSize: 3 * MIB, concurrency: 3 });
    assert.equal(result.parts, 4);
    assert.deepEqual(completes(proxy.requests), ['22A6C28BB2DB230C9A96FA49A21B68E9']);
    assert.equal(result.treeEtag, 'CF0DA8B83FD87A5261D1B4B1E0D43BDF');
    assert.equal(result.treeEtag, hashBuffer(data).treeEtag);
    await assertArchive(vault, result.archiveId, data);
    // Range retrieval and verified download work as for any archive.
    const job = await (await vault.retrieveArchive(result.archiveId)).wait({ pollInterval: 20 });
    assert.equal(job.treeEtag, result.treeEtag);
  });

  test('5 MiB parts from a stream of unknown length', async () => {
    const data = pattern(23 * MIB + 3, 2);
    const result = await vault.uploadArchive(Readable.from(generate(data, 300_000)), { ...SMALL, partSize: 5 * MIB });
    assert.equal(result.parts, 5);
    assert.equal(result.treeEtag, hashBuffer(data).treeEtag);
    await assertArchive(vault, result.archiveId, data);
  });

  test('resume of a 3 MiB-part upload checks and folds the parts already there; complete alone asks the server', async () => {
    const { path, data } = await localFile(13 * MIB + 1, 7);
    const { uploadId } = await interruptedUpload(() => path, 3, { partSize: 3 * MIB });
    const result = await vault.uploadArchive(path, { ...SMALL, partSize: 3 * MIB, uploadId });
    assert.ok(result.partsReused && result.partsReused >= 2, `reused ${result.partsReused}`);
    assert.equal(result.treeEtag, treeEtag(data));
    await assertArchive(vault, result.archiveId, data);

    // Parts put by hand, then only complete() through an Uploader that hashed nothing.
    const byHand = await vault.initiateUploader({ partSize: 3 * MIB });
    const partEtags: string[] = [];
    for (let start = 0; start < data.length; start += 3 * MIB) {
      const part = data.subarray(start, Math.min(start + 3 * MIB, data.length));
      const sums = hashBuffer(part);
      partEtags.push(sums.treeEtag);
      (await callOk(t.api.postMultipart(vault.id, byHand.id, part, `${start}-${start + part.length - 1}`, sums.etag, sums.treeEtag))).dispose();
    }
    const counting = await t.proxied();
    const recovered = await (await Vault.getById(counting.api, vault.id)).recoverUploader(byHand.id);
    const done = await recovered.complete(data.length);
    assert.deepEqual(completes(counting.proxy.requests), [combineTreeEtags(partEtags)]);
    assert.notEqual(combineTreeEtags(partEtags), treeEtag(data));
    assert.equal(done.treeEtag, treeEtag(data));
    assert.equal(counting.proxy.count('GET', (r) => r.url.includes(`/archives/${done.archiveId}`)), 1);
  });
});

/**
 * A proxy that holds every PUT until `gate` of them are waiting at once, then lets them
 * all through (and everything after). It only opens if the client really sends `gate`
 * parts in parallel (otherwise the upload stalls and the test's timeout reports it);
 * `onFull` runs at that moment, while the uploader can do nothing else.
 */
async function startGateProxy(port: number, gate: number, onFull: () => void): Promise<{ port: number; close(): Promise<void> }> {
  const held: Array<() => void> = [];
  let open = false;
  const agent = new http.Agent({ keepAlive: false });
  const server = http.createServer((req, res) => {
    const forward = (): void => {
      const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (open || req.method !== 'PUT') return forward();
    held.push(forward);
    if (held.length === gate) {
      onFull();
      open = true;
      for (const go of held) go();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

describe('parallelism and memory', () => {
  test('parts go up `concurrency` at a time, and a stream is read no further ahead than part size × concurrency', { timeout: 120_000 }, async () => {
    const data = pattern(12 * MIB + 5, 8);
    const chunk = 64 * 1024;
    let read = 0;
    async function* counting(): AsyncGenerator<Uint8Array> {
      for await (const c of generate(data, chunk)) {
        read += c.length;
        yield c;
      }
    }
    let readWhenFull = -1;
    const gate = await startGateProxy(t.server.port, 4, () => { readWhenFull = read; });
    const api = new OASAPI('127.0.0.1', KEY_ID, KEY_SECRET, { port: gate.port });
    try {
      const v = await Vault.getById(api, vault.id);
      const result = await v.uploadArchive(counting(), { partSize: 2 * MIB, singleUploadThreshold: MIB, concurrency: 4, retry: FAST_RETRY });
      // Four parts were in flight together (the gate opened), and at that moment the
      // stream had been read only into the four part buffers.
      assert.ok(readWhenFull >= 4 * 2 * MIB, `read ${readWhenFull}`);
      assert.ok(readWhenFull <= 4 * 2 * MIB + chunk, `read ahead: ${readWhenFull} bytes with 4 parts of 2 MiB in flight`);
      assert.equal(result.parts, 7);
      await assertArchive(vault, result.archiveId, data);
    } finally {
      api.close();
      await gate.close();
    }
  });

  test('a file sent in one request is read through a few reused buffers, not buffer after buffer', async () => {
    const { path, data } = await localFile(6 * MIB + 777);
    const buffers = new Set<ArrayBufferLike>();
    let bytes = 0;
    // The real client, with the body it is handed observed on its way to the socket.
    class Watching extends OASAPI {
      override postArchiveFromReader(...[vaultId, reader, ...rest]: Parameters<OASAPI['postArchiveFromReader']>) {
        async function* watched(): AsyncGenerator<Uint8Array> {
          for await (const chunk of reader as AsyncIterable<Uint8Array>) {
            buffers.add(chunk.buffer);
            bytes += chunk.byteLength;
            yield chunk;
          }
        }
        return super.postArchiveFromReader(vaultId, watched(), ...rest);
      }
    }
    const api = new Watching('127.0.0.1', KEY_ID, KEY_SECRET, { port: t.server.port });
    try {
      const result = await (await Vault.getById(api, vault.id)).uploadArchive(path, { singleUploadThreshold: 8 * MIB });
      assert.equal(result.parts, 1);
      assert.equal(bytes, data.length);
      assert.ok(buffers.size <= 3, `${buffers.size} distinct buffers for ${data.length} bytes`);
      await assertArchive(vault, result.archiveId, data);
    } finally {
      api.close();
    }
  });

  test('a sender reads all its parts through the same three buffers; a retried part gets new ones', async () => {
    const { path, data } = await localFile(4 * MIB);
    let puts = 0;
    const { proxy } = await t.proxied((req) => (req.method === 'PUT' && ++puts === 2 ? { kind: 'reset' } : { kind: 'pass' }));
    const perRequest: Set<ArrayBufferLike>[] = [];
    // The real client, with each part request's body observed on its way to the socket.
    class Watching extends OASAPI {
      override postMultipartFromReader(...[vaultId, uploadId, reader, ...rest]: Parameters<OASAPI['postMultipartFromReader']>) {
        const seen = new Set<ArrayBufferLike>();
        perRequest.push(seen);
        async function* watched(): AsyncGenerator<Uint8Array> {
          for await (const chunk of reader as AsyncIterable<Uint8Array>) {
            seen.add(chunk.buffer);
            yield chunk;
          }
        }
        return super.postMultipartFromReader(vaultId, uploadId, watched(), ...rest);
      }
    }
    const api = new Watching('127.0.0.1', KEY_ID, KEY_SECRET, { port: proxy.port });
    try {
      const result = await (await Vault.getById(api, vault.id)).uploadArchive(path, { ...SMALL, concurrency: 1 });
      assert.equal(result.parts, 4);
      await assertArchive(vault, result.archiveId, data);
      assert.equal(perRequest.length, 5); // 4 parts, the second one twice
      const [first, failed, retried, ...rest] = perRequest as [Set<ArrayBufferLike>, Set<ArrayBufferLike>, Set<ArrayBufferLike>, ...Set<ArrayBufferLike>[]];
      const same = (a: Set<ArrayBufferLike>, b: Set<ArrayBufferLike>): boolean => a.size === b.size && [...a].every((x) => b.has(x));
      assert.equal(first.size, 3);
      assert.ok(same(failed, first), 'the part after a sent one reuses its buffers');
      assert.ok([...retried].every((b) => !first.has(b)), 'a retry after a failure may not reuse buffers a read may still land in');
      for (const later of rest) assert.ok(same(later, retried));
    } finally {
      api.close();
    }
  });

  test('file parts go up in parallel too (default concurrency 4)', { timeout: 120_000 }, async () => {
    const { path, data } = await localFile(9 * MIB);
    let full = false;
    const gate = await startGateProxy(t.server.port, 4, () => { full = true; });
    const api = new OASAPI('127.0.0.1', KEY_ID, KEY_SECRET, { port: gate.port });
    try {
      const result = await (await Vault.getById(api, vault.id)).uploadArchive(path, SMALL);
      assert.equal(full, true);
      assert.equal(result.parts, 9);
      await assertArchive(vault, result.archiveId, data);
    } finally {
      api.close();
      await gate.close();
    }
  });
});

describe('streams', () => {
  test('a stream of unknown length that ends below the threshold: one request', async () => {
    const data = pattern(700_000, 3);
    const result = await vault.uploadArchive(Readable.from(generate(data)), { singleUploadThreshold: MIB });
    assert.equal(result.parts, 1);
    await assertArchive(vault, result.archiveId, data);
  });

  test('a stream of unknown length above the threshold (stdin-like): multipart', async () => {
    const data = pattern(3 * MIB + 777, 9);
    const progress: Array<number | null> = [];
    const result = await vault.uploadArchive(Readable.from(generate(data)), { ...SMALL, onProgress: (p) => progress.push(p.total) });
    assert.equal(result.parts, 4);
    assert.equal(result.size, data.length);
    assert.equal(progress[0], null); // the total is unknown while reading
    await assertArchive(vault, result.archiveId, data);
  });

  test('a plain async iterable with a known size', async () => {
    const data = pattern(2 * MIB + 1, 1);
    const result = await vault.uploadArchive(generate(data, 65_536), { ...SMALL, size: data.length });
    assert.equal(result.parts, 3);
    await assertArchive(vault, result.archiveId, data);
    await assert.rejects(vault.uploadArchive(generate(data), { ...SMALL, size: data.length + 1 }), /not the .* given/);
  });
});

describe('abort and resume', () => {
  test('abort mid-upload rejects with AbortError and completes nothing; resume sends only the missing parts', async () => {
    const { path, data } = await localFile(6 * MIB + 100);
    const { uploadId, proxy } = await interruptedUpload(() => path, 4);
    assert.ok(uploadId);
    // Nothing completed: no complete request went out and the upload is still open.
    assert.equal(proxy.count('POST', (r) => r.url.endsWith(`/multipart-uploads/${uploadId}`)), 0);
    assert.ok((await vault.listUploads()).some((u) => u.id === uploadId));

    const uploader = await vault.recoverUploader(uploadId);
    const already = uploader.uploadedParts.length;
    assert.ok(already >= 3 && already < 7, `parts on the server: ${already}`);
    assert.equal(uploader.partSize, MIB);

    const counting = await t.proxied();
    const again = await Vault.getById(counting.api, vault.id);
    const result = await again.uploadArchive(path, { ...SMALL, uploadId });
    assert.equal(counting.proxy.count('PUT', isPartPut(uploadId)), 7 - already);
    assert.equal(result.partsReused, already);
    assert.equal(result.parts, 7);
    assert.equal(result.uploadId, uploadId);
    await assertArchive(vault, result.archiveId, data);
  });

  test('resume through recoverUploader(...).resume(path)', async () => {
    const { path, data } = await localFile(4 * MIB);
    const controller = new AbortController();
    let uploadId = '';
    const { api } = await t.proxied((req, i) => {
      if (req.method === 'PUT' && i > 0 && !controller.signal.aborted) setImmediate(() => controller.abort());
      return { kind: 'pass' };
    });
    const v = await Vault.getById(api, vault.id);
    await assert.rejects(v.uploadArchive(path, { ...SMALL, concurrency: 1, signal: controller.signal, onUploadId: (id) => { uploadId = id; } }),
      { name: 'AbortError' });
    const uploader = await vault.recoverUploader(uploadId);
    const result = await uploader.resume(path, { retry: FAST_RETRY });
    assert.equal(result.archiveId.length, 32);
    await assertArchive(vault, result.archiveId, data);
  });

  test('a part on the server that differs from the local file is an error naming its range', async () => {
    const { path } = await localFile(4 * MIB);
    const { uploadId } = await interruptedUpload(() => path, 3);
    // Change one byte inside the second part (1 MiB … 2 MiB − 1).
    const fh = await open(path, 'r+');
    await fh.write(Buffer.from([0xee]), 0, 1, MIB + 10);
    await fh.close();
    const error = await vault.uploadArchive(path, { ...SMALL, uploadId }).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof PartMismatchError, String(error));
    assert.match((error as Error).message, /^part 1048576-2097151 on the server does not match the local file/);
  });

  test('a stream can resume an upload too: parts on the server are checked as the stream passes them', async () => {
    const data = pattern(5 * MIB + 99, 4);
    const { uploadId } = await interruptedUpload(() => generate(data), 3);
    const already = (await vault.recoverUploader(uploadId)).uploadedParts.length;
    assert.ok(already >= 2, `parts on the server: ${already}`);
    const counting = await t.proxied();
    const again = await Vault.getById(counting.api, vault.id);
    await assert.rejects(again.uploadArchive(generate(data), { ...SMALL, uploadId, partSize: 2 * MIB }), /not the 2097152 given/);
    const result = await again.uploadArchive(Readable.from(generate(data)), { ...SMALL, uploadId });
    assert.equal(counting.proxy.count('PUT', isPartPut(uploadId)), 6 - already);
    assert.equal(result.partsReused, already);
    await assertArchive(vault, result.archiveId, data);
    // Different bytes in a part the server has: named by range.
    const other = pattern(5 * MIB + 99, 5);
    const fresh = await vault.initiateUploader({ partSize: MIB });
    const part0 = data.subarray(0, MIB);
    const sums = hashBuffer(part0);
    (await callOk(t.api.postMultipart(vault.id, fresh.id, part0, `0-${MIB - 1}`, sums.etag, sums.treeEtag))).dispose();
    await assert.rejects(vault.uploadArchive(generate(other), { ...SMALL, uploadId: fresh.id }),
      (e: unknown) => e instanceof PartMismatchError && /^part 0-1048575 on the server does not match the local file/.test(e.message));
  });

  test('resume checks the file size against the parts on the server', async () => {
    const { path } = await localFile(3 * MIB + 10);
    const { uploadId } = await interruptedUpload(() => path, 4);
    // The same data but longer: the last part on the server (if sent) or the part size no longer fits.
    const other = await localFile(MIB / 2);
    await assert.rejects(vault.uploadArchive(other.path, { ...SMALL, uploadId }), PartMismatchError);
  });
});

describe('retries', () => {
  test('injected 5xx answers are retried', async () => {
    const { path, data } = await localFile(3 * MIB);
    const failedOnce = new Set<string>();
    const { api, proxy } = await t.proxied((req) => {
      const key = String(req.headers['content-range']);
      if (req.method === 'PUT' && !failedOnce.has(key)) {
        failedOnce.add(key);
        return { kind: 'error', status: 503, code: 'ServiceUnavailable' };
      }
      return { kind: 'pass' };
    });
    const v = await Vault.getById(api, vault.id);
    const retries: number[] = [];
    const result = await v.uploadArchive(path, { ...SMALL, retry: { ...FAST_RETRY, onRetry: ({ attempt }) => retries.push(attempt) } });
    assert.equal(proxy.count('PUT'), 6);
    assert.equal(retries.length, 3);
    await assertArchive(vault, result.archiveId, data);
  });

  test('InvalidDigest (a corrupted part body) is retried', async () => {
    const { path, data } = await localFile(2 * MIB + 3);
    let corrupted = 0;
    const { api, proxy } = await t.proxied((req) => {
      if (req.method === 'PUT' && corrupted++ === 0) return { kind: 'corrupt-request', at: 1000 };
      return { kind: 'pass' };
    });
    const v = await Vault.getById(api, vault.id);
    const errors: unknown[] = [];
    const result = await v.uploadArchive(path, { ...SMALL, concurrency: 1, retry: { ...FAST_RETRY, onRetry: ({ error }) => errors.push(error) } });
    assert.equal(proxy.count('PUT'), 4);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as OASError).code, 'InvalidDigest');
    await assertArchive(vault, result.archiveId, data);
  });

  test('a dropped connection is retried (single upload too)', async () => {
    const { path, data } = await localFile(200_000);
    let dropped = false;
    const { api, proxy } = await t.proxied((req) => {
      if (req.method === 'POST' && !dropped) {
        dropped = true;
        return { kind: 'reset' };
      }
      return { kind: 'pass' };
    });
    const v = await Vault.getById(api, vault.id);
    const result = await v.uploadArchive(path, { retry: FAST_RETRY });
    assert.equal(proxy.count('POST', (r) => r.url.endsWith('/archives')), 2);
    await assertArchive(vault, result.archiveId, data);
  });

  test('other client errors are not retried', async () => {
    const { path } = await localFile(2 * MIB);
    const { api, proxy } = await t.proxied((req) =>
      req.method === 'PUT' ? { kind: 'error', status: 403, code: 'AccessDenied', type: 'client' } : { kind: 'pass' });
    const v = await Vault.getById(api, vault.id);
    await assert.rejects(v.uploadArchive(path, { ...SMALL, concurrency: 1 }),
      (e: unknown) => e instanceof OASError && e.code === 'AccessDenied' && e.status === 403 && e.requestId === 'FA17FA17FA17FA17FA17FA17FA17FA17');
    assert.equal(proxy.count('PUT'), 1);

    const small = await localFile(1000);
    proxy.setRule((req) => req.method === 'POST' ? { kind: 'error', status: 400, code: 'InvalidArgument' } : { kind: 'pass' });
    await assert.rejects(v.uploadArchive(small.path, { retry: FAST_RETRY }), { code: 'InvalidArgument' });
    assert.equal(proxy.count('POST', (r) => r.url.endsWith('/archives')), 1);
  });

  test('retries are bounded', async () => {
    const { path } = await localFile(1000);
    const { api, proxy } = await t.proxied(() => ({ kind: 'error', status: 500, code: 'InternalError' }));
    const v = new Vault(api, { VaultId: vault.id, VaultName: vault.name, CreationDate: '', LastInventoryDate: '', NumberOfArchives: 0, SizeInBytes: 0 });
    await assert.rejects(v.uploadArchive(path, { retry: { ...FAST_RETRY, attempts: 3 } }), { code: 'InternalError', status: 500 });
    assert.equal(proxy.count('POST'), 3);
  });
});
