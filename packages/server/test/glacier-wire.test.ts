import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  resolveAccountId, isAccountId, isGlacierVaultName, vaultArn, vaultNameFromArn, glacierLocation, vaultJson, listVaultsJson,
  listUploadsJson, listPartsJson, jobJson, listJobsJson, inventoryJsonChunks, inventoryCsvChunks, csvField,
  parseLimit, parsePartSize, parsePartRange, checkSingleUploadLength, parseArchiveSize, parseSha256Header, parseArchiveDescription,
  archiveDescriptionHeader, parseRetrievalByteRange, parseOutputRange, parseJobFilters, parseJobParameters,
  type GlacierContext, type GlacierJobRecord,
} from '../src/http/glacier/wire.js';
import { GlacierFailure, glacierError, GLACIER_ERROR_CODES, type GlacierProblem } from '../src/http/glacier/errors.js';
import { toGlacierProblem } from '../src/http/glacier/problems.js';
import { StorageFullError } from '../src/service/errors.js';

const MIB = 1024 * 1024;
const ctx: GlacierContext = { region: 'us-west-2', accountId: '012345678901' };

/** The problem a parser threw. */
function thrown(f: () => unknown): GlacierProblem {
  try {
    f();
  } catch (err) {
    if (err instanceof GlacierFailure) return err.problem;
    throw err;
  }
  assert.fail('expected a GlacierFailure');
}

function message(f: () => unknown): string {
  return glacierError(thrown(f)).body.message;
}

test('account ids: "-" and the caller\'s own id resolve to it; any other id is AccessDenied', () => {
  assert.equal(resolveAccountId('-', '012345678901'), '012345678901');
  assert.equal(resolveAccountId('012345678901', '012345678901'), '012345678901');
  const p = thrown(() => resolveAccountId('111111111111', '012345678901'));
  assert.deepEqual(glacierError(p).status, 403);
  assert.equal(glacierError(p).body.code, 'AccessDeniedException');
  assert.ok(isAccountId('012345678901'));
  assert.ok(!isAccountId('01234567890') && !isAccountId('0123-4567-8901') && !isAccountId('-'));
});

test('vault names: Glacier\'s charset, 1 to 255 characters', () => {
  for (const ok of ['a', 'Example.Vault_1-2', 'x'.repeat(255), '...', 'UPPER']) assert.ok(isGlacierVaultName(ok), ok);
  for (const bad of ['', 'x'.repeat(256), 'a b', 'a/b', 'é', 'a:b', 'a%20']) assert.ok(!isGlacierVaultName(bad), bad);
});

test('ARNs, markers and Location headers use the numeric account id', () => {
  assert.equal(vaultArn(ctx, 'examplevault'), 'arn:aws:glacier:us-west-2:012345678901:vaults/examplevault');
  assert.equal(vaultNameFromArn(ctx, 'arn:aws:glacier:us-west-2:012345678901:vaults/examplevault'), 'examplevault');
  assert.equal(vaultNameFromArn(ctx, 'arn:aws:glacier:us-west-2:999999999999:vaults/examplevault'), null);
  assert.equal(vaultNameFromArn(ctx, 'examplevault'), null);
  assert.equal(glacierLocation.vault(ctx, 'v.1'), '/012345678901/vaults/v.1');
  assert.equal(glacierLocation.archive(ctx, 'v', 'A1'), '/012345678901/vaults/v/archives/A1');
  assert.equal(glacierLocation.upload(ctx, 'v', 'U1'), '/012345678901/vaults/v/multipart-uploads/U1');
  assert.equal(glacierLocation.job(ctx, 'v', 'J1'), '/012345678901/vaults/v/jobs/J1');
});

test('DescribeVault matches the guide\'s example; nulls before the first inventory', () => {
  const json = vaultJson(ctx, {
    name: 'examplevault', createdAt: Date.parse('2012-02-20T17:01:45.198Z'), lastInventoryAt: Date.parse('2012-03-20T17:03:43.221Z'),
    archiveCount: 192, sizeInBytes: 78088912,
  });
  assert.equal(JSON.stringify(json), JSON.stringify({
    CreationDate: '2012-02-20T17:01:45.198Z', LastInventoryDate: '2012-03-20T17:03:43.221Z', NumberOfArchives: 192, SizeInBytes: 78088912,
    VaultARN: 'arn:aws:glacier:us-west-2:012345678901:vaults/examplevault', VaultName: 'examplevault',
  }));
  const fresh = vaultJson(ctx, { name: 'v', createdAt: 0, lastInventoryAt: null, archiveCount: null, sizeInBytes: null });
  assert.equal(fresh.LastInventoryDate, null);
  assert.equal(fresh.NumberOfArchives, null);
});

