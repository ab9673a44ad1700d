// `oas-server copy-data`: everything from sqlite+file to postgres+s3 (s3rver) and back, with
// every archive compared byte for byte on each side; the first copy is killed (kill -9) in
// the middle and resumed by running it again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { combineTreeEtags, hashBuffer } from '@oas/sdk';
import { createAccount } from '../src/service/accounts.js';
import { parseBackendPair } from '../src/copy-data.js';
import { resolveOptions } from '../src/config.js';
import { startPostgres } from './helpers/postgres.js';
import { startS3rver } from './helpers/s3rver.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { MAIN } from './helpers/cli.js';
import { ROOT_ID, startServer, tempDir, type TestServer } from './helpers/server.js';
import type { Client } from './helpers/client.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';

const MIB = 1048576;
const BUCKET = 'copy';

/** The embedded stores of a data directory, named explicitly (whatever OAS_TEST_BACKEND says). */
function local(dataDir: string, extra: Record<string, unknown> = {}) {
  return { dataDir, metadataUri: `sqlite:${dataDir}/meta.sqlite`, blobsUri: `file:${dataDir}/blobs`, ...extra };
}

const SIDE_TAGS = [{ key: 'Owner', value: 'ann' }, { key: 'empty', value: '' }];
const SIDE_VAULT_SETTINGS = [
  { name: 'glacier.access-policy', value: '{"Version":"2012-10-17","Statement":[]}' },
  { name: 'glacier.notifications', value: '{"SNSTopic":"arn:aws:sns:us-east-1:012345678901:t","Events":["ArchiveRetrievalCompleted"]}' },
];
const SIDE_ACCOUNT_SETTINGS = [{ name: 'glacier.data-retrieval-policy', value: '{"Rules":[{"Strategy":"FreeTier"}]}' }];

/** What the source holds, to check a copy against. */
interface Expected {
  vaults: Map<string, { name: string; archives: Map<string, Buffer> }>;
  deletedArchive: { vault: string; id: string; data: Buffer; job: string };
  inventoryJob: { vault: string; id: string; output: Buffer };
  pendingJob: { vault: string; id: string };
  upload: { vault: string; id: string; parts: Buffer[]; trees: string[]; size: number };
  otherKey: { id: string; secret: string; vault: string };
  /** Glacier side settings: tags and settings of the photos vault, the root account's settings. */
  side: { vault: string; account: string };
}

