import { test } from 'node:test';
import assert from 'node:assert/strict';
import { treeHash } from '@oas/sdk';
import {
  createVaultReply, archiveCreatedReply, uploadInitiatedReply, partUploadedReply, jobInitiatedReply, jobOutputReply,
} from '../src/http/glacier/responses.js';
import { checkCompleteUpload } from '../src/http/glacier/complete.js';
import { GlacierFailure, glacierError, type GlacierProblem } from '../src/http/glacier/errors.js';
import { newAccountId, newAwsAccessKeyId, newAwsSecretAccessKey, isAwsShapedKey } from '../src/util/aws-identity.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';

const MIB = 1024 * 1024;
const ctx = { region: 'us-east-1', accountId: '012345678901' };

function thrown(f: () => unknown): GlacierProblem {
  try {
    f();
  } catch (err) {
    if (err instanceof GlacierFailure) return err.problem;
    throw err;
  }
  assert.fail('expected a GlacierFailure');
}

test('success replies: statuses and headers of the reference', () => {
  assert.deepEqual(createVaultReply(ctx, 'v'), { status: 201, headers: { Location: '/012345678901/vaults/v' } });
  assert.deepEqual(archiveCreatedReply(ctx, 'v', 'A1', 'ab'), {
    status: 201, headers: { Location: '/012345678901/vaults/v/archives/A1', 'x-amz-archive-id': 'A1', 'x-amz-sha256-tree-hash': 'ab' },
  });
  assert.deepEqual(uploadInitiatedReply(ctx, 'v', 'U1'), {
    status: 201, headers: { Location: '/012345678901/vaults/v/multipart-uploads/U1', 'x-amz-multipart-upload-id': 'U1' },
  });
  assert.deepEqual(partUploadedReply('cd'), { status: 204, headers: { 'x-amz-sha256-tree-hash': 'cd' } });
  assert.deepEqual(jobInitiatedReply(ctx, 'v', 'J1'), { status: 202, headers: { Location: '/012345678901/vaults/v/jobs/J1', 'x-amz-job-id': 'J1' } });
});

test('GetJobOutput: 200 whole, 206 with Content-Range ranged; checksum and description only for archives', () => {
  const archive = { type: 'archive-retrieval', description: 'my "archive"' } as const;
  assert.deepEqual(jobOutputReply(archive, 100, undefined, 'ab'), {
    status: 200,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': '100', 'Accept-Ranges': 'bytes',
      'x-amz-sha256-tree-hash': 'ab', 'x-amz-archive-description': 'my "archive"' },
  });
  const ranged = jobOutputReply({ type: 'archive-retrieval', description: 'été' }, 100, { start: 10, end: 19 }, null);
  assert.deepEqual(ranged, { status: 206, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': '10', 'Accept-Ranges': 'bytes', 'Content-Range': 'bytes 10-19/100' } });
  assert.equal(jobOutputReply({ type: 'inventory-retrieval', format: 'CSV' }, 5, undefined, 'ignored').headers['Content-Type'], 'text/csv');
  assert.equal(jobOutputReply({ type: 'inventory-retrieval', format: 'JSON' }, 5, undefined, 'ignored').headers['x-amz-sha256-tree-hash'], undefined);
});

test('Complete: the parts\' roots combine into the archive hash; gaps, short parts and wrong hashes are refused', () => {
  const size = 9 * MIB + 123;
  const data = pattern(size);
  const partSize = 4 * MIB;
  const parts = [0, 1, 2].map((i) => {
    const start = i * partSize;
    const end = Math.min(start + partSize, size) - 1;
    return { start, end, treeHash: treeHash(data.subarray(start, end + 1)) };
  });
  const whole = treeHash(data);
  assert.equal(checkCompleteUpload([parts[2]!, parts[0]!, parts[1]!], partSize, size, whole.toUpperCase()), whole);
  assert.match(glacierError(thrown(() => checkCompleteUpload([parts[0]!, parts[2]!], partSize, size, whole))).body.message, /Missing part bytes 4194304-8388607/);
  assert.match(glacierError(thrown(() => checkCompleteUpload(parts, partSize, size - 1, whole))).body.message, /beyond the archive size/);
  const short = [parts[0]!, { ...parts[1]!, end: parts[1]!.end - 1 }, parts[2]!];
  assert.match(glacierError(thrown(() => checkCompleteUpload(short, partSize, size, whole))).body.message, /only the last part may be shorter/);
  const wrong = 'f'.repeat(64);
  assert.equal(glacierError(thrown(() => checkCompleteUpload(parts, partSize, size, wrong))).body.message, `Checksum mismatch: expected ${wrong}, computed ${whole}`);
  assert.equal(thrown(() => checkCompleteUpload([], partSize, 0, whole)).kind, 'invalid-parameter');
});

test('AWS-shaped identities', () => {
  const ids = new Set(Array.from({ length: 50 }, newAccountId));
  assert.ok(ids.size > 45);
  for (const id of ids) assert.match(id, /^\d{12}$/);
  for (let i = 0; i < 20; i++) {
    const id = newAwsAccessKeyId();
    const secret = newAwsSecretAccessKey();
    assert.match(id, /^AKIA[A-Z2-7]{16}$/);
    assert.match(secret, /^[A-Za-z0-9+/]{40}$/);
    assert.ok(isAwsShapedKey(id, secret));
  }
  assert.ok(!isAwsShapedKey('TESTROOTACCESSKEY', 'x'.repeat(40)));
  assert.ok(!isAwsShapedKey('A'.repeat(20), 'short'));
});

test('inventory selection: date window, limit and a marker that continues exactly where a page stopped', async () => {
  const { selectInventory } = await import('../src/http/glacier/inventory.js');
  const archives = Array.from({ length: 10 }, (_, i) => ({ id: `A${i}`, description: '', createdAt: i * 1000, size: i, treeHash: null }));
  const ids = async (params: { startDate: number | null; endDate: number | null; limit: number | null; marker: string | null }) => {
    const sel = selectInventory(archives, params);
    const out: string[] = [];
    for await (const a of sel.archives) out.push(a.id);
    return { out, next: sel.nextMarker() };
  };
  assert.deepEqual(await ids({ startDate: null, endDate: null, limit: null, marker: null }), { out: archives.map((a) => a.id), next: null });
  assert.deepEqual(await ids({ startDate: 2000, endDate: 5000, limit: null, marker: null }), { out: ['A2', 'A3', 'A4'], next: null });
  const first = await ids({ startDate: 1000, endDate: null, limit: 4, marker: null });
  assert.deepEqual(first, { out: ['A1', 'A2', 'A3', 'A4'], next: 'A5' });
  const second = await ids({ startDate: 1000, endDate: null, limit: 4, marker: first.next });
  assert.deepEqual(second, { out: ['A5', 'A6', 'A7', 'A8'], next: 'A9' });
  assert.deepEqual(await ids({ startDate: 1000, endDate: null, limit: 4, marker: second.next }), { out: ['A9'], next: null });
  assert.deepEqual(await ids({ startDate: null, endDate: null, limit: 10, marker: null }), { out: archives.map((a) => a.id), next: null });
});
