import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, DEFAULT_OPTIONS, parseServeArgs } from '../src/config.js';
import { formatDuration, parseDuration } from '../src/util/duration.js';
import { formatReserve, parseReserve, reserveBytes } from '../src/util/reserve.js';

test('durations', () => {
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('30'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('4h'), 14_400_000);
  assert.equal(parseDuration('1d'), 86_400_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1.5s'), 1500);
  for (const bad of ['', 'x', '5x', '-1s', 's', '1 h', '1e3']) assert.equal(parseDuration(bad), null, bad);
  assert.equal(formatDuration(86_400_000), '24h');
  assert.equal(formatDuration(15 * 60_000), '15m');
  assert.equal(formatDuration(0), '0');
});

test('defaults, environment and flags (flags win)', () => {
  assert.deepEqual(parseServeArgs([], {}).options, { ...DEFAULT_OPTIONS, rootAccessKeyId: undefined, rootAccessKeySecret: undefined });
  const env = { OAS_PORT: '9000', OAS_HOST: '0.0.0.0', OAS_JOB_DELAY: '4h', OAS_INVENTORY_INTERVAL: '1d', OAS_DATA_DIR: '/srv/oas', OAS_ROOT_ACCESS_KEY_ID: 'id', OAS_ROOT_ACCESS_KEY_SECRET: 'secret' };
  const o = parseServeArgs(['--port', '9001', '--job-concurrency', '8', '--max-skew', '5m'], env).options;
  assert.equal(o.port, 9001);
  assert.equal(o.host, '0.0.0.0');
  assert.equal(o.jobDelayMs, 4 * 3_600_000);
  assert.equal(o.inventoryIntervalMs, 86_400_000);
  assert.equal(o.jobConcurrency, 8);
  assert.equal(o.maxSkewMs, 300_000);
  assert.equal(o.dataDir, '/srv/oas');
  assert.equal(o.rootAccessKeyId, 'id');
  assert.equal(o.rootAccessKeySecret, 'secret');
  assert.equal(parseServeArgs(['--port=0'], {}).options.port, 0);
  assert.equal(parseServeArgs(['--help'], {}).help, true);
  for (const args of [['--port', 'x'], ['--job-output-ttl', 'forever'], ['--bogus'], ['--inventory-interval', '0']]) {
    assert.throws(() => parseServeArgs(args, {}), ConfigError, args.join(' '));
  }
});

test('--min-free: a size or a percentage, from the flag or OAS_MIN_FREE; 64M by default', () => {
  assert.deepEqual(DEFAULT_OPTIONS.minFree, { bytes: 64 * 1024 * 1024 });
  assert.deepEqual(parseServeArgs(['--min-free', '1G'], {}).options.minFree, { bytes: 1024 ** 3 });
  assert.deepEqual(parseServeArgs(['--min-free', '5%'], {}).options.minFree, { percent: 5 });
  assert.deepEqual(parseServeArgs([], { OAS_MIN_FREE: '0' }).options.minFree, { bytes: 0 });
  assert.deepEqual(parseServeArgs(['--min-free', '512MiB'], { OAS_MIN_FREE: '2%' }).options.minFree, { bytes: 512 * 1024 * 1024 });
  assert.deepEqual(parseReserve('0.5%'), { percent: 0.5 });
  assert.deepEqual(parseReserve('4096'), { bytes: 4096 });
  for (const bad of ['', 'x', '-1G', '100%', '5 %', '1Q', '1e3', '%']) {
    assert.equal(parseReserve(bad), null, bad);
    assert.throws(() => parseServeArgs(['--min-free', bad], {}), ConfigError, bad);
  }
  assert.equal(formatReserve({ bytes: 256 * 1024 * 1024 }), '256M');
  assert.equal(formatReserve({ percent: 5 }), '5%');
  assert.equal(formatReserve({ bytes: 1000 }), '1000');
  assert.equal(reserveBytes({ percent: 5 }, 1000), 50);
  assert.equal(reserveBytes({ bytes: 7 }, 1000), 7);
});