function runCopy(args: string[], env: Record<string, string>): { done: Promise<{ code: number | null; signal: string | null; out: string }>; kill(): void; output(): string } {
  const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN, 'copy-data', ...args], {
    env: { ...process.env, OAS_METADATA: '', OAS_BLOBS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const done = new Promise<{ code: number | null; signal: string | null; out: string }>((resolve) => {
    proc.once('close', (code, signal) => resolve({ code, signal, out }));
  });
  return { done, kill: () => proc.kill('SIGKILL'), output: () => out };
}

async function putParts(c: Client, vault: string, uploadId: string, data: Buffer, partSize: number, which?: number[]): Promise<string[]> {
  const trees: string[] = [];
  for (let i = 0, start = 0; start < data.length; i++, start += partSize) {
    const part = data.subarray(start, Math.min(data.length, start + partSize));
    const h = hashBuffer(part);
    trees.push(h.treeEtag);
    if (which && !which.includes(i)) continue;
    const res = await c.request({
      method: 'PUT', path: `/vaults/${vault}/multipart-uploads/${uploadId}`, body: part,
      headers: { 'Content-Range': `${start}-${start + part.length - 1}`, 'x-oas-content-etag': h.etag, 'x-oas-tree-etag': h.treeEtag },
    });
    assert.equal(res.status, 204, res.text);
  }
  return trees;
}

/** Fills a sqlite+file server with a bit of everything. */
async function populate(dataDir: string): Promise<Expected> {
  const s = await startServer(local(dataDir));
  try {
    const c = s.client;
    const vaults: Expected['vaults'] = new Map();
    const sizes = [1, 700, MIB, MIB + 1, 3 * MIB + 5, 2 * MIB, 5 * MIB - 3, 17, 4 * MIB, 123_457];
    for (const [v, name] of ['photos', 'ledgers', 'empty'].entries()) {
      const id = await c.vaultId(name);
      const archives = new Map<string, Buffer>();
      if (name !== 'empty') {
        for (const [i, size] of sizes.entries()) {
          if (i % 2 !== v) continue;
          const data = pattern(size, v * 31 + i);
          archives.set(await c.archiveId(id, data, `${name} #${i} ünïcode`), data);
        }
      }
      vaults.set(id, { name, archives });
    }
    const [photos] = [...vaults.keys()];
    // A multipart archive (4 segments, the last one short).
    const big = pattern(7 * MIB + 99, 5);
    const init = await c.request({ method: 'POST', path: `/vaults/${photos}/multipart-uploads`, headers: { 'x-oas-part-size': 2 * MIB, 'x-oas-archive-description': 'multipart' } });
    const bigUpload = String(init.headers['x-oas-multipart-upload-id']);
    const trees = await putParts(c, photos!, bigUpload, big, 2 * MIB);
    const done = await c.request({ method: 'POST', path: `/vaults/${photos}/multipart-uploads/${bigUpload}`, headers: { 'x-oas-archive-size': big.length, 'x-oas-tree-etag': combineTreeEtags(trees) } });
    assert.equal(done.status, 201, done.text);
    vaults.get(photos!)!.archives.set(String(done.headers['x-oas-archive-id']), big);

    // A deleted archive a finished retrieval job still serves; an inventory job with output.
    const doomedData = pattern(2 * MIB + 7, 9);
    const doomed = await c.archiveId(photos!, doomedData, 'doomed');
    const doomedJob = await c.jobId(photos!, { Type: 'archive-retrieval', ArchiveId: doomed });
    assert.equal((await c.waitJob(photos!, doomedJob)).StatusCode, 'Succeeded');
    assert.equal((await c.del(`/vaults/${photos}/archives/${doomed}`)).status, 204);
    const inv = await c.jobId(photos!, { Type: 'inventory-retrieval', Description: 'inventory' });
    assert.equal((await c.waitJob(photos!, inv)).StatusCode, 'Succeeded');
    const invOut = await c.get(`/vaults/${photos}/jobs/${inv}/output`);
    assert.equal(invOut.status, 200);

    // An open multipart upload with two of its three parts.
    const partData = pattern(3 * MIB, 3);
    const open = await c.request({ method: 'POST', path: `/vaults/${photos}/multipart-uploads`, headers: { 'x-oas-part-size': MIB, 'x-oas-archive-description': 'open upload' } });
    const openId = String(open.headers['x-oas-multipart-upload-id']);
    const openTrees = await putParts(c, photos!, openId, partData, MIB, [0, 2]);

    // Glacier tags and settings (as the side operations store them).
    const rootAccount = (await s.server.meta.getAccountByKeyId(ROOT_ID))!.id;
    assert.equal(await s.server.meta.settings.addTags(photos!, SIDE_TAGS, 50), 'ok');
    for (const x of SIDE_VAULT_SETTINGS) assert.equal(await s.server.meta.settings.putVaultSetting(photos!, x.name, x.value), true);
    for (const x of SIDE_ACCOUNT_SETTINGS) await s.server.meta.settings.putAccountSetting(rootAccount, x.name, x.value);

    // A second account with a vault of its own.
    const other = await createAccount(s.server.meta);
    const oc = c.withKey(other.accessKeyId, other.accessKeySecret);
    const ov = await oc.vaultId('other-account');
    const odata = pattern(MIB + 333, 77);
    vaults.set(ov, { name: 'other-account', archives: new Map([[await oc.archiveId(ov, odata), odata]]) });

    await s.stop();
    // A job that is still waiting (the next start runs jobs an hour late).
    const later = await startServer(local(dataDir, { jobDelayMs: 3_600_000 }));
    let pending: string;
    try {
      pending = await later.client.jobId(photos!, { Type: 'archive-retrieval', ArchiveId: [...vaults.get(photos!)!.archives.keys()][0] });
    } finally {
      await later.stop();
    }
    return {
      vaults,
      deletedArchive: { vault: photos!, id: doomed, data: doomedData, job: doomedJob },
      inventoryJob: { vault: photos!, id: inv, output: invOut.body },
      pendingJob: { vault: photos!, id: pending },
      upload: { vault: photos!, id: openId, parts: [partData.subarray(0, MIB), partData.subarray(MIB, 2 * MIB), partData.subarray(2 * MIB)], trees: openTrees, size: partData.length },
      otherKey: { id: other.accessKeyId, secret: other.accessKeySecret, vault: ov },
      side: { vault: photos!, account: rootAccount },
    };
  } catch (err) {
    await s.stop().catch(() => undefined);
    throw err;
  }
}

/** Checks a server against what the source held: every archive byte for byte, and the rest. */
async function verify(t: TestServer, x: Expected): Promise<void> {
  const c = t.client;
  for (const [vaultId, v] of x.vaults) {
    const client = vaultId === x.otherKey.vault ? c.withKey(x.otherKey.id, x.otherKey.secret) : c;
    const desc = await client.get(`/vaults/${vaultId}`);
    assert.equal(desc.status, 200, desc.text);
    assert.equal(desc.json.VaultName, v.name);
    assert.equal(desc.json.NumberOfArchives, v.archives.size);
    assert.equal(desc.json.SizeInBytes, [...v.archives.values()].reduce((n, d) => n + d.length, 0));
    const jobs = new Map<string, Buffer>();
    for (const [id, data] of v.archives) {
      const meta = await client.get(`/vaults/${vaultId}/archives/${id}/meta`);
      assert.equal(meta.status, 200, meta.text);
      assert.equal(meta.json.ArchiveTreeEtag, hashBuffer(data).treeEtag);
      assert.equal(meta.json.ArchiveSizeInBytes, data.length);
      jobs.set(await client.jobId(vaultId, { Type: 'archive-retrieval', ArchiveId: id }), data);
    }
    for (const [jobId, data] of jobs) {
      const job = await client.waitJob(vaultId, jobId, 60_000);
      assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
      const out = await client.get(`/vaults/${vaultId}/jobs/${jobId}/output`);
      assert.equal(out.status, 200);
      assert.ok(out.body.equals(data), `archive bytes differ (job ${jobId})`);
    }
  }
  // The deleted archive: gone from the API, still served by its job.
  const d = x.deletedArchive;
  assert.equal((await c.get(`/vaults/${d.vault}/archives/${d.id}/meta`)).status, 404);
  const dout = await c.get(`/vaults/${d.vault}/jobs/${d.job}/output`);
  assert.equal(dout.status, 200, dout.text);
  assert.ok(dout.body.equals(d.data));
  const inv = await c.get(`/vaults/${x.inventoryJob.vault}/jobs/${x.inventoryJob.id}/output`);
  assert.equal(inv.status, 200);
  assert.ok(inv.body.equals(x.inventoryJob.output), 'inventory output differs');
  const pending = await c.get(`/vaults/${x.pendingJob.vault}/jobs/${x.pendingJob.id}`);
  assert.equal(pending.status, 200);
  assert.equal(pending.json.StatusCode, 'InProgress');
  // Glacier tags and settings came along.
  assert.deepEqual(await t.server.meta.settings.listTags(x.side.vault), SIDE_TAGS);
  assert.deepEqual(await t.server.meta.settings.vaultSettings(x.side.vault), SIDE_VAULT_SETTINGS);
  assert.deepEqual(await t.server.meta.settings.accountSettings(x.side.account), SIDE_ACCOUNT_SETTINGS);
  // The open upload has its two parts and can be completed with the third.
  const u = x.upload;
  const listed = await c.get(`/vaults/${u.vault}/multipart-uploads/${u.id}`);
  assert.equal(listed.status, 200, listed.text);
  assert.deepEqual(listed.json.Parts.map((p: { RangeInBytes: string }) => p.RangeInBytes), [`0-${MIB - 1}`, `${2 * MIB}-${3 * MIB - 1}`]);
}

test('copy-data: sqlite+file -> postgres+s3 (killed midway, resumed) -> sqlite+file, byte for byte', { timeout: 300_000 }, async (t) => {
  const cluster = await startPostgres();
  t.after(() => cluster.stop());
  const s3 = await startS3rver();
  t.after(() => s3.stop());
  await s3.createBucket(BUCKET);
  const url = await cluster.createDatabase('copy_target');
  const source = await tempDir('oas-copy-src-');
  const back = await tempDir('oas-copy-back-');
  const work = await tempDir('oas-copy-work-');
  t.after(async () => {
    for (const d of [source, back, work]) await rm(d, { recursive: true, force: true });
  });
  const expected = await populate(source);
  const s3Env = {
    OAS_S3_REGION: s3.region, OAS_S3_ACCESS_KEY_ID: s3.accessKeyId, OAS_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    OAS_S3_FORCE_PATH_STYLE: 'true',
  };
  const target = `${url},s3://${BUCKET}/cluster`;

  // First run, through a proxy that stalls the 6th blob upload: kill -9 while it hangs there.
  const proxy = await startFaultProxy(s3.endpoint);
  t.after(() => proxy.stop());
  let puts = 0;
  proxy.rule = ({ method, url: u }) => (method === 'PUT' && /\/blobs\/[0-9A-F]{32}(\?|$)/.test(u) && ++puts === 6 ? 'stall' : 'pass');
  const first = runCopy(['--from', source, '--to', target, '--parallel', '1'], { ...s3Env, OAS_S3_ENDPOINT: proxy.endpoint });
  const stalled = proxy.nextStall();
  const outcome = await Promise.race([stalled.then(() => 'stalled' as const), first.done.then(() => 'exited' as const)]);
  assert.equal(outcome, 'stalled', `copy-data ended before the stall: ${first.output()}`);
  first.kill();
  const killed = await first.done;
  assert.equal(killed.signal, 'SIGKILL');

  // Second run, straight to the S3 server: finishes, skipping what the first run completed.
  const second = await runCopy(['--from', source, '--to', target], { ...s3Env, OAS_S3_ENDPOINT: s3.endpoint }).done;
  assert.equal(second.code, 0, second.out);
  const skipped = /already there: (\d+) keys, (\d+) vaults, (\d+) archives/.exec(second.out);
  assert.ok(skipped, second.out);
  assert.equal(Number(skipped[1]), 2, 'both keys were copied by the first run');
  assert.ok(Number(skipped[3]) >= 1, `the first run completed at least one archive: ${second.out}`);
  assert.match(second.out, /done in/);

  // A third run finds everything there.
  const third = await runCopy(['--from', source, '--to', target], { ...s3Env, OAS_S3_ENDPOINT: s3.endpoint }).done;
  assert.equal(third.code, 0, third.out);
  assert.match(third.out, / 0 vaults, 0 archives, 0 uploads \(0 parts\), 0 jobs copied/);

  // The copy, served by a postgres+s3 server.
  const s3Options = {
    metadataUri: url, blobsUri: `s3://${BUCKET}/cluster`, s3Endpoint: s3.endpoint, s3Region: s3.region,
    s3AccessKeyId: s3.accessKeyId, s3SecretAccessKey: s3.secretAccessKey, s3ForcePathStyle: true,
  };
  const onCluster = await startServer({ dataDir: work, ...s3Options });
  try {
    await verify(onCluster, expected);
  } finally {
    await onCluster.stop();
  }

  // And back into a fresh embedded data directory.
  const home = await runCopy(['--from', target, '--to', back], { ...s3Env, OAS_S3_ENDPOINT: s3.endpoint }).done;
  assert.equal(home.code, 0, home.out);
  const home2 = await startServer(local(back));
  try {
    await verify(home2, expected);
    // Completing the copied open upload works on the far side of two copies.
    const u = expected.upload;
    const missing = u.parts[1]!;
    const h = hashBuffer(missing);
    assert.equal((await home2.client.request({ method: 'PUT', path: `/vaults/${u.vault}/multipart-uploads/${u.id}`, body: missing,
      headers: { 'Content-Range': `${MIB}-${2 * MIB - 1}`, 'x-oas-content-etag': h.etag, 'x-oas-tree-etag': h.treeEtag } })).status, 204);
    const done = await home2.client.request({ method: 'POST', path: `/vaults/${u.vault}/multipart-uploads/${u.id}`,
      headers: { 'x-oas-archive-size': u.size, 'x-oas-tree-etag': combineTreeEtags(u.trees) } });
    assert.equal(done.status, 201, done.text);
  } finally {
    await home2.stop();
  }
});

test('copy-data: a corrupt source blob is refused, reported, and the rest is copied with the leaf families it had', { timeout: 120_000 }, async (t) => {
  const from = await tempDir('oas-copy-bad-src-');
  const to = await tempDir('oas-copy-bad-dst-');
  t.after(async () => {
    for (const d of [from, to]) await rm(d, { recursive: true, force: true });
  });
  const s = await startServer(local(from));
  const vault = await s.client.vaultId('damaged');
  const good = pattern(MIB + 5, 1);
  const bad = pattern(2 * MIB, 2);
  const goodId = await s.client.archiveId(vault, good);
  const badId = await s.client.archiveId(vault, bad);
  const [segment] = await s.server.meta.getSegments(badId);
  await s.stop();
  // An archive stored by a server with the Glacier front end off has no SHA-256 leaves.
  const oasOnly = await startServer(local(from, { glacier: false }));
  const plain = pattern(3 * MIB, 3);
  const plainId = await oasOnly.client.archiveId(vault, plain);
  await oasOnly.stop();
  const { corruptBlobByte } = await import('./helpers/backends.js');
  await corruptBlobByte(from, segment!.blobKey, MIB + 3);
  const run = await runCopy(['--from', from, '--to', to], {}).done;
  assert.equal(run.code, 1, run.out);
  assert.match(run.out, new RegExp(`archive ${badId} .*bytes ${MIB}-${2 * MIB - 1} do not match their stored checksum`));
  const copy = await startServer(local(to));
  try {
    assert.equal((await copy.client.get(`/vaults/${vault}/archives/${goodId}/meta`)).status, 200);
    assert.equal((await copy.client.get(`/vaults/${vault}/archives/${badId}/meta`)).status, 404);
    const sha256LeavesOf = async (archiveId: string) => {
      const [segment] = await copy.server.meta.getSegments(archiveId);
      return copy.server.blobs.readLeaves(segment!.blobKey, 0, undefined, 'sha256').catch(() => null);
    };
    assert.equal((await sha256LeavesOf(goodId))?.length, 2 * 32, 'the copy keeps the SHA-256 leaves the source had');
    assert.equal(await sha256LeavesOf(plainId), null, 'and adds none the source did not have');
  } finally {
    await copy.close();
  }
});

test('copy-data: backend pairs and usage errors', async () => {
  const opts = resolveOptions({}, {});
  assert.deepEqual(parseBackendPair('/srv/oas', opts), {
    metadata: { kind: 'sqlite', path: '/srv/oas/meta.sqlite' }, blobs: { kind: 'file', dir: '/srv/oas/blobs' },
  });
  const pair = parseBackendPair('postgres://u:p@db:5432/oas?sslmode=disable,s3://bucket/pre/fix?endpoint=http://127.0.0.1:9000&path-style=true', opts);
  assert.equal(pair.metadata.kind, 'postgres');
  assert.deepEqual(pair.blobs, {
    kind: 's3', bucket: 'bucket', prefix: 'pre/fix/', endpoint: 'http://127.0.0.1:9000', region: undefined,
    forcePathStyle: true, accessKeyId: undefined, secretAccessKey: undefined,
  });
  for (const args of [[], ['--from', 'a'], ['--from', 'a', '--to', 'a'], ['--from', 'a', '--to', 'b', '--parallel', '0'], ['--from', 'mysql://x,file:y', '--to', 'b']]) {
    const out = await runCopy(args, {}).done;
    assert.equal(out.code, 2, `${args.join(' ')}: ${out.out}`);
    assert.match(out.out, /^oas-server: /);
  }
  const help = await runCopy(['--help'], {}).done;
  assert.equal(help.code, 0);
  assert.match(help.out, /--from <pair>/);
});
