import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  stringToSign, computeSignature, authorizationHeader, canonicalizeResource,
  canonicalizeOasHeaders, parseAuthorization, parseQuery, signaturesEqual,
} from '../src/protocol/sign.js';

const ID = 'OASExampleAccessId';
const SECRET = 'OASExampleAccessKeySecret';
const DATE = 'Tue, 25 Mar 2014 12:00:00 GMT';

function check(sts: string, expectedSts: string, hmacHex: string, authorization: string): void {
  assert.equal(sts, expectedSts);
  assert.equal(createHmac('sha1', SECRET).update(sts).digest('hex'), hmacHex);
  assert.equal(authorizationHeader(ID, computeSignature(SECRET, sts)), authorization);
}

test('protocol.md §2.6 example A: list vaults page 2', () => {
  const sts = stringToSign('GET',
    { Date: DATE, 'x-oas-version': '0.2.5', Host: 'cn-hangzhou.oas.aliyuncs.com', 'User-Agent': 'OAS Python SDK' },
    '/vaults', parseQuery('marker=C83DE8B245184E28AEED6CF1CED915F2&limit=1'));
  check(sts, 'GET\nTue, 25 Mar 2014 12:00:00 GMT\nx-oas-version:0.2.5\n/vaults?limit=1&marker=C83DE8B245184E28AEED6CF1CED915F2',
    'a6f8b98a29ca66c29cd75e003d1ae4fc4354b642', 'OAS OASExampleAccessId:pvi5iinKZsKc114APRrk/ENUtkI=');
});

test('protocol.md §2.6 example B: upload archive with mixed-case header name', () => {
  const sts = stringToSign('POST', [
    ['Date', DATE], ['X-OAS-Version', '0.2.5'],
    ['x-oas-content-etag', '028BFCC1395093C0DF0DC731DE96E1B5'],
    ['x-oas-tree-etag', '2B016A0FD13C7CBC62DE133A913C2E6B'],
    ['x-oas-archive-description', 'backup 2014'], ['Content-Length', '3145733'],
  ], '/vaults/79D2D8F33B7C287037286185863B6823/archives');
  check(sts, 'POST\nTue, 25 Mar 2014 12:00:00 GMT\nx-oas-archive-description:backup 2014\n'
    + 'x-oas-content-etag:028BFCC1395093C0DF0DC731DE96E1B5\nx-oas-tree-etag:2B016A0FD13C7CBC62DE133A913C2E6B\n'
    + 'x-oas-version:0.2.5\n/vaults/79D2D8F33B7C287037286185863B6823/archives',
  'c4d51e43303c2c8d4f3aec7d9900f0e3d8db194b', 'OAS OASExampleAccessId:xNUeQzA8LI1POux9mQDw49jbGUs=');
});

test('protocol.md §2.6 example C: create vault with manual-style version', () => {
  const sts = stringToSign('PUT', { Date: DATE, 'x-oas-version': '2014-01-01' }, '/vaults/myvault1');
  check(sts, 'PUT\nTue, 25 Mar 2014 12:00:00 GMT\nx-oas-version:2014-01-01\n/vaults/myvault1',
    '1bad0c0c18399e4cbbe2a92c7f7fab4e96a1cc48', 'OAS OASExampleAccessId:G60MDBg5nky74qksf3+rTpahzEg=');
});

test('protocol.md §2.6 example D: empty marker is a bare name', () => {
  const sts = stringToSign('GET', { Date: DATE, 'x-oas-version': '0.2.5' }, '/vaults', parseQuery('marker&limit=10'));
  check(sts, 'GET\nTue, 25 Mar 2014 12:00:00 GMT\nx-oas-version:0.2.5\n/vaults?limit=10&marker',
    '65b774f63e1ceff806aa8e7cfc3ef230151393a7', 'OAS OASExampleAccessId:Zbd09j4c7/gGqo58/D7yMBUTk6c=');
});

test('no x-oas headers: resource follows the date line directly; no Date gives an empty line', () => {
  assert.equal(stringToSign('DELETE', { Date: DATE }, '/vaults/X'), `DELETE\n${DATE}\n/vaults/X`);
  assert.equal(stringToSign('GET', {}, '/vaults'), 'GET\n\n/vaults');
});

test('canonical resource keeps only whitelisted sub-resources, in case-sensitive order', () => {
  assert.equal(canonicalizeResource('/vaults', []), '/vaults');
  assert.equal(canonicalizeResource('/vaults', [['foo', '1'], ['limit', '5']]), '/vaults?limit=5');
  assert.equal(canonicalizeResource('/p', [['uploads', ''], ['UPLOADID', 'x'], ['partnumber', '3'], ['acl', '']]),
    '/p?acl&partNumber=3&uploadId=x&uploads');
  assert.equal(canonicalizeResource('/p', [['marker', 'a'], ['marker', 'b']]), '/p?marker=b');
});

test('x-oas header values are kept verbatim and names sorted byte-wise', () => {
  assert.equal(canonicalizeOasHeaders({ 'X-Oas-B': ' two  spaces ', 'x-oas-a': '1', other: 'z' }),
    'x-oas-a:1\nx-oas-b: two  spaces \n');
  assert.equal(canonicalizeOasHeaders({ 'x-oas-archive-description': '备份' }), 'x-oas-archive-description:备份\n');
});

test('non-ASCII values are signed as UTF-8', () => {
  const sts = stringToSign('POST', { Date: DATE, 'x-oas-archive-description': '备份' }, '/vaults/V/archives');
  assert.equal(computeSignature(SECRET, sts), createHmac('sha1', SECRET).update(Buffer.from(sts, 'utf8')).digest('base64'));
});

test('authorization parsing and constant-time comparison', () => {
  assert.deepEqual(parseAuthorization('OAS abc:def='), { accessKeyId: 'abc', signature: 'def=' });
  for (const bad of [undefined, '', 'OAS', 'OAS abc', 'AWS abc:def', 'OAS :sig', 'OAS a:b c']) {
    assert.equal(parseAuthorization(bad), null, String(bad));
  }
  assert.equal(signaturesEqual('abc=', 'abc='), true);
  assert.equal(signaturesEqual('abc=', 'abd='), false);
  assert.equal(signaturesEqual('abc=', 'abc'), false);
});

test('parseQuery decodes escapes and keeps bare names', () => {
  assert.deepEqual(parseQuery('marker&limit=10&x=a%20b'), [['marker', ''], ['limit', '10'], ['x', 'a b']]);
  assert.deepEqual(parseQuery(''), []);
  assert.deepEqual(parseQuery('bad=%zz'), [['bad', '%zz']]);
});
