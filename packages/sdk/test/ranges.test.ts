import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIB } from '../src/protocol/etag.js';
import { isMibAligned, isTreeHashAligned, parseContentRange, parseRange, parseRangeHeader } from '../src/protocol/ranges.js';
import { formatRfc1123, parseRfc1123 } from '../src/protocol/dates.js';
import { isId, newId } from '../src/protocol/ids.js';
import { OASError, ERROR_CODES } from '../src/protocol/errors.js';

test('Content-Range: SDK form and bytes form', () => {
  assert.deepEqual(parseContentRange('0-67108863'), { start: 0, end: 67108863 });
  assert.deepEqual(parseContentRange('bytes 67108864-134217727/*'), { start: 67108864, end: 134217727 });
  assert.deepEqual(parseContentRange('bytes 0-9/10'), { start: 0, end: 9 });
  for (const bad of [undefined, '', '5-4', '-1-3', 'a-b', '1-', 'bytes=0-1', '0-99999999999999999']) {
    assert.equal(parseContentRange(bad), null, String(bad));
  }
  assert.deepEqual(parseRange('0-1048575'), { start: 0, end: 1048575 });
  assert.equal(parseRange('0-'), null);
});

test('Range header', () => {
  assert.deepEqual(parseRangeHeader('bytes=0-1048575'), { start: 0, end: 1048575 });
  for (const bad of ['bytes=0-', 'bytes=-5', '0-5', 'bytes=0-5,7-9', 'bytes=9-5']) assert.equal(parseRangeHeader(bad), null, bad);
});

test('MiB alignment of retrieval and output ranges', () => {
  const size = 10 * MIB + 7;
  assert.equal(isMibAligned({ start: 0, end: MIB - 1 }, size), true);
  assert.equal(isMibAligned({ start: MIB, end: size - 1 }, size), true);
  assert.equal(isMibAligned({ start: 1, end: MIB - 1 }, size), false);
  assert.equal(isMibAligned({ start: 0, end: MIB }, size), false);
  assert.equal(isMibAligned({ start: 0, end: size }, size), false);
});

test('tree-hash alignment (Glacier definition)', () => {
  const size = 10 * MIB + 7;
  assert.equal(isTreeHashAligned({ start: 0, end: size - 1 }, size), true);
  assert.equal(isTreeHashAligned({ start: 0, end: 4 * MIB - 1 }, size), true);
  assert.equal(isTreeHashAligned({ start: 4 * MIB, end: 8 * MIB - 1 }, size), true);
  assert.equal(isTreeHashAligned({ start: 8 * MIB, end: size - 1 }, size), true); // last subtree, truncated
  assert.equal(isTreeHashAligned({ start: 0, end: 3 * MIB - 1 }, size), false); // 3 MiB is no node
  assert.equal(isTreeHashAligned({ start: 2 * MIB, end: 6 * MIB - 1 }, size), false); // crosses a 4 MiB boundary
  assert.equal(isTreeHashAligned({ start: 9 * MIB, end: size - 1 }, size), false); // spans two leaves from an odd leaf
  assert.equal(isTreeHashAligned({ start: 10 * MIB, end: size - 1 }, size), true); // the last, short leaf
  assert.equal(isTreeHashAligned({ start: 1, end: MIB }, size), false);
});

test('dates round-trip and reject nonsense', () => {
  assert.equal(formatRfc1123(Date.UTC(2014, 2, 25, 12)), 'Tue, 25 Mar 2014 12:00:00 GMT');
  assert.equal(formatRfc1123(Date.UTC(2014, 2, 5)), 'Wed, 05 Mar 2014 00:00:00 GMT');
  assert.equal(parseRfc1123('Tue, 25 Mar 2014 12:00:00 GMT'), Date.UTC(2014, 2, 25, 12));
  for (const bad of [undefined, '', '2014-03-25', 'Tue, 31 Feb 2014 12:00:00 GMT', 'Tue, 25 Mar 2014 25:00:00 GMT', 'Tue, 25 Mar 2014 12:00:00 UTC']) {
    assert.equal(parseRfc1123(bad), null, String(bad));
  }
});

test('ids are 32 upper-case hex and validated strictly', () => {
  const id = newId();
  assert.match(id, /^[0-9A-F]{32}$/);
  assert.notEqual(newId(), id);
  assert.equal(isId(id), true);
  for (const bad of [id.toLowerCase(), id.slice(1), `${id}0`, '../../../etc/passwd', '', 42]) assert.equal(isId(bad), false);
});

test('OASError carries the error table of protocol.md §6', () => {
  const e = OASError.of('InvalidDigest', 'tree etag does not match');
  assert.equal(e.status, 400);
  assert.equal(e.type, 'client');
  assert.deepEqual(e.toJSON(), { code: 'InvalidDigest', message: 'tree etag does not match', type: 'client' });
  assert.equal(ERROR_CODES.InternalError.type, 'server');
  assert.equal(new OASError(503, 'ServiceUnavailable', 'x').type, 'server');
  assert.match(new OASError(404, 'VaultNotExist', 'no vault', 'client', 'ABC').describe(), /VaultNotExist: no vault \(HTTP 404, request id ABC\)/);
});