test('ListVaults: Marker is the next vault\'s ARN, JSON null at the end', () => {
  const v = { name: 'a', createdAt: 0, lastInventoryAt: null, archiveCount: 0, sizeInBytes: 0 };
  assert.equal(listVaultsJson(ctx, [v], 'b').Marker, 'arn:aws:glacier:us-west-2:012345678901:vaults/b');
  const last = JSON.parse(JSON.stringify(listVaultsJson(ctx, [v], null)));
  assert.equal(last.Marker, null);
  assert.deepEqual(Object.keys(last), ['Marker', 'VaultList']);
});

test('ListMultipartUploads and ListParts shapes', () => {
  const upload = { id: 'U1', description: 'archive 1', createdAt: Date.parse('2012-03-19T23:20:59.130Z'), partSize: 4 * MIB };
  assert.deepEqual(listUploadsJson(ctx, 'v', [upload], null), {
    Marker: null,
    UploadsList: [{ ArchiveDescription: 'archive 1', CreationDate: '2012-03-19T23:20:59.130Z', MultipartUploadId: 'U1',
      PartSizeInBytes: 4194304, VaultARN: 'arn:aws:glacier:us-west-2:012345678901:vaults/v' }],
  });
  const parts = listPartsJson(ctx, 'v', { ...upload, description: '' }, [{ start: 0, end: 4194303, treeHash: '01d3' + '0'.repeat(60) }], '4194304');
  assert.deepEqual(parts, {
    ArchiveDescription: null, CreationDate: '2012-03-19T23:20:59.130Z', MultipartUploadId: 'U1', PartSizeInBytes: 4194304,
    VaultARN: 'arn:aws:glacier:us-west-2:012345678901:vaults/v', Marker: '4194304',
    Parts: [{ RangeInBytes: '0-4194303', SHA256TreeHash: '01d3' + '0'.repeat(60) }],
  });
});

const ARCHIVE_TREE = 'beb0fe31a1c7ca8c6c04d574ea906e3f97b31fdca7571defb5b44dca89b5af60';
const RANGE_TREE = 'aa'.repeat(32);
function archiveJob(overrides: Partial<GlacierJobRecord> = {}): GlacierJobRecord {
  return {
    id: 'J1', type: 'archive-retrieval', description: 'My ArchiveRetrieval Job', createdAt: Date.parse('2012-05-15T17:21:39.339Z'),
    status: 'Succeeded', statusMessage: 'Succeeded', completedAt: Date.parse('2012-05-15T17:21:43.561Z'), snsTopic: null, tier: 'Standard',
    archiveId: 'A1', archiveSize: 10 * MIB + 5, archiveTreeHash: ARCHIVE_TREE, retrievalRange: null, rangeTreeHash: null,
    inventorySize: null, inventory: null, ...overrides,
  };
}

test('DescribeJob, archive retrieval: every field, in the model\'s order, nulls where Glacier has them', () => {
  const json = jobJson(ctx, 'examplevault', archiveJob());
  assert.deepEqual(Object.keys(json), ['JobId', 'JobDescription', 'Action', 'ArchiveId', 'VaultARN', 'CreationDate', 'Completed',
    'StatusCode', 'StatusMessage', 'ArchiveSizeInBytes', 'InventorySizeInBytes', 'SNSTopic', 'CompletionDate', 'SHA256TreeHash',
    'ArchiveSHA256TreeHash', 'RetrievalByteRange', 'Tier', 'InventoryRetrievalParameters', 'JobOutputPath', 'SelectParameters', 'OutputLocation']);
  assert.deepEqual(json, {
    JobId: 'J1', JobDescription: 'My ArchiveRetrieval Job', Action: 'ArchiveRetrieval', ArchiveId: 'A1',
    VaultARN: 'arn:aws:glacier:us-west-2:012345678901:vaults/examplevault', CreationDate: '2012-05-15T17:21:39.339Z', Completed: true,
    StatusCode: 'Succeeded', StatusMessage: 'Succeeded', ArchiveSizeInBytes: 10 * MIB + 5, InventorySizeInBytes: null, SNSTopic: null,
    CompletionDate: '2012-05-15T17:21:43.561Z', SHA256TreeHash: ARCHIVE_TREE, ArchiveSHA256TreeHash: ARCHIVE_TREE,
    RetrievalByteRange: `0-${10 * MIB + 4}`, Tier: 'Standard', InventoryRetrievalParameters: null, JobOutputPath: null,
    SelectParameters: null, OutputLocation: null,
  });
});

