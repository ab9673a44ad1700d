// Stored bytes are checked on their way out: a byte flipped after a retrieval job succeeded
// is never served in a complete 2xx body, whole or ranged, whichever leaf it is in; ranges
// that do not touch it are still served, with bytes matching the announced tree etag; every
// refusal is counted in /metrics. Runs on every backend of the matrix (file and S3 blobs).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hashBuffer, treeEtag } from '@oas/sdk';
import { corruptBlobByte } from './helpers/backends.js';
import type { Client } from './helpers/client.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { startServer, type TestServer } from './helpers/server.js';

const MIB = 1024 * 1024;
/** Four leaves: three whole, the last 500 KiB. */
const SIZE = 3 * MIB + 500 * 1024;

let t: TestServer;
let vault: string;
let data: Buffer;
let jobId: string;
let blobKey: string;

before(async () => {
  t = await startServer();
  vault = await t.client.vaultId('read-verify');
  data = pattern(SIZE, 31);
  const archiveId = await t.client.archiveId(vault, data);
  jobId = await t.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: archiveId });
  const job = await t.client.waitJob(vault, jobId);
  assert.equal(job.StatusCode, 'Succeeded');
  const segments = await t.server.meta.getSegments(archiveId);
  assert.equal(segments.length, 1);
  blobKey = segments[0]!.blobKey;
});

after(() => t.close());

/** GET of the job output: the response if one arrived complete, else 'aborted'. */
async function output(client: Client, range?: string) {
  try {
    return await client.get(`/vaults/${vault}/jobs/${jobId}/output`, range ? { Range: range } : {});
  } catch {
    return 'aborted' as const;
  }
}

async function failures(): Promise<number> {
  const res = await t.client.request({ method: 'GET', path: '/metrics', sign: false });
  const m = /^oas_read_verify_failures_total (\d+)$/m.exec(res.text);
  assert.ok(m, 'the metric is exposed');
  return Number(m[1]);
}

test('intact data: whole and ranged output match the announced tree etags', async () => {
  const whole = await output(t.client);
  assert.notEqual(whole, 'aborted');
  if (whole === 'aborted') return;
  assert.equal(whole.status, 200);
  assert.ok(whole.body.equals(data));
  const ranged = await output(t.client, `bytes=${MIB}-${3 * MIB - 1}`);
  assert.notEqual(ranged, 'aborted');
  if (ranged === 'aborted') return;
  assert.equal(ranged.status, 206);
  assert.ok(ranged.body.equals(data.subarray(MIB, 3 * MIB)));
  assert.equal(ranged.headers['x-oas-tree-etag'], treeEtag(ranged.body));
  assert.equal(await failures(), 0);
});

for (const [name, offset] of [['first', 10], ['middle', 2 * MIB + 5], ['last', 3 * MIB + 400 * 1024]] as const) {
  test(`a byte flipped in the ${name} leaf after the job succeeded is never served in a complete 2xx body`, async () => {
    const leaf = Math.floor(offset / MIB);
    await corruptBlobByte(t.dataDir, blobKey, offset);
    try {
      const before = await failures();
      const ranges: (string | undefined)[] = [
        undefined, // whole
        `bytes=${leaf * MIB}-${Math.min(SIZE, (leaf + 1) * MIB) - 1}`, // exactly the bad leaf
        `bytes=0-${Math.min(SIZE, (leaf + 1) * MIB) - 1}`, // from the start through the bad leaf
        `bytes=${leaf * MIB}-${SIZE - 1}`, // from the bad leaf to the end
      ];
      for (const range of ranges) {
        const res = await output(t.client, range);
        if (res !== 'aborted') {
          assert.ok(res.status < 200 || res.status >= 300, `${range ?? 'whole'}: answered ${res.status} with a complete body`);
        }
      }
      assert.equal(await failures(), before + ranges.length, 'every refused read is counted');
      // A range that does not touch the bad leaf is still served, and matches its tree etag.
      const clean = leaf === 0 ? `bytes=${MIB}-${SIZE - 1}` : `bytes=0-${MIB - 1}`;
      const ok = await output(t.client, clean);
      assert.notEqual(ok, 'aborted', `${clean} is intact`);
      if (ok === 'aborted') return;
      assert.equal(ok.status, 206);
      const [from, to] = clean.slice(6).split('-').map(Number) as [number, number];
      assert.ok(ok.body.equals(data.subarray(from, to + 1)));
      assert.equal(ok.headers['x-oas-tree-etag'], hashBuffer(ok.body).treeEtag);
    } finally {
      await corruptBlobByte(t.dataDir, blobKey, offset); // flips it back
    }
    const whole = await output(t.client);
    assert.ok(whole !== 'aborted' && whole.status === 200 && whole.body.equals(data), 'served again once repaired');
  });
}
