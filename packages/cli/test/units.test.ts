// Unit tests of the CLI's building blocks: sizes, addresses, errors, output, partetag ranges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { OASError } from '@oas/sdk';
import { parseSize, humanSize, parseCount, shortSize, shortDuration } from '../src/size.js';
import { parseVaultAddress, parseOssAddress } from '../src/address.js';
import { describeFailure, UsageError, CliError } from '../src/errors.js';
import { Output } from '../src/output.js';
import { partetagRange } from '../src/commands/etags.js';

const MIB = 1024 * 1024;

test('parseSize: plain numbers and K/M/G/T/P suffixes, 1024-based, optional B, any case', () => {
  assert.equal(parseSize('0'), 0);
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize('100B'), 100);
  assert.equal(parseSize('1k'), 1024);
  assert.equal(parseSize('32M'), 32 * MIB);
  assert.equal(parseSize('32mb'), 32 * MIB);
  assert.equal(parseSize('32MiB'), 32 * MIB);
  assert.equal(parseSize('2G'), 2 * 1024 * MIB);
  assert.equal(parseSize('1T'), 1024 ** 4);
  assert.equal(parseSize('1p'), 1024 ** 5);
  assert.equal(parseSize('1.5G'), 1.5 * 1024 * MIB);
  assert.equal(parseSize(' 64M '), 64 * MIB);
});

test('parseSize: bad sizes are usage errors', () => {
  for (const bad of ['', 'abc', '-1', '12X', '1.5', 'M', '1..2M', '99999999999P']) {
    assert.throws(() => parseSize(bad), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && /bad size/.test(e.message), bad);
  }
  assert.throws(() => parseSize('x', 'part size'), /bad part size 'x'/);
});

test('parseCount', () => {
  assert.equal(parseCount('8', '--concurrency'), 8);
  assert.throws(() => parseCount('0', '--limit'), UsageError);
  assert.throws(() => parseCount('1.5', '--limit'), UsageError);
  assert.throws(() => parseCount('ten', '--limit'), /bad --limit 'ten'/);
});

test('humanSize / shortSize / shortDuration', () => {
  assert.equal(humanSize(0), '0.00 B');
  assert.equal(humanSize(1024), '1.00 KB');
  assert.equal(humanSize(32 * MIB), '32.00 MB');
  assert.equal(humanSize(1.5 * 1024 * MIB), '1.50 GB');
  assert.equal(shortSize(512), '512 B');
  assert.equal(shortSize(2 * 1024 * MIB), '2.0 GiB');
  assert.equal(shortSize(150 * MIB), '150 MiB');
  assert.equal(shortDuration(7), '7s');
  assert.equal(shortDuration(245), '4m05s');
  assert.equal(shortDuration(3723), '1h02m03s');
  assert.equal(shortDuration(Infinity), '?');
});

test('parseVaultAddress: oas:// prefix in any case, optional archive id', () => {
  assert.deepEqual(parseVaultAddress('oas://photos'), { vault: 'photos' });
  assert.deepEqual(parseVaultAddress('OAS://photos/'), { vault: 'photos' });
  assert.deepEqual(parseVaultAddress('Oas://photos/ABC', { archive: 'optional' }), { vault: 'photos', archiveId: 'ABC' });
  assert.deepEqual(parseVaultAddress('oas://photos/ABC', { archive: 'required' }), { vault: 'photos', archiveId: 'ABC' });
  assert.throws(() => parseVaultAddress('photos'), /vaults are written oas:\/\/vault-name/);
  assert.throws(() => parseVaultAddress('oas://'), /no vault name/);
  assert.throws(() => parseVaultAddress('oas://photos/ABC'), /without a path/);
  assert.throws(() => parseVaultAddress('oas://photos', { archive: 'required' }), /oas:\/\/vault-name\/archive-id/);
  assert.throws(() => parseVaultAddress('oas://a/b/c', { archive: 'optional' }), UsageError);
});

test('parseOssAddress: bucket and a key that may contain slashes', () => {
  assert.deepEqual(parseOssAddress('oss://bucket/dir/obj.bin'), { bucket: 'bucket', object: 'dir/obj.bin' });
  assert.deepEqual(parseOssAddress('OSS://b/o'), { bucket: 'b', object: 'o' });
  for (const bad of ['oss://bucket', 'oss://bucket/', 'oss:///obj', 's3://b/o']) assert.throws(() => parseOssAddress(bad), UsageError, bad);
});