test('DescribeJob SHA256TreeHash: null in progress for the whole archive, the range\'s hash when aligned, null when not', () => {
  assert.equal(jobJson(ctx, 'v', archiveJob({ status: 'InProgress', completedAt: null, statusMessage: null })).SHA256TreeHash, null);
  assert.equal(jobJson(ctx, 'v', archiveJob({ status: 'InProgress', completedAt: null })).Completed, false);
  const aligned = { start: 4 * MIB, end: 8 * MIB - 1 };
  assert.equal(jobJson(ctx, 'v', archiveJob({ retrievalRange: aligned, rangeTreeHash: RANGE_TREE, status: 'InProgress' })).SHA256TreeHash, RANGE_TREE);
  const whole = jobJson(ctx, 'v', archiveJob({ retrievalRange: { start: 0, end: 10 * MIB + 4 } }));
  assert.equal(whole.SHA256TreeHash, ARCHIVE_TREE);
  const unaligned = jobJson(ctx, 'v', archiveJob({ retrievalRange: { start: MIB, end: 3 * MIB - 1 }, rangeTreeHash: RANGE_TREE }));
  assert.equal(unaligned.SHA256TreeHash, null);
  assert.equal(unaligned.RetrievalByteRange, `${MIB}-${3 * MIB - 1}`);
  assert.equal(unaligned.ArchiveSHA256TreeHash, ARCHIVE_TREE);
});

test('DescribeJob, inventory retrieval: parameters echoed, sizes and hashes null until done', () => {
  const inv: GlacierJobRecord = archiveJob({
    type: 'inventory-retrieval', archiveId: null, archiveSize: null, archiveTreeHash: null, description: '', tier: null,
    status: 'InProgress', completedAt: null, statusMessage: null, inventorySize: null,
    inventory: { format: 'CSV', startDate: Date.parse('2013-01-01T00:00:00Z'), endDate: null, limit: 10000, marker: null },
  });
  const running = jobJson(ctx, 'v', inv);
  assert.equal(running.Action, 'InventoryRetrieval');
  assert.equal(running.JobDescription, null);
  assert.equal(running.ArchiveId, null);
  assert.equal(running.RetrievalByteRange, null);
  assert.equal(running.SHA256TreeHash, null);
  assert.equal(running.InventorySizeInBytes, null);
  assert.deepEqual(running.InventoryRetrievalParameters, { Format: 'CSV', StartDate: '2013-01-01T00:00:00.000Z', EndDate: null, Limit: '10000', Marker: null });
  const done = jobJson(ctx, 'v', { ...inv, status: 'Succeeded', completedAt: 1, inventorySize: 1234, inventory: { ...inv.inventory!, marker: 'NEXT' } });
  assert.equal(done.InventorySizeInBytes, 1234);
  assert.equal(done.InventoryRetrievalParameters!.Marker, 'NEXT');
  assert.deepEqual(Object.keys(listJobsJson(ctx, 'v', [inv], null)), ['JobList', 'Marker']);
});

