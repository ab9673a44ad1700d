// The browser-safe protocol core (protocol/browser.ts) against the node:crypto implementation:
// same MD5, etag, tree etag and signature for the same input, and no node: import on its path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChecksumHasher, MIB, computeSignature, stringToSign } from '../src/protocol/index.js';
import { Md5, PortableChecksumHasher, authorizationFor, combineTreeEtags, md5HexOf } from '../src/protocol/browser.js';

/** Feeds `data` to `update` in chunks of pseudo-random sizes (1 byte to ~300 KiB). */
function feedChunked(data: Uint8Array, update: (chunk: Uint8Array) => void, seed: number): void {
  let x = seed;
  for (let off = 0; off < data.length;) {
    x = (x * 1103515245 + 12345) >>> 0;
    const n = 1 + (x % (x & 1 ? 64 : 300_000));
    update(data.subarray(off, off + n));
    off += n;
  }
}

test('Md5 matches node:crypto for every length around the block and padding edges', () => {
  const data = randomBytes(300);
  for (let n = 0; n <= 300; n++) {
    const expected = createHash('md5').update(data.subarray(0, n)).digest('hex').toUpperCase();
    assert.equal(md5HexOf(data.subarray(0, n)), expected, `length ${n}`);
  }
  assert.equal(md5HexOf(''), 'D41D8CD98F00B204E9800998ECF8427E');
  assert.equal(md5HexOf('The quick brown fox jumps over the lazy dog'), '9E107D9D372BB6826BD81D3542A419D6');
});

test('Md5 gives the same digest whatever the chunking', () => {
  const data = randomBytes(3 * MIB + 77);
  const expected = createHash('md5').update(data).digest('hex').toUpperCase();
  for (const seed of [1, 2, 3]) {
    const md5 = new Md5();
    feedChunked(data, (c) => md5.update(c), seed);
    assert.equal(md5.hex(), expected);
  }
});

test('PortableChecksumHasher equals ChecksumHasher (etag and tree etag) at leaf edges', () => {
  const big = randomBytes(5 * MIB + 123);
  for (const size of [0, 1, MIB - 1, MIB, MIB + 1, 2 * MIB, 3 * MIB + 5, 5 * MIB + 123]) {
    const data = big.subarray(0, size);
    const node = new ChecksumHasher().update(data).digest();
    const portable = new PortableChecksumHasher();
    feedChunked(data, (c) => portable.update(c), size + 7);
    assert.deepEqual(portable.digest(), node, `size ${size}`);
  }
});

test('part tree etags combine to the whole tree etag (multipart in the browser)', () => {
  const data = randomBytes(9 * MIB + 10);
  const partSize = 4 * MIB;
  const parts: string[] = [];
  for (let off = 0; off < data.length; off += partSize) {
    parts.push(new PortableChecksumHasher().update(data.subarray(off, off + partSize)).digest().treeEtag);
  }
  assert.equal(combineTreeEtags(parts), new ChecksumHasher().update(data).digest().treeEtag);
});

test('authorizationFor with WebCrypto HMAC equals the node signature', async () => {
  const hmac = async (secret: string, text: string): Promise<string> => {
    const enc = new TextEncoder();
    const key = await crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
    return Buffer.from(await crypto.subtle.sign('HMAC', key, enc.encode(text))).toString('base64');
  };
  const headers: Array<[string, string]> = [['x-oas-date', 'Tue, 25 Mar 2014 12:00:00 GMT'], ['x-oas-archive-description', '归档 ✓']];
  const query: Array<[string, string]> = [['limit', '10'], ['marker', 'abc']];
  const expected = computeSignature('s3cret', stringToSign('GET', headers, '/vaults', query));
  assert.equal(await authorizationFor(hmac, 'KEY', 's3cret', 'GET', headers, '/vaults', query), `OAS KEY:${expected}`);
});

test('the browser entry imports nothing from node:', () => {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '../src/protocol');
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm)) {
      if (m[2]) continue; // type-only: erased
      const spec = m[3]!;
      assert.ok(spec.startsWith('./'), `${file} imports ${spec}`);
      visit(spec.slice(2).replace(/\.js$/, '.ts'));
    }
    assert.doesNotMatch(text, /\bBuffer\b|\bprocess\./, `${file} uses a Node global`);
  };
  visit('browser.ts');
  assert.ok(seen.size >= 6);
});
