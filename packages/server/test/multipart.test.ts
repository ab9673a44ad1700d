import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { combineTreeEtags, hashBuffer, isId, parseRfc1123 } from '@oas/sdk';
import { startServer, type TestServer } from './helpers/server.js';
import { assertError, blobFiles } from './helpers/assert.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import type { Client } from './helpers/client.js';
import { STORED_LEAF_FAMILIES } from '../src/store/blob/leaf-families.js';

const MIB = 1048576;
const SIZE = 10 * MIB + 7;
const DATA = pattern(SIZE);

let t: TestServer;
let vault: string;
before(async () => {
  t = await startServer();
  vault = await t.client.vaultId('multipart');
});
after(async () => { await t.close(); });

async function initiate(c: Client, vaultId: string, partSize: number | string, description?: string): Promise<string> {
  const res = await c.request({
    method: 'POST', path: `/vaults/${vaultId}/multipart-uploads`,
    headers: { 'x-oas-part-size': partSize, ...(description !== undefined ? { 'x-oas-archive-description': description } : {}) },
  });
  assert.equal(res.status, 201, res.text);
  const id = String(res.headers['x-oas-multipart-upload-id']);
  assert.ok(isId(id));
  assert.equal(res.headers.location, `/vaults/${vaultId}/multipart-uploads/${id}`);
  assert.equal(res.headers['content-type'], undefined);
  return id;
}

function putPart(uploadId: string, data: Buffer, start: number, opts: { range?: string; etag?: string; treeEtag?: string; length?: number } = {}) {
  const h = hashBuffer(data);
  return t.client.request({
    method: 'PUT', path: `/vaults/${vault}/multipart-uploads/${uploadId}`, body: data,
    headers: {
      'Content-Range': opts.range ?? `${start}-${start + data.length - 1}`,
      'x-oas-content-etag': opts.etag ?? h.etag, 'x-oas-tree-etag': opts.treeEtag ?? h.treeEtag,
      ...(opts.length !== undefined ? { 'Content-Length': opts.length } : {}),
    },
  });
}

function complete(uploadId: string, size: number | string, treeEtag: string) {
  return t.client.request({
    method: 'POST', path: `/vaults/${vault}/multipart-uploads/${uploadId}`,
    headers: { 'x-oas-archive-size': size, 'x-oas-tree-etag': treeEtag },
  });
}

async function uploadAll(uploadId: string, partSize: number): Promise<string[]> {
  const etags: string[] = [];
  for (let start = 0; start < SIZE; start += partSize) {
    const part = DATA.subarray(start, Math.min(SIZE, start + partSize));
    const res = await putPart(uploadId, part, start, start === 0 ? { range: `bytes ${start}-${start + part.length - 1}/*` } : {});
    assert.equal(res.status, 204, res.text);
    assert.equal(res.headers['content-type'], undefined);
    etags.push(hashBuffer(part).treeEtag);
  }
  return etags;
}