test('partetagRange: an end that is an exact MiB multiple is exclusive (the official quirk)', () => {
  const size = 3 * MIB + 5;
  assert.deepEqual(partetagRange(0, MIB, size), { start: 0, end: MIB - 1 });
  assert.deepEqual(partetagRange(MIB, 2 * MIB, size), { start: MIB, end: 2 * MIB - 1 });
  assert.deepEqual(partetagRange(0, MIB - 1, size), { start: 0, end: MIB - 1 });
  assert.deepEqual(partetagRange(0, MIB + 1, size), { start: 0, end: MIB + 1 });
  assert.deepEqual(partetagRange(3 * MIB, size - 1, size), { start: 3 * MIB, end: size - 1 });
  assert.throws(() => partetagRange(5, 0, size), UsageError);
  assert.throws(() => partetagRange(0, size, size), /only 3145733 bytes/);
});

test('describeFailure: server errors carry code and request id, exit 1', () => {
  const e = new OASError(404, 'VaultNotExist', 'vault X does not exist', 'client', 'ABCDEF');
  const f = describeFailure(e);
  assert.equal(f.exitCode, 1);
  assert.equal(f.message, 'VaultNotExist: vault X does not exist (HTTP 404, request id ABCDEF)');
  assert.deepEqual(f.json, { code: 'VaultNotExist', message: 'vault X does not exist', status: 404, type: 'client', requestId: 'ABCDEF' });
});

test('describeFailure: usage, cli, abort, filesystem and plain errors', () => {
  assert.equal(describeFailure(new UsageError('bad size')).exitCode, 2);
  assert.equal(describeFailure(new CliError('nope')).exitCode, 1);
  assert.equal(describeFailure(Object.assign(new Error('aborted'), { name: 'AbortError' })).exitCode, 130);
  const fs = Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: 'ENOENT', syscall: 'open', path: 'x' });
  assert.deepEqual([describeFailure(fs).message, describeFailure(fs).exitCode], ['x: no such file or directory', 1]);
  assert.equal(describeFailure(new Error('boom')).message, 'boom');
  assert.equal(describeFailure('weird').exitCode, 1);
  const commander = Object.assign(new Error("error: unknown command 'lss'\n(Did you mean ls?)"), { code: 'commander.unknownCommand', exitCode: 1 });
  assert.deepEqual([describeFailure(commander).message, describeFailure(commander).exitCode], ["unknown command 'lss' (Did you mean ls?)", 2]);
});

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

test('Output: text mode prints lines, notes on stdout, key-values right-aligned, tables', () => {
  const out = capture();
  const err = capture();
  const o = new Output({ stdout: out.stream, stderr: err.stream });
  o.note('a note');
  o.keyValues([['VaultId', 'X'], ['NumberOfArchives', 2]]);
  o.table(['A', 'Bee'], [['1', 'two'], ['three', '']]);
  o.result({ x: 1 }, () => o.line('human'));
  assert.equal(out.text(), 'a note\n         VaultId: X\nNumberOfArchives: 2\nA      Bee\n----------\n1      two\nthree\nhuman\n');
  assert.equal(err.text(), '');
});

test('Output: --json prints exactly one JSON document; notes go to stderr; --quiet drops notes', () => {
  const out = capture();
  const err = capture();
  const o = new Output({ json: true, stdout: out.stream, stderr: err.stream });
  o.line('not shown');
  o.note('to stderr');
  o.result({ VaultId: 'X' }, () => o.line('not shown either'));
  assert.deepEqual(JSON.parse(out.text()), { VaultId: 'X' });
  assert.equal(err.text(), 'to stderr\n');
  assert.throws(() => o.result({}, () => {}), /twice/);
  const q = capture();
  const quiet = new Output({ quiet: true, stdout: q.stream, stderr: q.stream });
  quiet.note('hidden');
  quiet.warn('hidden');
  quiet.important('shown');
  assert.equal(q.text(), 'shown\n');
});

test('rates and transfer summaries: one rate format; resumed bytes are not counted as sent', async () => {
  const { shortRate } = await import('../src/size.js');
  const { summaryLine } = await import('../src/progress.js');
  assert.equal(shortRate(411.7647058823529), '412 B/s');
  assert.equal(shortRate(434.2 * MIB), '434 MiB/s');
  assert.equal(shortRate(1.55 * 1024), '1.6 KiB/s');
  assert.equal(shortRate(0), '-');
  assert.equal(shortRate(Infinity), '-');
  assert.equal(summaryLine('uploaded', 300 * MIB, 0.7), 'uploaded 300 MiB in 0.7 s (429 MiB/s)');
  assert.equal(summaryLine('uploaded', 300 * MIB, 0.7, 300 * MIB), '300 MiB already on the server, 0 B sent; completed in 0.7 s');
  assert.equal(summaryLine('uploaded', 300 * MIB, 2, 200 * MIB), 'uploaded 100 MiB in 2.0 s (50.0 MiB/s); 200 MiB were already on the server');
  assert.equal(summaryLine('uploaded', 7, 0.017), 'uploaded 7 B in 0.0 s (412 B/s)');
});
