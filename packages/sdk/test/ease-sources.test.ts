// Vault.uploadArchive takes every byte source a Node user has at hand (single and
// multipart), and refuses what is not bytes before an archive or upload is created.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { MIB, hashBuffer } from '../src/protocol/etag.js';
import { Vault } from '../src/ease/vault.js';
import { startTestServer, type TestServer } from './helpers/ease-server.js';
import { pattern } from './helpers/pattern.js';

let t: TestServer;
let vault: Vault;

before(async () => {
  t = await startTestServer();
  vault = await Vault.create(t.api, 'ease-sources');
});
after(async () => {
  await t.close();
});

/** Small thresholds: 3.5 MiB goes up as 4 parts of 1 MiB, 100 KiB in one request. */
const MULTI = { partSize: MIB, singleUploadThreshold: MIB };

function sourcesOf(data: Buffer, path: string): Array<[string, () => unknown]> {
  const half = Math.floor(data.length / 2);
  return [
    ['Buffer', () => Buffer.from(data)],
    ['Uint8Array', () => new Uint8Array(data)],
    ['Float64Array view', () => { const copy = new Uint8Array(data.length + 8); copy.set(data, 8); return new DataView(copy.buffer, 8, data.length); }],
    ['ArrayBuffer', () => new Uint8Array(data).buffer],
    ['Blob', () => new Blob([data.subarray(0, half), data.subarray(half)])],
    ['File', () => new File([data], 'x.bin')],
    ['path', () => path],
    ['file: URL', () => pathToFileURL(path)],
    ['fs.createReadStream', () => createReadStream(path)],
    ['Readable.from([buf1, buf2])', () => Readable.from([data.subarray(0, half), data.subarray(half)])],
    ['web ReadableStream', () => Readable.toWeb(Readable.from([data.subarray(0, half), data.subarray(half)]))],
    ['array of chunks', () => [data.subarray(0, half), data.subarray(half)]],
    ['async generator', () => (async function* () { yield data.subarray(0, half); yield data.subarray(half); })()],
  ];
}

for (const [label, size, options] of [['single request', 100 * 1024, {}], ['multipart', 3.5 * MIB, MULTI]] as const) {
  test(`uploadArchive (${label}) takes every byte source and stores exactly its bytes`, async () => {
    const data = pattern(size, 7);
    const path = join(t.dir, `${label}.bin`);
    await writeFile(path, data);
    const want = hashBuffer(data).treeEtag;
    for (const [name, make] of sourcesOf(data, path)) {
      const result = await vault.uploadArchive(make() as Buffer, options);
      assert.equal(result.size, data.length, name);
      assert.equal(result.parts, size > MIB && 'partSize' in options ? 4 : 1, name);
      assert.equal((await vault.headArchive(result.archiveId)).treeEtag, want, name);
    }
  });
}

test('a Buffer resumes an interrupted upload: its parts on the server are checked, the rest sent', async () => {
  const data = pattern(3 * MIB, 3);
  const uploader = await vault.initiateUploader({ partSize: MIB });
  // Send the first part only, by hand through the uploader's own API.
  await assert.rejects(uploader.upload((async function* () { yield data.subarray(0, MIB); throw new Error('cut'); })(), { concurrency: 1 }), /cut/);
  const result = await vault.uploadArchive(data, { uploadId: uploader.id });
  assert.equal(result.partsReused, 1);
  assert.equal((await vault.headArchive(result.archiveId)).treeEtag, hashBuffer(data).treeEtag);
});

test('what is not bytes is refused with a TypeError before any archive or upload exists', async () => {
  const six = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]);
  const path = join(t.dir, 'six.bin');
  await writeFile(path, six);
  const decoded = (): Readable => createReadStream(path).setEncoding('utf8');
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['stream after setEncoding()', decoded, /decoding to text \(setEncoding\('utf8'\)\)/],
    ['object-mode stream of strings', () => Readable.from(['abc']), /yielded a string \("abc"\), not bytes/],
    ['object-mode stream of objects', () => Readable.from([{ a: 1 }]), /yielded an object, not bytes/],
    ['strings in an async iterable', () => (async function* () { yield 'abc'; })(), /yielded a string/],
    ['numbers in an array', () => [1, 2, 3], /yielded a number \(1\)/],
    ['a number', () => 42, /got a number \(42\)/],
    ['null', () => null, /got null/],
    ['a plain object', () => ({ length: 3 }), /got an object/],
    ['an http: URL', () => new URL('http://example.com/x'), /only file: URLs/],
  ];
  const before = await vault.listUploads();
  const archives = (await vault.refresh()).numberOfArchives;
  for (const [name, make, message] of cases) {
    for (const options of [{}, { ...MULTI, size: 3 * MIB }]) {
      await assert.rejects(vault.uploadArchive(make() as Buffer, options), (e: Error) => e instanceof TypeError && message.test(e.message),
        `${name} ${JSON.stringify(options)}`);
    }
  }
  assert.equal((await vault.listUploads()).length, before.length, 'no multipart upload was created');
  assert.equal((await vault.refresh()).numberOfArchives, archives, 'no archive was created');
  // Same through the Uploader.
  const uploader = await vault.initiateUploader({ partSize: MIB });
  await assert.rejects(uploader.upload([new Uint8Array(3), 'abc'] as unknown as Buffer), /yielded a string/);
  await uploader.cancel();
});