// protocol.md §3.4: 10 MiB + 7 with 4 MiB, 2 MiB (power of two: combined = whole) and 3 MiB parts.
for (const [partSize, combined] of [[4 * MIB, 'CF0DA8B83FD87A5261D1B4B1E0D43BDF'], [2 * MIB, 'CF0DA8B83FD87A5261D1B4B1E0D43BDF'], [3 * MIB, '22A6C28BB2DB230C9A96FA49A21B68E9']] as const) {
  test(`multipart end to end, ${partSize / MIB} MiB parts (protocol.md §3.4 table)`, async () => {
    const uploadId = await initiate(t.client, vault, partSize, 'big file');
    const partEtags = await uploadAll(uploadId, partSize);
    assert.equal(combineTreeEtags(partEtags), combined);
    const parts = await t.client.get(`/vaults/${vault}/multipart-uploads/${uploadId}`);
    assert.equal(parts.status, 200);
    assert.equal(parts.json.MultipartUploadId, uploadId);
    assert.equal(parts.json.PartSizeInBytes, partSize);
    assert.equal(parts.json.ArchiveDescription, 'big file');
    assert.ok(parseRfc1123(parts.json.CreationDate) !== null);
    assert.equal(parts.json.Marker, '');
    assert.deepEqual(parts.json.Parts.map((p: { RangeInBytes: string }) => p.RangeInBytes),
      partEtags.map((_, i) => `${i * partSize}-${Math.min(SIZE, (i + 1) * partSize) - 1}`));
    assert.deepEqual(parts.json.Parts.map((p: { TreeEtag: string }) => p.TreeEtag), partEtags);
    assert.equal(parts.json.Parts[0].ContentEtag, hashBuffer(DATA.subarray(0, partSize)).etag);

    // The whole-data tree etag is not what complete checks for 3 MiB parts.
    if (combined !== 'CF0DA8B83FD87A5261D1B4B1E0D43BDF') {
      assertError(await complete(uploadId, SIZE, 'CF0DA8B83FD87A5261D1B4B1E0D43BDF'), 400, 'InvalidDigest');
    }
    // Lower case and a -<digits> suffix are accepted.
    const res = await complete(uploadId, SIZE, `${combined.toLowerCase()}-${partSize}`);
    assert.equal(res.status, 201, res.text);
    const archiveId = String(res.headers['x-oas-archive-id']);
    assert.ok(isId(archiveId));
    assert.equal(res.headers.location, `/vaults/${vault}/archives/${archiveId}`);
    const meta = (await t.client.get(`/vaults/${vault}/archives/${archiveId}/meta`)).json;
    assert.equal(meta.ArchiveSizeInBytes, SIZE);
    assert.equal(meta.ArchiveDescription, 'big file');
    // ArchiveTreeEtag is the tree etag of the whole data, whatever the part size.
    assert.equal(meta.ArchiveTreeEtag, 'CF0DA8B83FD87A5261D1B4B1E0D43BDF');

    // Complete is idempotent; afterwards the upload accepts nothing else.
    const again = await complete(uploadId, SIZE, combined);
    assert.equal(again.status, 201, again.text);
    assert.equal(again.headers['x-oas-archive-id'], archiveId);
    assertError(await t.client.get(`/vaults/${vault}/multipart-uploads/${uploadId}`), 404, 'MultipartUploadNotExist');
    assertError(await putPart(uploadId, DATA.subarray(0, partSize), 0), 404, 'MultipartUploadNotExist');
    assertError(await t.client.del(`/vaults/${vault}/multipart-uploads/${uploadId}`), 404, 'MultipartUploadNotExist');
    const list = await t.client.get(`/vaults/${vault}/multipart-uploads`);
    assert.ok(!list.json.UploadsList.some((u: { MultipartUploadId: string }) => u.MultipartUploadId === uploadId));
  });
}

