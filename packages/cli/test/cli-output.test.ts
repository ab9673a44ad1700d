// What oascmd tells a person after a command: transfer summaries that say what was sent,
// rates formatted the one way, advice that fits the failure, job status without promises.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { json, oneLine, startHarness, type Harness } from './helpers/cli.js';

const MIB = 1024 * 1024;
let h: Harness;
let file: string;
const SIZE = 2 * MIB + 7;

before(async () => {
  h = await startHarness();
  file = join(h.dir, 'small.bin');
  await writeFile(file, pattern(SIZE, 9));
  await h.run(['cv', 'oas://out']);
});
after(async () => {
  await h?.close();
});

/** Puts parts [start, end] of `file` on a new 1 MiB-part upload by hand; returns its id. */
async function uploadWithParts(ranges: Array<[number, number]>): Promise<string> {
  const id = json<{ MultipartUploadId: string }>(await h.run(['createmupload', 'oas://out', '1M', '--json'])).MultipartUploadId;
  for (const [start, end] of ranges) {
    const put = await h.run(['postmpart', 'oas://out', id, file, String(start), String(end)]);
    assert.equal(put.code, 0, put.stderr);
  }
  return id;
}

const RATE = /\((\d+|\d+\.\d) (B|KiB|MiB|GiB)\/s\)/;

test('postmpart of a few bytes: the rate is a rounded figure, not a long fraction', async () => {
  const id = await uploadWithParts([]);
  const r = await h.run(['postmpart', 'oas://out', id, file, '2M', String(SIZE - 1)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^uploaded 7 B in \d+\.\d s /m);
  assert.match(r.stderr, RATE);
  assert.doesNotMatch(r.stderr, /\d\.\d{2,}/);
});

test('resuming an upload whose parts are all on the server says nothing was sent', async () => {
  const id = await uploadWithParts([[0, MIB - 1], [MIB, 2 * MIB - 1], [2 * MIB, SIZE - 1]]);
  const r = await h.run(['upload', 'oas://out', file, id]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Archive ID: [0-9A-F]{32}\n$/);
  assert.match(r.stderr, /^2\.0 MiB already on the server, 0 B sent; completed in \d+\.\d s$/m);
  assert.doesNotMatch(r.stderr, /^uploaded /m);
});

test('resuming an upload with some parts on the server counts only what was sent', async () => {
  const id = await uploadWithParts([[0, MIB - 1]]);
  const r = await h.run(['upload', 'oas://out', file, id]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`^uploaded 1\\.0 MiB in \\d+\\.\\d s ${RATE.source}; 1\\.0 MiB were already on the server$`, 'm'));
});

test('an upload id that does not exist: advice to start afresh or list uploads, not to resume it', async () => {
  const missing = '0123456789ABCDEF0123456789ABCDEF';
  const r = await h.run(['upload', 'oas://out', file, missing]);
  assert.equal(r.code, 1);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, new RegExp(`there is no multipart upload ${missing} in oas://out`));
  assert.match(r.stderr, /start a new upload without an id \(oascmd upload oas:\/\/out \S+small\.bin\)/);
  assert.match(r.stderr, /oascmd listmupload oas:\/\/out/);
  assert.doesNotMatch(r.stdout + r.stderr, /to resume it/);
});

test('createjob says the job\'s actual status and how to wait, without a fixed duration', async () => {
  const archiveId = json<{ ArchiveId: string }>(await h.run(['upload', 'oas://out', file, '--json'])).ArchiveId;
  const r = await h.run(['createjob', 'oas://out', archiveId]);
  assert.equal(r.code, 0, r.stderr);
  const jobId = /job ID: ([0-9A-F]{32})/.exec(r.stdout)?.[1];
  assert.ok(jobId, r.stdout);
  assert.match(r.stdout, /Job status: (InProgress|Succeeded)\./);
  if (/InProgress/.test(r.stdout)) {
    assert.match(r.stdout, new RegExp(`oascmd fetch oas://out ${jobId} <localfile> --wait`));
    assert.match(r.stdout, new RegExp(`oascmd wait oas://out ${jobId}`));
  } else {
    assert.match(r.stdout, new RegExp(`oascmd fetch oas://out ${jobId} <localfile>`));
  }
  assert.doesNotMatch(r.stdout + r.stderr, /HOURS|hours/);
});

test('the quick start in --help uses the README\'s placeholders and npx', async () => {
  const r = await h.run(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /\$ npx oascmd config --host 127\.0\.0\.1 --port 8080 -i <AccessKeyId> -k <AccessKeySecret>\n/);
  assert.doesNotMatch(r.stdout, /-i test|-k secret/);
});
