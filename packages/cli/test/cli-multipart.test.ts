// The multipart steps by hand, as with the official tool: createmupload, postmpart (etags
// computed, or given from partetag), listmupload, listmpart, completemupload, deletemupload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { json, startHarness, type Harness } from './helpers/cli.js';
import { callOk, combineTreeEtags, type VaultJson } from '@oas/sdk';

const MIB = 1024 * 1024;
const SIZE = 64 * MIB + 7;
let h: Harness;
let file: string;

before(async () => {
  h = await startHarness();
  file = join(h.dir, 'multi.bin');
  await writeFile(file, pattern(SIZE));
  await h.run(['cv', 'oas://parts']);
});
after(async () => {
  await h?.close();
});

test('createmupload, postmpart x3, listmpart, listmupload, completemupload', async () => {
  const created = await h.run(['createmupload', 'oas://parts', '32M', '--desc', 'by hand']);
  assert.equal(created.code, 0, created.stderr);
  const uploadId = /^MultiPartUpload ID: ([0-9A-F]{32})\n$/.exec(created.stdout)?.[1];
  assert.ok(uploadId, created.stdout);

  // Part 1 with etags computed by oascmd; part 2 with the etags partetag prints; part 3 (7 bytes) computed.
  const p1 = await h.run(['postmpart', 'oas://parts', uploadId, file, '0', String(32 * MIB - 1)]);
  assert.equal(p1.code, 0, p1.stderr);
  assert.equal(p1.stdout, 'Upload success\n');
  const sums = json<{ ContentEtag: string; TreeEtag: string }>(await h.run(['partetag', file, '32M', '64M', '--json']));
  const p2 = await h.run(['postmpart', 'oas://parts', uploadId, file, '32M', String(64 * MIB - 1), sums.ContentEtag.toLowerCase(), sums.TreeEtag, '--json']);
  assert.equal(p2.code, 0, p2.stderr);
  assert.deepEqual(json(p2), { MultipartUploadId: uploadId, RangeInBytes: `${32 * MIB}-${64 * MIB - 1}`, ContentEtag: sums.ContentEtag, TreeEtag: sums.TreeEtag });

  const listed = await h.run(['listmpart', 'oas://parts', uploadId]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`MultipartUploadId: ${uploadId}\n`));
  assert.match(listed.stdout, /PartSizeInBytes: 33554432\n/);
  assert.match(listed.stdout, /ArchiveDescription: by hand\n/);
  assert.match(listed.stdout, /\n-{52}\nPart count: 2\nPart Ranges: \n {7}0-33554431: [0-9A-F]{32}\n33554432-67108863: [0-9A-F]{32}\n$/);
  const page = json<{ Marker: string; Parts: unknown[] }>(await h.run(['listmpart', 'oas://parts', uploadId, '--limit', '1', '--json']));
  assert.equal(page.Parts.length, 1);
  assert.notEqual(page.Marker, '');

  const p3 = await h.run(['postmpart', 'oas://parts', uploadId, file, '64M', String(SIZE - 1)]);
  assert.equal(p3.code, 0, p3.stderr);

  const uploads = await h.run(['listmupload', 'oas://parts']);
  assert.equal(uploads.code, 0, uploads.stderr);
  assert.match(uploads.stdout, /^Marker: \nMultipart upload count: 1\n\nMultipartUploadId +CreationDate +PartSize +ArchiveDescription\n-+\n/);
  assert.match(uploads.stdout, new RegExp(`${uploadId}  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  32\\.00 MB +by hand\n`));

  // 32 MiB parts are whole subtrees: the file's tree etag is the combined part tree etags.
  const whole = json<{ TreeEtag: string }>(await h.run(['fileetag', file, '--json']));
  const done = await h.run(['completemupload', 'oas://parts', uploadId, String(SIZE), whole.TreeEtag.toLowerCase()]);
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /^Archive ID: [0-9A-F]{32}\n$/);
  const after = json<{ UploadsList: unknown[] }>(await h.run(['listmupload', 'oas://parts', '--json']));
  assert.equal(after.UploadsList.length, 0);
});