test('initiate: part size a multiple of 1 MiB from 1 MiB to 4 GiB; description limit', async () => {
  await initiate(t.client, vault, MIB);
  await initiate(t.client, vault, 4 * 1024 * MIB);
  await initiate(t.client, vault, 96 * MIB);
  for (const bad of ['0', String(MIB / 2), String(MIB + 1), String(4 * 1024 * MIB + MIB), 'abc', '-1048576', '1e6', '']) {
    const res = await t.client.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads`, headers: { 'x-oas-part-size': bad } });
    assertError(res, 400, 'InvalidArgument');
  }
  assertError(await t.client.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads` }), 400, 'InvalidArgument');
  const long = await t.client.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads`, headers: { 'x-oas-part-size': MIB, 'x-oas-archive-description': 'x'.repeat(1025) } });
  assertError(long, 400, 'InvalidArgument');
  assertError(await t.client.request({ method: 'POST', path: `/vaults/${'F'.repeat(32)}/multipart-uploads`, headers: { 'x-oas-part-size': MIB } }), 404, 'VaultNotExist');
});

test('upload part: range and size rules', async () => {
  const uploadId = await initiate(t.client, vault, 2 * MIB);
  const part = DATA.subarray(0, 2 * MIB);
  // start not a multiple of the part size
  assertError(await putPart(uploadId, DATA.subarray(MIB, 3 * MIB), MIB), 400, 'InvalidArgument');
  // longer than the part size
  assertError(await putPart(uploadId, DATA.subarray(0, 3 * MIB), 0), 400, 'InvalidArgument');
  // Content-Range and Content-Length disagree
  assertError(await putPart(uploadId, part, 0, { range: `0-${MIB - 1}` }), 400, 'InvalidArgument');
  // missing / malformed Content-Range
  assertError(await t.client.request({ method: 'PUT', path: `/vaults/${vault}/multipart-uploads/${uploadId}`, body: part, headers: { 'x-oas-content-etag': hashBuffer(part).etag, 'x-oas-tree-etag': hashBuffer(part).treeEtag } }), 400, 'InvalidArgument');
  for (const range of ['bytes=0-2097151', '0-', '2097151-0', 'abc', '-5']) {
    assertError(await putPart(uploadId, part, 0, { range }), 400, 'InvalidArgument');
  }
  // part 10,000 and beyond
  const small = await initiate(t.client, vault, MIB);
  assertError(await putPart(small, Buffer.from('x'), 10_000 * MIB), 400, 'InvalidArgument');
  // an empty part
  assertError(await putPart(uploadId, Buffer.alloc(0), 0, { range: '0-0', length: 0 }), 400, 'InvalidArgument');
  // unknown and malformed upload ids
  for (const id of ['0'.repeat(32), 'nope']) {
    assertError(await t.client.request({ method: 'PUT', path: `/vaults/${vault}/multipart-uploads/${id}`, body: part, headers: { 'Content-Range': '0-2097151', 'x-oas-content-etag': hashBuffer(part).etag, 'x-oas-tree-etag': hashBuffer(part).treeEtag } }), 404, 'MultipartUploadNotExist');
    assertError(await t.client.get(`/vaults/${vault}/multipart-uploads/${id}`), 404, 'MultipartUploadNotExist');
    assertError(await complete(id, 5, 'A'.repeat(32)), 404, 'MultipartUploadNotExist');
  }
});

test('part digest mismatch: 400 InvalidDigest, nothing stored', async () => {
  const uploadId = await initiate(t.client, vault, MIB);
  const files = await blobFiles(t.dataDir);
  const part = DATA.subarray(0, MIB);
  assertError(await putPart(uploadId, part, 0, { etag: 'A'.repeat(32) }), 400, 'InvalidDigest');
  assertError(await putPart(uploadId, part, 0, { treeEtag: 'a'.repeat(32) }), 400, 'InvalidDigest');
  assert.deepEqual(await blobFiles(t.dataDir), files);
  assert.deepEqual((await t.client.get(`/vaults/${vault}/multipart-uploads/${uploadId}`)).json.Parts, []);
});

test('complete: gaps, wrong size, wrong tree etag, missing headers', async () => {
  const uploadId = await initiate(t.client, vault, 4 * MIB);
  const p0 = DATA.subarray(0, 4 * MIB);
  const p2 = DATA.subarray(8 * MIB, SIZE);
  assert.equal((await putPart(uploadId, p0, 0)).status, 204);
  assert.equal((await putPart(uploadId, p2, 8 * MIB)).status, 204);
  const combined = combineTreeEtags([hashBuffer(p0).treeEtag, hashBuffer(DATA.subarray(4 * MIB, 8 * MIB)).treeEtag, hashBuffer(p2).treeEtag]);
  assertError(await complete(uploadId, SIZE, combined), 400, 'MultipartIncomplete');
  assert.equal((await putPart(uploadId, DATA.subarray(4 * MIB, 8 * MIB), 4 * MIB)).status, 204);
  assertError(await complete(uploadId, SIZE + 1, combined), 400, 'MultipartIncomplete');
  assertError(await complete(uploadId, SIZE - 1, combined), 400, 'MultipartIncomplete');
  assertError(await complete(uploadId, SIZE, 'A'.repeat(32)), 400, 'InvalidDigest');
  assertError(await complete(uploadId, 'abc', combined), 400, 'InvalidArgument');
  assertError(await complete(uploadId, 0, combined), 400, 'InvalidArgument');
  assertError(await complete(uploadId, SIZE, 'xyz'), 400, 'InvalidArgument');
  assertError(await t.client.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads/${uploadId}`, headers: { 'x-oas-tree-etag': combined } }), 400, 'InvalidArgument');
  assertError(await t.client.request({ method: 'POST', path: `/vaults/${vault}/multipart-uploads/${uploadId}`, headers: { 'x-oas-archive-size': SIZE } }), 400, 'InvalidArgument');
  assert.equal((await complete(uploadId, SIZE, combined)).status, 201);
});

