// upload and fetch end to end: single and multipart uploads, standard input, resuming a
// killed upload by its id, Ctrl-C, fetch --wait with a byte-for-byte comparison, ranges.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { callOk, listAllParts, treeEtag, type VaultJson } from '@oas/sdk';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { collect, json, oneLine, startHarness, until, waitForOutput, type Harness } from './helpers/cli.js';

const MIB = 1024 * 1024;
let h: Harness;
let vaultId: string;

before(async () => {
  h = await startHarness();
  await h.run(['cv', 'oas://data']);
  const list = await (await callOk(h.api.listVault())).json<{ VaultList: VaultJson[] }>();
  vaultId = list.VaultList.find((v) => v.VaultName === 'data')!.VaultId;
});
after(async () => {
  await h?.close();
});

async function partCount(uploadId: string): Promise<number> {
  let n = 0;
  for await (const _ of listAllParts(h.api, vaultId, uploadId)) n++;
  return n;
}

/** Retrieves an archive with createjob + fetch --wait and returns the bytes. */
async function retrieve(archiveId: string, extra: string[] = []): Promise<Buffer> {
  const job = json<{ JobId: string }>(await h.run(['createjob', 'oas://data', archiveId, '--json', ...extra]));
  const out = join(h.dir, `out-${job.JobId}`);
  const r = await h.run(['fetch', 'oas://data', job.JobId, out, '--wait', '--interval', '0.05']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Download job output success\n$/);
  return readFile(out);
}

test('upload of a small file: one request, Archive ID printed; fetch --wait gives the same bytes', async () => {
  const data = pattern(3 * MIB + 5);
  const file = join(h.dir, 'small.bin');
  await writeFile(file, data);
  const r = await h.run(['upload', 'oas://data', file]);
  assert.equal(r.code, 0, r.stderr);
  const archiveId = /Archive ID: ([0-9A-F]{32})\n$/.exec(r.stdout)?.[1];
  assert.ok(archiveId, r.stdout);
  assert.doesNotMatch(r.stdout, /MultiPartUpload ID/);
  assert.ok((await retrieve(archiveId)).equals(data));
});