test('inventory JSON: the guide\'s shape, InventoryDate without milliseconds, chunked for big vaults', async () => {
  const archives = [
    { id: 'DMTmICA2', description: 'my archive1', createdAt: Date.parse('2012-05-15T17:19:46.700Z'), size: 2140123, treeHash: '6b9d4cf8697bd3af6aa1b590a0b27b337da5b18988dbcc619a3e608a554a1e62' },
    { id: 'X', description: 'q"uote,comma', createdAt: 0, size: 0, treeHash: null },
  ];
  let text = '';
  for await (const chunk of inventoryJsonChunks(ctx, 'examplevault', Date.parse('2011-12-12T14:19:01.000Z'), archives)) text += chunk;
  assert.deepEqual(JSON.parse(text), {
    VaultARN: 'arn:aws:glacier:us-west-2:012345678901:vaults/examplevault', InventoryDate: '2011-12-12T14:19:01Z',
    ArchiveList: [
      { ArchiveId: 'DMTmICA2', ArchiveDescription: 'my archive1', CreationDate: '2012-05-15T17:19:46.700Z', Size: 2140123, SHA256TreeHash: archives[0]!.treeHash },
      { ArchiveId: 'X', ArchiveDescription: 'q"uote,comma', CreationDate: '1970-01-01T00:00:00.000Z', Size: 0, SHA256TreeHash: null },
    ],
  });
  let chunks = 0;
  let big = '';
  function* many(): Generator<typeof archives[0]> {
    for (let i = 0; i < 5000; i++) yield { ...archives[0]!, id: `A${i}` };
  }
  for await (const chunk of inventoryJsonChunks(ctx, 'v', 0, many())) { chunks++; big += chunk; assert.ok(chunk.length < 70_000); }
  assert.ok(chunks > 5);
  assert.equal(JSON.parse(big).ArchiveList.length, 5000);
  let empty = '';
  for await (const chunk of inventoryJsonChunks(ctx, 'v', 0, [])) empty += chunk;
  assert.deepEqual(JSON.parse(empty).ArchiveList, []);
});

test('inventory CSV: header row, AWS quoting (backslash-escaped quotes, backslashes as they are)', async () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say \\"hi\\""');
  assert.equal(csvField('back\\slash'), 'back\\slash');
  let text = '';
  for await (const chunk of inventoryCsvChunks([
    { id: 'A1', description: 'mt2 eyJ', createdAt: Date.parse('2012-05-15T17:19:46.700Z'), size: 5, treeHash: 'ab'.repeat(32) },
    { id: 'A2', description: 'x,"y"', createdAt: 0, size: 0, treeHash: null },
  ])) text += chunk;
  assert.equal(text, 'ArchiveId,ArchiveDescription,CreationDate,Size,SHA256TreeHash\n'
    + `A1,mt2 eyJ,2012-05-15T17:19:46.700Z,5,${'ab'.repeat(32)}\n`
    + 'A2,"x,\\"y\\"",1970-01-01T00:00:00.000Z,0,\n');
});

test('the error table: every code has the status and type of the reference', () => {
  const expected: Record<string, [number, string]> = {
    AccessDeniedException: [403, 'Client'], BadRequest: [400, 'Client'], InvalidParameterValueException: [400, 'Client'],
    InvalidSignatureException: [403, 'Client'], LimitExceededException: [400, 'Client'], MissingAuthenticationTokenException: [400, 'Client'],
    MissingParameterValueException: [400, 'Client'], RequestTimeoutException: [408, 'Client'], ResourceNotFoundException: [404, 'Client'],
    SerializationException: [400, 'Client'], ServiceUnavailableException: [500, 'Server'], ThrottlingException: [400, 'Client'],
    UnrecognizedClientException: [400, 'Client'],
  };
  for (const [code, { status, type }] of Object.entries(GLACIER_ERROR_CODES)) assert.deepEqual([status, type], expected[code], code);
});