test('completemupload with a missing part fails with the server\'s code; deletemupload aborts', async () => {
  const created = json<{ MultipartUploadId: string; PartSizeInBytes: number }>(await h.run(['createmupload', 'oas://parts', '32MB', '--json']));
  assert.equal(created.PartSizeInBytes, 32 * MIB);
  const id = created.MultipartUploadId;
  assert.equal((await h.run(['postmpart', 'oas://parts', id, file, '0', String(32 * MIB - 1)])).code, 0);
  const incomplete = await h.run(['completemupload', 'oas://parts', id, String(SIZE), '2B016A0FD13C7CBC62DE133A913C2E6B']);
  assert.equal(incomplete.code, 1);
  assert.match(incomplete.stderr, /^oascmd: \w+: .*\(HTTP 4\d\d, request id [0-9A-F]{32}\)\n$/);

  const badRange = await h.run(['postmpart', 'oas://parts', id, file, '0', String(SIZE)]);
  assert.equal(badRange.code, 2);
  assert.match(badRange.stderr, /the file has only/);

  const del = await h.run(['deletemupload', 'oas://parts', id]);
  assert.equal(del.code, 0, del.stderr);
  assert.equal(del.stdout, 'Delete success\n');
  const other = json<{ MultipartUploadId: string }>(await h.run(['createmupload', 'oas://parts', '1M', '--json'])).MultipartUploadId;
  const delJson = await h.run(['deletemupload', 'oas://parts', other, '--json']);
  assert.equal(delJson.code, 0, delJson.stderr);
  assert.deepEqual(json(delJson), { MultipartUploadId: other, Deleted: true });
  const gone = await h.run(['listmpart', 'oas://parts', id]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /MultipartUploadNotExist/);
});

test('a part size that is not 1 MiB × 2^k (3M) by hand: completemupload takes the combined part tree etags (--json)', async () => {
  const small = join(h.dir, 'seven.bin');
  const size = 7 * MIB + 5;
  await writeFile(small, pattern(size, 3));
  const id = json<{ MultipartUploadId: string }>(await h.run(['createmupload', 'oas://parts', '3M', '--json'])).MultipartUploadId;
  const partEtags: string[] = [];
  for (const [start, end] of [['0', '3M'], ['3M', '6M'], ['6M', String(size - 1)]] as const) {
    const sums = json<{ TreeEtag: string; Start: number; End: number }>(await h.run(['partetag', small, start, end, '--json']));
    partEtags.push(sums.TreeEtag);
    const put = await h.run(['postmpart', 'oas://parts', id, small, String(sums.Start), String(sums.End)]);
    assert.equal(put.code, 0, put.stderr);
  }
  const combined = combineTreeEtags(partEtags);
  const whole = json<{ TreeEtag: string }>(await h.run(['fileetag', small, '--json'])).TreeEtag;
  assert.notEqual(combined, whole, '3 MiB parts are not subtrees: the two values differ (protocol.md §3.4)');
  const done = await h.run(['completemupload', 'oas://parts', id, String(size), combined, '--json']);
  assert.equal(done.code, 0, done.stderr);
  const result = json<{ ArchiveId: string; ArchiveSizeInBytes: number; TreeEtag: string }>(done);
  assert.deepEqual([result.ArchiveSizeInBytes, result.TreeEtag], [size, combined]);
  // The archive itself carries the whole file's tree etag.
  const vaultId = (await (await callOk(h.api.listVault())).json<{ VaultList: VaultJson[] }>()).VaultList.find((v) => v.VaultName === 'parts')!.VaultId;
  const head = await (await callOk(h.api.headArchive(vaultId, result.ArchiveId))).json<{ ArchiveTreeEtag: string }>();
  assert.equal(head.ArchiveTreeEtag, whole);
});