test('upload of a large file: parallel multipart, --json result, verified download', async () => {
  const data = pattern(100 * MIB + 7, 3);
  const file = join(h.dir, 'large.bin');
  await writeFile(file, data);
  // Progress lines go to stderr when it is not a terminal (here: as often as possible).
  const r = await h.run(['upload', 'oas://data', file, '-p', '32M', '--concurrency', '3', '--json', '--desc', 'large'],
    { env: { OASCMD_PROGRESS_INTERVAL: '1' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\nupload: [\d.]+ [KMG]?i?B \/ 100 MiB \(\d+%\), /);
  assert.match(r.stderr, /\nuploaded 100 MiB in \d+\.\d s \([\d.]+ [KMG]iB\/s\)\n$/);
  const result = json<{ ArchiveId: string; TreeEtag: string; ArchiveSizeInBytes: number; MultipartUploadId: string; Parts: number }>(r);
  assert.equal(result.ArchiveSizeInBytes, data.length);
  assert.equal(result.Parts, 4);
  assert.match(result.MultipartUploadId, /^[0-9A-F]{32}$/);
  // With --json the upload id goes to stderr, as soon as it is known.
  assert.match(r.stderr, new RegExp(`MultiPartUpload ID: ${result.MultipartUploadId}`));
  const sums = json<{ TreeEtag: string }>(await h.run(['fileetag', file, '--json']));
  assert.equal(result.TreeEtag, sums.TreeEtag);
  assert.ok((await retrieve(result.ArchiveId)).equals(data));
});

test('upload -p 96M (not 1 MiB × 2^k): the archive\'s tree etag is the file\'s; summary lines; ranges across the part boundary verify', async () => {
  const data = pattern(100 * MIB + 7, 13);
  const file = join(h.dir, 'p96.bin');
  await writeFile(file, data);
  const r = await h.run(['upload', 'oas://data', file, '-p', '96M']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^MultiPartUpload ID: [0-9A-F]{32}\nUploaded 100 MiB in 2 parts; tree etag [0-9A-F]{32}\nArchive ID: [0-9A-F]{32}\n$/);
  // Elapsed time on stderr after every upload (after progress lines, if a slow machine printed any).
  assert.match(r.stderr, /(^|\n)uploaded 100 MiB in \d+\.\d s \([\d.]+ [KMG]iB\/s\)\n$/);
  const archiveId = /Archive ID: ([0-9A-F]{32})/.exec(r.stdout)![1]!;
  const treeEtag = /tree etag ([0-9A-F]{32})/.exec(r.stdout)![1]!;
  const local = json<{ TreeEtag: string }>(await h.run(['fileetag', file, '--json']));
  assert.equal(treeEtag, local.TreeEtag);
  const head = await (await callOk(h.api.headArchive(vaultId, archiveId))).json<{ ArchiveTreeEtag: string }>();
  assert.equal(head.ArchiveTreeEtag, local.TreeEtag);

  const job = json<{ JobId: string; TreeEtag: string }>(await h.run(['createjob', 'oas://data', archiveId, '--json']));
  const out = join(h.dir, 'p96.out');
  const whole = await h.run(['fetch', 'oas://data', job.JobId, out, '--wait', '--interval', '0.05']);
  assert.equal(whole.code, 0, whole.stderr);
  assert.match(whole.stdout, /^100 MiB written to .*p96\.out, verified against the job's tree etag\nDownload job output success\n$/);
  assert.match(whole.stderr, /downloaded 100 MiB in \d+\.\d s \([\d.]+ [KMG]iB\/s\)\n$/);
  assert.ok((await readFile(out)).equals(data));
  // 90M..100M+7 straddles the 96 MiB part boundary: two pieces, each checked against its header.
  const part = await h.run(['fetch', 'oas://data', job.JobId, out, '-f', '--start', '90M', '--json']);
  assert.equal(part.code, 0, part.stderr);
  const pj = json<{ Size: number; RangeInBytes: string; Verified: string }>(part);
  assert.deepEqual([pj.Size, pj.RangeInBytes, pj.Verified], [10 * MIB + 7, `${90 * MIB}-${data.length - 1}`, 'pieces']);
  assert.ok((await readFile(out)).equals(data.subarray(90 * MIB)));
});

test('upload from standard input (-), small and multipart', async () => {
  const small = pattern(MIB + 1);
  const r1 = await h.run(['upload', 'oas://data', '-', '--json'], { input: small });
  assert.equal(r1.code, 0, r1.stderr);
  const a1 = json<{ ArchiveId: string; Parts: number }>(r1);
  assert.equal(a1.Parts, 1);
  assert.ok((await retrieve(a1.ArchiveId)).equals(small));

  const big = pattern(70 * MIB + 3, 7);
  const r2 = await h.run(['upload', 'oas://data', '-', '-p', '32M', '--json', '-q'], { input: big, env: { OASCMD_PROGRESS_INTERVAL: '1' } });
  assert.equal(r2.code, 0, r2.stderr);
  assert.doesNotMatch(r2.stderr, /upload:/, '--quiet shows no progress');
  const a2 = json<{ ArchiveId: string; Parts: number; ArchiveSizeInBytes: number }>(r2);
  assert.equal(a2.Parts, 3);
  assert.equal(a2.ArchiveSizeInBytes, big.length);
  assert.ok((await retrieve(a2.ArchiveId)).equals(big));
});

test('a killed upload (SIGKILL) is resumed with `upload ... <uploadid>`; only missing parts are sent', async () => {
  const data = pattern(130 * MIB + 11, 5);
  const file = join(h.dir, 'resume.bin');
  await writeFile(file, data);
  // Standard input lets the test decide how far the first run gets: two 32 MiB parts.
  const child = h.start(['upload', 'oas://data', '-', '-p', '32M', '--concurrency', '1']);
  const idLine = waitForOutput(child, /MultiPartUpload ID: ([0-9A-F]{32})\n/);
  child.stdin!.on('error', () => {});
  child.stdin!.write(data.subarray(0, 64 * MIB + 100));
  const uploadId = (await idLine)[1]!;
  await until(async () => (await partCount(uploadId)) >= 2, 60_000, 'two parts on the server');
  child.kill('SIGKILL');
  const [, signal] = await once(child, 'exit');
  assert.equal(signal, 'SIGKILL');

  const r = await h.run(['upload', 'oas://data', file, uploadId, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const result = json<{ ArchiveId: string; MultipartUploadId: string; Parts: number; PartsReused: number; TreeEtag: string }>(r);
  assert.equal(result.MultipartUploadId, uploadId);
  assert.equal(result.Parts, 5);
  assert.equal(result.PartsReused, 2);
  assert.equal(result.TreeEtag, json<{ TreeEtag: string }>(await h.run(['fileetag', file, '--json'])).TreeEtag);
  assert.ok((await retrieve(result.ArchiveId)).equals(data));
});

test('resuming against a different file names the mismatching range and exits 1', async () => {
  const child = h.start(['upload', 'oas://data', '-', '-p', '32M', '--concurrency', '1']);
  const idLine = waitForOutput(child, /MultiPartUpload ID: ([0-9A-F]{32})\n/);
  child.stdin!.on('error', () => {});
  child.stdin!.write(pattern(64 * MIB + 1));
  const uploadId = (await idLine)[1]!;
  await until(async () => (await partCount(uploadId)) >= 1, 60_000, 'one part');
  child.kill('SIGKILL');
  await once(child, 'exit');
  const other = join(h.dir, 'other.bin');
  await writeFile(other, pattern(40 * MIB, 1));
  const r = await h.run(['upload', 'oas://data', other, uploadId]);
  assert.equal(r.code, 1);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /cannot resume upload [0-9A-F]{32}: part 0-33554431 .*does not match/);
});

test('Ctrl-C (SIGINT) during an upload stops cleanly, exit 130, and says how to resume', async () => {
  const child = h.start(['upload', 'oas://data', '-', '-p', '32M', '--concurrency', '1']);
  const done = collect(child, null);
  const idLine = waitForOutput(child, /MultiPartUpload ID: ([0-9A-F]{32})\n/);
  child.stdin!.on('error', () => {});
  child.stdin!.write(pattern(64 * MIB + 1));
  const uploadId = (await idLine)[1]!;
  await until(async () => (await partCount(uploadId)) >= 1, 60_000, 'one part');
  child.kill('SIGINT');
  const r = await done;
  assert.equal(r.code, 130);
  assert.match(r.stdout, new RegExp(`Upload interrupted; to resume it:\n {4}oascmd upload oas://data <file with the same bytes> ${uploadId}\n`));
  assert.match(r.stderr, /oascmd: interrupted\n$/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('Ctrl-C (SIGINT) during fetch keeps the verified pieces; the same command resumes', async (t) => {
  const data = pattern(192 * MIB, 11);
  const file = join(h.dir, 'interrupted.bin');
  await writeFile(file, data);
  const archiveId = json<{ ArchiveId: string }>(await h.run(['upload', 'oas://data', file, '--json', '-q'])).ArchiveId;
  const job = json<{ JobId: string }>(await h.run(['createjob', 'oas://data', archiveId, '--json'])).JobId;
  assert.equal((await h.run(['wait', 'oas://data', job, '--interval', '0.05'])).code, 0);
  const out = join(h.dir, 'interrupted.out');
  const child = h.start(['fetch', 'oas://data', job, out, '--concurrency', '1']);
  const done = collect(child);
  // The progress file appears once the first 32 MiB piece is verified.
  await until(() => access(`${out}.oasdownload.json`).then(() => true, () => false), 60_000, 'the first piece');
  child.kill('SIGINT');
  const r = await done;
  if (r.code === 0) {
    t.diagnostic('the download finished before the signal arrived; nothing to resume');
  } else {
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stdout, /Download interrupted; verified pieces are kept in .*interrupted\.out\.oasdownload\. Run the same command again to resume\.\n/);
    const resumed = await h.run(['fetch', 'oas://data', job, out, '--json']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.ok(json<{ PiecesReused: number }>(resumed).PiecesReused >= 1);
  }
  assert.ok((await readFile(out)).equals(data));
});

test('fetch: range with --start/--size, an existing file needs -f, an unknown job is exit 1', async () => {
  const data = pattern(8 * MIB + 3, 9);
  const file = join(h.dir, 'ranged.bin');
  await writeFile(file, data);
  const archiveId = json<{ ArchiveId: string }>(await h.run(['upload', 'oas://data', file, '--json'])).ArchiveId;
  const job = json<{ JobId: string }>(await h.run(['createjob', 'oas://data', archiveId, '--json'])).JobId;
  const out = join(h.dir, 'ranged.out');
  const first = await h.run(['fetchjoboutput', 'oas://data', job, out, '--wait', '--interval', '0.05', '--start', '2M', '--size', '3M']);
  assert.equal(first.code, 0, first.stderr);
  assert.ok((await readFile(out)).equals(data.subarray(2 * MIB, 5 * MIB)));

  const exists = await h.run(['fetch', 'oas://data', job, out]);
  assert.equal(exists.code, 1);
  assert.match(exists.stderr, /exists: pass -f to overwrite it/);
  const forced = await h.run(['fetch', 'oas://data', job, out, '-f', '--json']);
  assert.equal(forced.code, 0, forced.stderr);
  const result = json<{ Size: number; Verified: string; TreeEtag: string; Synced: boolean }>(forced);
  assert.equal(result.Size, data.length);
  assert.equal(result.Verified, 'full');
  assert.equal(result.Synced, false, 'not fsynced by default, like curl -o');
  assert.ok((await readFile(out)).equals(data));

  // --fsync: the same verified download, flushed to disk before success is reported.
  const synced = await h.run(['fetch', 'oas://data', job, out, '-f', '--fsync', '--json']);
  assert.equal(synced.code, 0, synced.stderr);
  assert.deepEqual(json<{ Verified: string; Synced: boolean }>(synced).Synced, true);
  assert.equal(json<{ Verified: string }>(synced).Verified, 'full');
  assert.ok((await readFile(out)).equals(data));

  // --start/--size go through the same verified download: resumable, JSON with the range.
  const ranged = await h.run(['fetch', 'oas://data', job, out, '-f', '--start', '4M', '--size', '4M', '--concurrency', '2', '--json']);
  assert.equal(ranged.code, 0, ranged.stderr);
  assert.deepEqual(json(ranged), {
    JobId: job, File: out, Size: 4 * MIB, RangeInBytes: `${4 * MIB}-${8 * MIB - 1}`,
    TreeEtag: json<{ TreeEtag: string }>(await h.run(['partetag', file, '4M', '8M', '--json'])).TreeEtag, Verified: 'pieces', PiecesReused: 0, Synced: false,
  });
  for (const [args, re] of [
    [['--start', '1000'], /bad --start\/--size: range 1000-\d+ must start at a multiple of 1 MiB/],
    [['--size', '1000'], /bad --start\/--size: range 0-999 must end just before a multiple of 1 MiB, or at the end of the output/],
    [['--start', '9M'], /bad --start 9437184: the output has only 8388611 bytes/],
    [['--start', '8M', '--size', '1M'], /ends past the job's output/],
  ] as Array<[string[], RegExp]>) {
    const bad = await h.run(['fetch', 'oas://data', job, join(h.dir, 'never.out'), ...args]);
    assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
    assert.ok(oneLine(bad.stderr), bad.stderr);
    assert.match(bad.stderr, re, args.join(' '));
    await assert.rejects(access(join(h.dir, 'never.out')));
  }

  const unknown = await h.run(['fetch', 'oas://data', 'NOSUCHJOB', join(h.dir, 'x')]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^oascmd: JobNotExist: .*request id [0-9A-F]{32}\)\n$/);
});

test('fetch of an inventory job: it lists every archive of the vault with its id, size and tree etag', async () => {
  const data = pattern(3 * 1024 * 1024 + 5, 11);
  const file = join(h.dir, 'listed.bin');
  await writeFile(file, data);
  const uploaded = json<{ ArchiveId: string }>(await h.run(['upload', 'oas://data', file, '--json', '-q', '--desc', 'listed'])).ArchiveId;
  const job = json<{ JobId: string; Action: string }>(await h.run(['createjob', 'oas://data', '--json']));
  assert.equal(job.Action, 'InventoryRetrieval');
  const out = join(h.dir, 'inventory.json');
  const r = await h.run(['fetch', 'oas://data', job.JobId, out, '--wait', '--interval', '0.05']);
  assert.equal(r.code, 0, r.stderr);
  type Entry = { ArchiveId: string; ArchiveDescription: string; Size: number; TreeEtag: string };
  const inventory = JSON.parse(await readFile(out, 'utf8')) as { VaultId: string; ArchiveList: Entry[] };
  assert.equal(inventory.VaultId, vaultId);
  const mine = inventory.ArchiveList.find((a) => a.ArchiveId === uploaded);
  assert.deepEqual(mine && { d: mine.ArchiveDescription, s: mine.Size, t: mine.TreeEtag },
    { d: 'listed', s: data.length, t: treeEtag(data) });
  // Every listed archive is one the server describes the same way.
  assert.equal(new Set(inventory.ArchiveList.map((a) => a.ArchiveId)).size, inventory.ArchiveList.length);
  for (const a of inventory.ArchiveList) {
    const meta = await (await callOk(h.api.headArchive(vaultId, a.ArchiveId))).json<{ ArchiveSizeInBytes: number; ArchiveTreeEtag: string }>();
    assert.deepEqual({ s: a.Size, t: a.TreeEtag }, { s: meta.ArchiveSizeInBytes, t: meta.ArchiveTreeEtag }, a.ArchiveId);
  }
});
