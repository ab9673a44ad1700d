// copyIntoShared: every byte lands where TypedArray.set would put it, whatever the relative
// 8-byte alignment of source and target (the staged path), the length (also past the
// staging buffer's size) and the kind of target memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyIntoShared } from '../src/protocol/hash-worker.js';

test('copies like set() at every alignment and length, into shared and private memory', () => {
  const source = randomBytes(700 * 1024 + 9);
  for (const shared of [true, false]) {
    const memory = shared ? new SharedArrayBuffer(1 << 20) : new ArrayBuffer(1 << 20);
    for (const targetShift of [0, 3, 8]) {
      const target = Buffer.from(memory, targetShift, (1 << 20) - targetShift);
      for (const sourceShift of [0, 1, 5, 8]) {
        for (const length of [0, 1, 63, 64, 65_537, 256 * 1024, 600 * 1024 + 3]) {
          for (const offset of [0, 7, 4096 + 2]) {
            const chunk = source.subarray(sourceShift, sourceShift + length);
            target.fill(0xa5);
            copyIntoShared(chunk, target, offset);
            const where = `shared ${shared}, target +${targetShift}, source +${sourceShift}, length ${length}, offset ${offset}`;
            assert.ok(target.subarray(offset, offset + length).equals(chunk), where);
            assert.equal(target[offset - 1] ?? 0xa5, 0xa5, `byte before: ${where}`);
            assert.equal(target[offset + length], 0xa5, `byte after: ${where}`);
          }
        }
      }
    }
  }
});

test('a copy past the end of the target throws like set()', () => {
  const target = Buffer.from(new SharedArrayBuffer(1024));
  assert.throws(() => copyIntoShared(Buffer.alloc(1000), target.subarray(3), 30), RangeError);
  assert.throws(() => copyIntoShared(randomBytes(300 * 1024).subarray(1), Buffer.from(new SharedArrayBuffer(400 * 1024)), 200 * 1024), RangeError);
});