test('errors carry AWS\'s exact messages where scripts match on them', () => {
  const arn = 'arn:aws:glacier:us-west-2:012345678901:vaults/examplevault';
  const cases: Array<[GlacierProblem, number, string, string]> = [
    [{ kind: 'vault-not-found', vaultArn: arn }, 404, 'ResourceNotFoundException', `Vault not found for ARN: ${arn}`],
    [{ kind: 'archive-not-found', archiveId: 'A1' }, 404, 'ResourceNotFoundException', 'The archive ID was not found: A1'],
    [{ kind: 'job-not-found', jobId: 'J1' }, 404, 'ResourceNotFoundException', 'The job ID was not found: J1'],
    [{ kind: 'archive-in-other-vault', vaultArn: arn }, 400, 'InvalidParameterValueException', `Invalid vault name: ${arn}`],
    [{ kind: 'vault-not-empty', vaultArn: arn }, 400, 'InvalidParameterValueException', `Vault not empty or recently written to: ${arn}`],
    [{ kind: 'checksum-mismatch', expected: 'aa', computed: 'bb' }, 400, 'InvalidParameterValueException', 'Checksum mismatch: expected aa, computed bb'],
    [{ kind: 'job-not-ready', jobId: 'J1' }, 400, 'InvalidParameterValueException', 'The job is not currently available for download: J1'],
    [{ kind: 'invalid-status-code', value: 'finished' }, 400, 'InvalidParameterValueException', 'The job status code is not valid: finished'],
    [{ kind: 'invalid-content-length', value: '38505164800' }, 400, 'InvalidParameterValueException', 'Invalid Content-Length: 38505164800'],
    [{ kind: 'body-timeout' }, 408, 'RequestTimeoutException', 'The request body was not received in time.'],
    [{ kind: 'internal' }, 500, 'ServiceUnavailableException', 'The server could not complete the request; it is safe to retry.'],
  ];
  for (const [p, status, code, msg] of cases) {
    const r = glacierError(p);
    assert.deepEqual([r.status, r.body.code, r.body.message], [status, code, msg], p.kind);
    assert.equal(r.body.type, status >= 500 ? 'Server' : 'Client');
  }
});

test('signature failures map to Glacier\'s codes; a mismatch shows what the server signed', () => {
  const sig = (reason: string, extra = {}): ReturnType<typeof glacierError> =>
    glacierError({ kind: 'signature', failure: { ok: false, reason: reason as never, message: 'm', ...extra } });
  assert.deepEqual([sig('missing-authorization').status, sig('missing-authorization').body.code], [400, 'MissingAuthenticationTokenException']);
  assert.deepEqual([sig('unknown-access-key').status, sig('unknown-access-key').body.code], [400, 'UnrecognizedClientException']);
  assert.deepEqual([sig('clock-skew').status, sig('clock-skew').body.code], [403, 'InvalidSignatureException']);
  const mismatch = sig('signature-mismatch', { canonicalRequest: 'GET\n/', stringToSign: 'AWS4-HMAC-SHA256\nX' });
  assert.equal(mismatch.body.code, 'InvalidSignatureException');
  assert.match(mismatch.body.message, /The Canonical String for this request should have been\n'GET\n\/'/);
});

test('limit: default, clamped to the maximum, refused when not a positive integer', () => {
  assert.equal(parseLimit(undefined, { fallback: 10, max: 10 }), 10);
  assert.equal(parseLimit('3', { fallback: 10, max: 10 }), 3);
  assert.equal(parseLimit('1000', { fallback: 50, max: 50 }), 50);
  for (const bad of ['0', '-1', 'ten', '1.5']) assert.equal(thrown(() => parseLimit(bad, { fallback: 10, max: 10 })).kind, 'invalid-parameter', bad);
});

test('part size: 1 MiB × 2^k up to 4 GiB, AWS\'s message otherwise', () => {
  for (const ok of [MIB, 2 * MIB, 1024 * MIB, 4096 * MIB]) assert.equal(parsePartSize(String(ok)), ok);
  assert.equal(message(() => parsePartSize('10485760')),
    'Invalid part size: 10485760. Part size must not be null, must be a power of two and be between 1048576 and 4294967296 bytes.');
  for (const bad of [undefined, '524288', String(8192 * MIB), '3145728', 'abc']) assert.equal(thrown(() => parsePartSize(bad)).kind, 'invalid-part-size');
});

test('part Content-Range: bytes a-b/*, on a part boundary, at most one part, matching Content-Length, ≤10,000 parts', () => {
  assert.deepEqual(parsePartRange('bytes 0-4194303/*', 4 * MIB, 4 * MIB), { start: 0, end: 4194303, partNumber: 1 });
  assert.deepEqual(parsePartRange('bytes 4194304-4194399/*', 96, 4 * MIB), { start: 4194304, end: 4194399, partNumber: 2 });
  assert.equal(message(() => parsePartRange('bytes 13631488-14296893/*', 665405, MIB)),
    'Content-Range: bytes 13631488-14296893/* is incompatible with Content-Length: 665405');
  assert.equal(message(() => parsePartRange('bytes 909994937-909994936/*', 0, MIB)), 'Invalid Content-Range: bytes 909994937-909994936/*');
  assert.equal(thrown(() => parsePartRange('bytes 1-1048576/*', MIB, MIB)).kind, 'invalid-content-range');
  assert.equal(thrown(() => parsePartRange('bytes 0-2097151/*', 2 * MIB, MIB)).kind, 'invalid-content-range');
  assert.equal(thrown(() => parsePartRange('0-1048575', MIB, MIB)).kind, 'invalid-content-range');
  assert.equal(thrown(() => parsePartRange(undefined, MIB, MIB)).kind, 'missing-parameter');
  assert.equal(message(() => parsePartRange(`bytes ${10000 * MIB}-${10001 * MIB - 1}/*`, MIB, MIB)),
    'This is part number 10001 for the current multipart upload. It exceeds the limit of 10000 parts.');
});

