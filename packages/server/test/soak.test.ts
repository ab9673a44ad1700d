// The soak (bench/soak.ts, `npm run soak`) in a short version: a mixed load with every fault
// injected at least once (stalled clients, SIGKILL restarts, a full disk, a flipped byte),
// then the audit: nothing acknowledged is lost, the corruption is detected, no file is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak, soakPassed } from '../../../bench/soak.js';

test('soak: mixed load with faults; every acknowledged archive survives, every corruption is caught', { timeout: 10 * 60_000 }, async (t) => {
  const lines: string[] = [];
  const report = await runSoak({ seconds: 16, workers: 3, maxMiB: 2, faultEverySeconds: 2, diskMiB: 512, print: (line) => lines.push(line) });
  t.diagnostic(`\n${lines.join('\n')}`);
  assert.ok(report.acknowledged > 0, 'the load acknowledged archives');
  for (const fault of ['stall', 'kill', 'corrupt'] as const) assert.ok(report.faults[fault] >= 1, `${fault} ran`);
  if (process.getuid?.() === 0) assert.ok(report.faults.full >= 1, 'full ran (root mounts the tmpfs)');
  else assert.match(report.notRun.full ?? '', /root/);
  assert.ok(report.corrupted >= 1, 'an archive was corrupted on purpose');
  assert.deepEqual(report.lost, []);
  assert.deepEqual(report.undetected, []);
  assert.deepEqual(report.strays, []);
  assert.equal(report.unexpectedExits, 0);
  assert.ok(report.stalled.opened > 0);
  assert.equal(report.stalled.cut, report.stalled.opened, 'every stalled upload is cut at the idle timeout');
  assert.equal(report.intact + report.corrupted, report.acknowledged);
  assert.ok(soakPassed(report));
});
