import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { signSigV4 } from '@oas/sdk';
import { matchGlacierRoute, isGlacierPath } from '../src/http/glacier/routes.js';
import { sigV4RequestOf, authenticateGlacier, authenticateSmallBody, readSmallBody } from '../src/http/glacier/auth.js';
import { GlacierFailure } from '../src/http/glacier/errors.js';

test('Glacier paths are told from OAS paths by their account segment', () => {
  for (const p of ['/-/vaults', '/012345678901/vaults/v', '/-/policies/data-retrieval', '/-/provisioned-capacity', '/abc/vaults']) assert.ok(isGlacierPath(p), p);
  for (const p of ['/vaults', '/vaults/ABC/archives', '/', '/-/other', '//vaults', '/metrics']) assert.ok(!isGlacierPath(p), p);
  assert.equal(matchGlacierRoute('GET', '/vaults/X'), null);
});

test('all 33 operations route, with their parameters decoded', () => {
  const cases: Array<[string, string, string | undefined, object]> = [
    ['GET', '/-/vaults', undefined, { operation: 'ListVaults' }],
    ['PUT', '/-/vaults/my.vault', undefined, { operation: 'CreateVault', vault: 'my.vault' }],
    ['GET', '/-/vaults/v', undefined, { operation: 'DescribeVault', vault: 'v' }],
    ['DELETE', '/-/vaults/v', undefined, { operation: 'DeleteVault', vault: 'v' }],
    ['POST', '/-/vaults/v/archives', undefined, { operation: 'UploadArchive', vault: 'v' }],
    ['DELETE', '/-/vaults/v/archives/A1', undefined, { operation: 'DeleteArchive', vault: 'v', archiveId: 'A1' }],
    ['POST', '/-/vaults/v/multipart-uploads', undefined, { operation: 'InitiateMultipartUpload', vault: 'v' }],
    ['GET', '/-/vaults/v/multipart-uploads', undefined, { operation: 'ListMultipartUploads', vault: 'v' }],
    ['PUT', '/-/vaults/v/multipart-uploads/U1', undefined, { operation: 'UploadMultipartPart', vault: 'v', uploadId: 'U1' }],
    ['GET', '/-/vaults/v/multipart-uploads/U1', undefined, { operation: 'ListParts', vault: 'v', uploadId: 'U1' }],
    ['POST', '/-/vaults/v/multipart-uploads/U1', undefined, { operation: 'CompleteMultipartUpload', vault: 'v', uploadId: 'U1' }],
    ['DELETE', '/-/vaults/v/multipart-uploads/U1', undefined, { operation: 'AbortMultipartUpload', vault: 'v', uploadId: 'U1' }],
    ['POST', '/-/vaults/v/jobs', undefined, { operation: 'InitiateJob', vault: 'v' }],
    ['GET', '/-/vaults/v/jobs', undefined, { operation: 'ListJobs', vault: 'v' }],
    ['GET', '/-/vaults/v/jobs/J1', undefined, { operation: 'DescribeJob', vault: 'v', jobId: 'J1' }],
    ['GET', '/-/vaults/v/jobs/J1/output', undefined, { operation: 'GetJobOutput', vault: 'v', jobId: 'J1' }],
    ['PUT', '/-/vaults/v/notification-configuration', undefined, { operation: 'SetVaultNotifications', vault: 'v' }],
    ['GET', '/-/vaults/v/notification-configuration', undefined, { operation: 'GetVaultNotifications', vault: 'v' }],
    ['DELETE', '/-/vaults/v/notification-configuration', undefined, { operation: 'DeleteVaultNotifications', vault: 'v' }],
    ['PUT', '/-/vaults/v/access-policy', undefined, { operation: 'SetVaultAccessPolicy', vault: 'v' }],
    ['GET', '/-/vaults/v/access-policy', undefined, { operation: 'GetVaultAccessPolicy', vault: 'v' }],
    ['DELETE', '/-/vaults/v/access-policy', undefined, { operation: 'DeleteVaultAccessPolicy', vault: 'v' }],
    ['POST', '/-/vaults/v/lock-policy', undefined, { operation: 'InitiateVaultLock', vault: 'v' }],
    ['GET', '/-/vaults/v/lock-policy', undefined, { operation: 'GetVaultLock', vault: 'v' }],
    ['DELETE', '/-/vaults/v/lock-policy', undefined, { operation: 'AbortVaultLock', vault: 'v' }],
    ['POST', '/-/vaults/v/lock-policy/L1', undefined, { operation: 'CompleteVaultLock', vault: 'v', lockId: 'L1' }],
    ['POST', '/-/vaults/v/tags', 'add', { operation: 'AddTagsToVault', vault: 'v' }],
    ['POST', '/-/vaults/v/tags', 'remove', { operation: 'RemoveTagsFromVault', vault: 'v' }],
    ['GET', '/-/vaults/v/tags', undefined, { operation: 'ListTagsForVault', vault: 'v' }],
    ['GET', '/-/policies/data-retrieval', undefined, { operation: 'GetDataRetrievalPolicy' }],
    ['PUT', '/-/policies/data-retrieval', undefined, { operation: 'SetDataRetrievalPolicy' }],
    ['GET', '/-/provisioned-capacity', undefined, { operation: 'ListProvisionedCapacity' }],
    ['POST', '/-/provisioned-capacity', undefined, { operation: 'PurchaseProvisionedCapacity' }],
  ];
  assert.equal(new Set(cases.map((c) => (c[3] as { operation: string }).operation)).size, 33);
  for (const [method, path, op, expected] of cases) {
    assert.deepEqual(matchGlacierRoute(method, path, op), { account: '-', ...expected }, `${method} ${path}`);
  }
  assert.deepEqual(matchGlacierRoute('get', '/012345678901/vaults/a%2Eb/'), { operation: 'DescribeVault', account: '012345678901', vault: 'a.b' });
});