test('single upload length, archive size, hash headers and descriptions', () => {
  assert.equal(checkSingleUploadLength('5'), 5);
  assert.equal(message(() => checkSingleUploadLength('38505164800')), 'Invalid Content-Length: 38505164800');
  assert.equal(thrown(() => checkSingleUploadLength(undefined)).kind, 'missing-parameter');
  assert.equal(parseArchiveSize('123'), 123);
  assert.equal(thrown(() => parseArchiveSize('-1')).kind, 'invalid-parameter');
  assert.equal(parseSha256Header('x-amz-sha256-tree-hash', 'AB'.repeat(32)), 'ab'.repeat(32));
  assert.equal(thrown(() => parseSha256Header('x-amz-sha256-tree-hash', 'abc')).kind, 'invalid-parameter');
  assert.equal(thrown(() => parseSha256Header('x-amz-sha256-tree-hash', undefined)).kind, 'missing-parameter');
  assert.equal(parseArchiveDescription(undefined), '');
  assert.equal(parseArchiveDescription('my "backup", 2026'), 'my "backup", 2026');
  assert.equal(thrown(() => parseArchiveDescription('é')).kind, 'invalid-parameter');
  assert.equal(thrown(() => parseArchiveDescription('x'.repeat(1025))).kind, 'invalid-parameter');
  assert.equal(archiveDescriptionHeader('plain'), 'plain');
  assert.equal(archiveDescriptionHeader('sauvegarde été'), null);
  assert.equal(archiveDescriptionHeader(''), null);
});

test('RetrievalByteRange: start-end, inside the archive, megabyte aligned', () => {
  const size = 10 * MIB + 5;
  assert.deepEqual(parseRetrievalByteRange(`${MIB}-${3 * MIB - 1}`, size), { start: MIB, end: 3 * MIB - 1 });
  assert.deepEqual(parseRetrievalByteRange(`${8 * MIB}-${size - 1}`, size), { start: 8 * MIB, end: size - 1 });
  assert.match(message(() => parseRetrievalByteRange(`1-${MIB}`, size)), /not megabyte aligned/);
  assert.match(message(() => parseRetrievalByteRange(`0-${MIB}`, size)), /not megabyte aligned/);
  assert.match(message(() => parseRetrievalByteRange(`0-${size}`, size)), /outside the archive/);
  assert.match(message(() => parseRetrievalByteRange('bytes=0-1', size)), /StartByteValue-EndByteValue/);
});

test('GetJobOutput Range: relative to the output, end clipped, start beyond it refused with AWS\'s message', () => {
  assert.equal(parseOutputRange(undefined, 100), undefined);
  assert.deepEqual(parseOutputRange('bytes=0-9', 100), { start: 0, end: 9 });
  assert.deepEqual(parseOutputRange('bytes=90-200', 100), { start: 90, end: 99 });
  assert.deepEqual(parseOutputRange('bytes=90-', 100), { start: 90, end: 99 });
  assert.equal(message(() => parseOutputRange('bytes=8388608-12582911', 4 * MIB)),
    'The start of the range is larger than size of retrieved data: bytes=8388608-12582911');
  assert.equal(thrown(() => parseOutputRange('bytes 0-9/100', 100)).kind, 'invalid-parameter');
});

