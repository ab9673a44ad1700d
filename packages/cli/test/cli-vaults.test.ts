// Vault and archive commands against the real server: cv/createvault, ls/listvault with
// paging, getvaultdesc, postarchive, deletearchive, rm, deletevault; text and --json.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { json, oneLine, startHarness, type Harness } from './helpers/cli.js';

const MIB = 1024 * 1024;
let h: Harness;

before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

test('cv and createvault print the vault id; ls and listvault list them', async () => {
  const cv = await h.run(['cv', 'oas://alpha']);
  assert.equal(cv.code, 0, cv.stderr);
  const id = /^Vault ID: ([0-9A-F]{32})\n$/.exec(cv.stdout)?.[1];
  assert.ok(id, cv.stdout);
  const created = await h.run(['createvault', 'OAS://beta', '--json']);
  assert.equal(created.code, 0, created.stderr);
  const beta = json<{ VaultId: string; VaultName: string }>(created);
  assert.equal(beta.VaultName, 'beta');
  assert.match(beta.VaultId, /^[0-9A-F]{32}$/);

  const ls = await h.run(['ls']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^Marker: \nVault count: 2\nVaultID +VaultName +CreationDate +NumberOfArchives +TotalSize +LastInventoryDate\n-+\n/);
  assert.match(ls.stdout, new RegExp(`${id}  alpha +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  0 +0\\.00 B`));
  const listvault = await h.run(['listvault', '--json']);
  assert.deepEqual(json<{ VaultList: Array<{ VaultName: string }> }>(listvault).VaultList.map((v) => v.VaultName).sort(), ['alpha', 'beta']);
});

test('ls --limit/--marker pages through the vaults', async () => {
  await h.run(['cv', 'oas://gamma']);
  const first = json<{ Marker: string; VaultList: Array<{ VaultName: string }> }>(await h.run(['ls', '--limit', '2', '--json']));
  assert.equal(first.VaultList.length, 2);
  assert.notEqual(first.Marker, '');
  const second = await h.run(['listvault', '--limit', '2', '--marker', first.Marker]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /^Marker: \nVault count: 1\n/);
});

test('getvaultdesc prints the six fields', async () => {
  const r = await h.run(['getvaultdesc', 'oas://alpha']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => l.split(':')[0]!.trim()), ['VaultId', 'VaultName', 'CreationDate', 'NumberOfArchives', 'SizeInBytes', 'LastInventoryDate']);
  assert.match(r.stdout, /^ {10}VaultId: [0-9A-F]{32}\n {8}VaultName: alpha\n/);
  const j = json<Record<string, unknown>>(await h.run(['getvaultdesc', 'oas://alpha', '--json']));
  assert.equal(j.VaultName, 'alpha');
  assert.equal(typeof j.SizeInBytes, 'number');
});

test('postarchive uploads in one request (etags computed or given); deletearchive and rm delete archives', async () => {
  const file = join(h.dir, 'small.bin');
  await writeFile(file, pattern(3 * MIB + 5));
  const posted = await h.run(['postarchive', 'oas://alpha', file, '--desc', 'three mib']);
  assert.equal(posted.code, 0, posted.stderr);
  const archive1 = /^Archive ID: ([0-9A-F]{32})\n$/.exec(posted.stdout)?.[1];
  assert.ok(archive1, posted.stdout);

  // Given etags are upper-cased, as the official tool does.
  const withEtags = await h.run(['postarchive', 'oas://alpha', file, '028bfcc1395093c0df0dc731de96e1b5', '2b016a0fd13c7cbc62de133a913c2e6b', '--json']);
  assert.equal(withEtags.code, 0, withEtags.stderr);
  const archive2 = json<{ ArchiveId: string; TreeEtag: string; ArchiveSizeInBytes: number }>(withEtags);
  assert.equal(archive2.TreeEtag, '2B016A0FD13C7CBC62DE133A913C2E6B');
  assert.equal(archive2.ArchiveSizeInBytes, 3 * MIB + 5);

  const wrong = await h.run(['postarchive', 'oas://alpha', file, '00000000000000000000000000000000', '2B016A0FD13C7CBC62DE133A913C2E6B']);
  assert.equal(wrong.code, 1);
  assert.ok(oneLine(wrong.stderr), wrong.stderr);
  assert.match(wrong.stderr, /^oascmd: InvalidDigest: .*\(HTTP 400, request id [0-9A-F]{32}\)\n$/);

  const meta = await h.api.headArchive((await h.api.listVault().then((r) => r.json<{ VaultList: Array<{ VaultId: string; VaultName: string }> }>()))
    .VaultList.find((v) => v.VaultName === 'alpha')!.VaultId, archive1);
  assert.equal((await meta.json<{ ArchiveDescription: string }>()).ArchiveDescription, 'three mib');

  const del = await h.run(['deletearchive', 'oas://alpha', archive1]);
  assert.equal(del.code, 0, del.stderr);
  assert.equal(del.stdout, 'Delete success\n');
  const again = await h.run(['deletearchive', 'oas://alpha', archive1]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /ArchiveNotExist/);
  const fourth = json<{ ArchiveId: string }>(await h.run(['postarchive', 'oas://alpha', file, '--json'])).ArchiveId;
  const delJson = await h.run(['deletearchive', 'oas://alpha', fourth, '--json']);
  assert.equal(delJson.code, 0, delJson.stderr);
  assert.deepEqual(json<{ ArchiveId: string; Deleted: boolean }>(delJson), { VaultId: json<{ VaultId: string }>(await h.run(['getvaultdesc', 'oas://alpha', '--json'])).VaultId, ArchiveId: fourth, Deleted: true });

  const rm = await h.run(['rm', `oas://alpha/${archive2.ArchiveId}`, '--json']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(json<{ ArchiveId: string }>(rm).ArchiveId, archive2.ArchiveId);

  const third = json<{ ArchiveId: string }>(await h.run(['postarchive', 'oas://alpha', file, '--json']));
  const rm2 = await h.run(['rm', 'oas://alpha', third.ArchiveId]);
  assert.equal(rm2.code, 0, rm2.stderr);
  assert.equal(rm2.stdout, 'Delete success\n');

  const empty = join(h.dir, 'empty.bin');
  await writeFile(empty, '');
  const zero = await h.run(['postarchive', 'oas://alpha', empty]);
  assert.equal(zero.code, 1);
  assert.match(zero.stderr, /is empty/);
});

test('rm and deletevault delete vaults', async () => {
  const rm = await h.run(['rm', 'oas://gamma']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(rm.stdout, 'Delete success\n');
  const dv = await h.run(['deletevault', 'oas://beta', '--json']);
  assert.equal(dv.code, 0, dv.stderr);
  assert.equal(json<{ VaultName: string; Deleted: boolean }>(dv).Deleted, true);
  const gone = await h.run(['deletevault', 'oas://beta']);
  assert.equal(gone.code, 1);
  assert.equal(gone.stderr, "oascmd: vault 'beta' not found\n");
  const names = json<{ VaultList: Array<{ VaultName: string }> }>(await h.run(['ls', '--json'])).VaultList.map((v) => v.VaultName);
  assert.deepEqual(names, ['alpha']);
});