test('Glacier-shaped requests without an operation are told apart from OAS ones', () => {
  for (const [method, path, op] of [
    ['POST', '/-/vaults', undefined], ['PATCH', '/-/vaults/v', undefined], ['GET', '/-/vaults/v/archives', undefined],
    ['POST', '/-/vaults/v/tags', undefined], ['POST', '/-/vaults/v/tags', 'replace'], ['GET', '/-/vaults/v/jobs/J/output/x', undefined],
    ['GET', '/-/vaults/%E0%A4%A', undefined], ['GET', '/-/vaults//archives', undefined],
  ] as Array<[string, string, string | undefined]>) {
    assert.deepEqual(matchGlacierRoute(method, path, op), { operation: null, account: '-' }, `${method} ${path} ${op}`);
  }
});

const KEY = { accessKeyId: 'AKIAROUTESTEST000001', secretAccessKey: 'routes/secret/0123456789abcdefghijklmnop' };
const secretFor = (id: string): string | undefined => (id === KEY.accessKeyId ? KEY.secretAccessKey : undefined);

function incoming(method: string, url: string, headers: Record<string, string>, payloadHash?: string, sendPayloadHash = true): { method: string; url: string; rawHeaders: string[] } {
  const q = url.indexOf('?');
  const added = signSigV4({ method, path: q < 0 ? url : url.slice(0, q), query: q < 0 ? '' : url.slice(q + 1), headers },
    KEY, { region: 'us-east-1', payloadHash, sendPayloadHash });
  return { method, url, rawHeaders: Object.entries({ ...headers, ...added }).flat() };
}

test('sigV4RequestOf splits the raw URL and keeps raw headers; authenticateGlacier throws the precise refusal', async () => {
  const req = incoming('GET', '/-/vaults?limit=2&marker=arn%3Aaws', { Host: '127.0.0.1:1' });
  const request = sigV4RequestOf(req);
  assert.equal(request.path, '/-/vaults');
  assert.equal(request.query, 'limit=2&marker=arn%3Aaws');
  assert.equal((await authenticateGlacier(req, { secretFor })).auth.accessKeyId, KEY.accessKeyId);
  await assert.rejects(authenticateGlacier({ ...req, url: '/-/vaults?limit=3&marker=arn%3Aaws' }, { secretFor }),
    (err: unknown) => err instanceof GlacierFailure && err.problem.kind === 'signature' && err.problem.failure.reason === 'signature-mismatch');
  await assert.rejects(authenticateGlacier(req, { secretFor: () => undefined }),
    (err: unknown) => err instanceof GlacierFailure && err.message === 'The security token included in the request is invalid.');
});

test('small JSON bodies: hashed for the verifier with or without x-amz-content-sha256, bounded', async () => {
  const json = '{"Type":"inventory-retrieval"}';
  const sha = createHash('sha256').update(json).digest('hex');
  const body = await readSmallBody(Readable.from([Buffer.from(json.slice(0, 5)), json.slice(5)]));
  assert.equal(body.sha256, sha);
  assert.equal(body.bytes.toString(), json);
  // botocore style: no x-amz-content-sha256, the body hash is in the signature.
  const unsignedHeader = incoming('POST', '/-/vaults/v/jobs', { Host: 'h', 'Content-Type': 'application/json' }, sha, false);
  assert.equal((await authenticateSmallBody(unsignedHeader, body, { secretFor })).bodyCheckNeeded, false);
  // JS SDK style: x-amz-content-sha256 present; a body that differs is refused after the signature passes.
  const declared = incoming('POST', '/-/vaults/v/jobs', { Host: 'h' }, sha);
  assert.ok((await authenticateSmallBody(declared, body, { secretFor })).ok);
  const other = await readSmallBody(Readable.from([Buffer.from('{"Type":"archive-retrieval"}')]));
  await assert.rejects(authenticateSmallBody(declared, other, { secretFor }),
    (err: unknown) => err instanceof GlacierFailure && err.problem.kind === 'payload-hash-mismatch' && err.problem.expected === sha);
  await assert.rejects(readSmallBody(Readable.from([Buffer.alloc(10)]), 9),
    (err: unknown) => err instanceof GlacierFailure && /larger than 9 bytes/.test(err.message));
});