test('re-uploading a range replaces the part and its blob', async () => {
  const uploadId = await initiate(t.client, vault, MIB);
  const before = (await blobFiles(t.dataDir)).length;
  const wrong = Buffer.alloc(MIB, 7);
  assert.equal((await putPart(uploadId, wrong, 0)).status, 204);
  const right = DATA.subarray(0, MIB);
  assert.equal((await putPart(uploadId, right, 0)).status, 204);
  const parts = (await t.client.get(`/vaults/${vault}/multipart-uploads/${uploadId}`)).json.Parts;
  assert.equal(parts.length, 1);
  assert.equal(parts[0].ContentEtag, hashBuffer(right).etag);
  // One blob (data + a leaves file per family) more than before, not two.
  assert.equal((await blobFiles(t.dataDir)).length, before + 1 + STORED_LEAF_FAMILIES.length);
  const res = await complete(uploadId, MIB, hashBuffer(right).treeEtag);
  assert.equal(res.status, 201);
});

test('abort: 204, parts discarded, upload gone', async () => {
  const files = await blobFiles(t.dataDir);
  const uploadId = await initiate(t.client, vault, MIB);
  assert.equal((await putPart(uploadId, DATA.subarray(0, MIB), 0)).status, 204);
  assert.equal((await putPart(uploadId, DATA.subarray(MIB, 2 * MIB), MIB)).status, 204);
  const res = await t.client.del(`/vaults/${vault}/multipart-uploads/${uploadId}`);
  assert.equal(res.status, 204);
  assert.equal(res.headers['content-type'], undefined);
  assert.deepEqual(await blobFiles(t.dataDir), files);
  assertError(await t.client.get(`/vaults/${vault}/multipart-uploads/${uploadId}`), 404, 'MultipartUploadNotExist');
  assertError(await t.client.del(`/vaults/${vault}/multipart-uploads/${uploadId}`), 404, 'MultipartUploadNotExist');
});

test('list uploads and list parts paginate with inclusive markers', async () => {
  const v = await t.client.vaultId('multipart-pages');
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await initiate(t.client, v, MIB, `upload ${i}`));
  ids.sort();
  const all = await t.client.get(`/vaults/${v}/multipart-uploads?marker`);
  assert.equal(all.status, 200);
  assert.equal(all.json.Marker, '');
  assert.deepEqual(all.json.UploadsList.map((u: { MultipartUploadId: string }) => u.MultipartUploadId), ids);
  assert.deepEqual(Object.keys(all.json.UploadsList[0]).sort(), ['ArchiveDescription', 'CreationDate', 'MultipartUploadId', 'PartSizeInBytes']);
  const p1 = await t.client.get(`/vaults/${v}/multipart-uploads?limit=2`);
  assert.equal(p1.json.UploadsList.length, 2);
  assert.equal(p1.json.Marker, ids[2]);
  const p2 = await t.client.get(`/vaults/${v}/multipart-uploads?marker=${p1.json.Marker}&limit=2`);
  assert.deepEqual(p2.json.UploadsList.map((u: { MultipartUploadId: string }) => u.MultipartUploadId), ids.slice(2, 4));
  assertError(await t.client.get(`/vaults/${v}/multipart-uploads?marker=${'0'.repeat(32)}`), 400, 'InvalidArgument');
  assertError(await t.client.get(`/vaults/${v}/multipart-uploads?limit=0`), 400, 'InvalidArgument');
  // A limit over 1000 is clamped, not refused.
  assert.equal((await t.client.get(`/vaults/${v}/multipart-uploads?limit=5000`)).status, 200);

  // Parts: markers are range starts in decimal.
  const uploadId = ids[0]!;
  const saved = vault;
  vault = v;
  try {
    for (let i = 0; i < 3; i++) assert.equal((await putPart(uploadId, DATA.subarray(i * MIB, (i + 1) * MIB), i * MIB)).status, 204);
  } finally {
    vault = saved;
  }
  const q1 = await t.client.get(`/vaults/${v}/multipart-uploads/${uploadId}?limit=2`);
  assert.equal(q1.json.Parts.length, 2);
  assert.equal(q1.json.Marker, String(2 * MIB));
  const q2 = await t.client.get(`/vaults/${v}/multipart-uploads/${uploadId}?marker=${q1.json.Marker}&limit=2`);
  assert.deepEqual(q2.json.Parts.map((p: { RangeInBytes: string }) => p.RangeInBytes), [`${2 * MIB}-${3 * MIB - 1}`]);
  assert.equal(q2.json.Marker, '');
  assertError(await t.client.get(`/vaults/${v}/multipart-uploads/${uploadId}?marker=5`), 400, 'InvalidArgument');
  assertError(await t.client.get(`/vaults/${v}/multipart-uploads/${uploadId}?marker=abc`), 400, 'InvalidArgument');
});