test('ListJobs filters', () => {
  assert.deepEqual(parseJobFilters(undefined, undefined), {});
  assert.deepEqual(parseJobFilters('true', 'Succeeded'), { completed: true, status: 'Succeeded' });
  assert.equal(message(() => parseJobFilters(undefined, 'finished')), 'The job status code is not valid: finished');
  assert.equal(thrown(() => parseJobFilters('yes', undefined)).kind, 'invalid-parameter');
});

test('InitiateJob parameters: the object itself, any Content-Type; select refused clearly', () => {
  assert.deepEqual(parseJobParameters('{"Type":"archive-retrieval","ArchiveId":"A1","RetrievalByteRange":"0-1048575","Tier":"Expedited","SNSTopic":"arn:aws:sns:us-east-1:012345678901:t"}'), {
    description: null, snsTopic: 'arn:aws:sns:us-east-1:012345678901:t', tier: 'Expedited', type: 'archive-retrieval', archiveId: 'A1', retrievalByteRange: '0-1048575',
  });
  assert.deepEqual(parseJobParameters('{"Type":"inventory-retrieval","Format":"CSV","Description":"inv","InventoryRetrievalParameters":{"StartDate":"2013-01-01T00:00:00Z","Limit":"2","Marker":"M"}}'), {
    description: 'inv', snsTopic: null, tier: 'Standard', type: 'inventory-retrieval',
    inventory: { format: 'CSV', startDate: Date.UTC(2013, 0, 1), endDate: null, limit: 2, marker: 'M' },
  });
  assert.equal((parseJobParameters('{"Type":"inventory-retrieval"}') as { inventory: { format: string } }).inventory.format, 'JSON');
  assert.equal(thrown(() => parseJobParameters('{"Type":"select"}')).kind, 'not-supported');
  assert.equal(glacierError(thrown(() => parseJobParameters('{"Type":"select"}'))).status, 400);
  assert.equal(thrown(() => parseJobParameters('not json')).kind, 'malformed-json');
  assert.equal(thrown(() => parseJobParameters('[1]')).kind, 'malformed-json');
  assert.equal(thrown(() => parseJobParameters('{"Type":"archive-retrieval"}')).kind, 'missing-parameter');
  assert.equal(thrown(() => parseJobParameters('{}')).kind, 'missing-parameter');
  assert.equal(thrown(() => parseJobParameters('{"Type":"push-to-oss"}')).kind, 'invalid-parameter');
  assert.equal(thrown(() => parseJobParameters('{"Type":"archive-retrieval","ArchiveId":"A","Tier":"Fast"}')).kind, 'invalid-parameter');
  assert.equal(thrown(() => parseJobParameters('{"Type":"inventory-retrieval","Format":"XML"}')).kind, 'invalid-parameter');
  assert.equal(thrown(() => parseJobParameters('{"Type":"inventory-retrieval","InventoryRetrievalParameters":{"Limit":"0"}}')).kind, 'invalid-parameter');
  assert.equal(thrown(() => parseJobParameters('{"Type":"inventory-retrieval","InventoryRetrievalParameters":{"StartDate":"yesterday"}}')).kind, 'invalid-parameter');
  assert.equal(thrown(() => parseJobParameters('{"Type":"archive-retrieval","ArchiveId":7}')).kind, 'malformed-json');
});

test('storage full: ServiceUnavailableException with words an operator can act on, whatever the store threw', () => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const wrapped = new Error('writing the blob failed', { cause: enospc });
  for (const err of [enospc, wrapped, new StorageFullError('storing 8 bytes would cross --min-free 64M')]) {
    const { status, body } = glacierError(toGlacierProblem(err));
    assert.equal(status, 500);
    assert.equal(body.code, 'ServiceUnavailableException');
    assert.equal(body.type, 'Server');
    assert.match(body.message, /no storage space left for this request.*retry once space is freed/);
  }
  assert.match(glacierError(toGlacierProblem(new StorageFullError('storing 8 bytes would cross --min-free 64M'))).body.message, /--min-free 64M/);
  assert.equal(toGlacierProblem(new Error('something else')).kind, 'internal');
});

test('a store unreachable for the moment: ServiceUnavailableException saying so', () => {
  const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  const { status, body } = glacierError(toGlacierProblem(new Error('reading blob b failed', { cause: reset })));
  assert.deepEqual([status, body.code, body.message], [500, 'ServiceUnavailableException', 'The server\'s storage cannot be reached for the moment; retry shortly.']);
});
