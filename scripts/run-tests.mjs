// Runs every package's tests with node:test through tsx, on the Node that runs this script,
// in the checkout this script is in. Node 20's --test takes no globs, so the files are
// found here.
//
//   node scripts/run-tests.mjs [<path-substring>...] [--without-ceph] [--summary=<file>]
//
// Substrings narrow the run to the test files whose path contains one of them.
// --without-ceph leaves out the files that start a Ceph radosgw (the matrix runs those on
// one Node version only). --summary writes the counts as JSON for scripts/test.mjs.
// Each test file (and each test) fails after OAS_TEST_FILE_MINUTES (20): node kills a file
// that runs longer, so one hung test cannot hold the whole run.
// The output ends with node's own summary and one plain line: `N passed, N failed`, where
// failed includes the tests node reports as cancelled (their hook or file failed first).
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Test files that start a Ceph radosgw (tens of seconds each, several GiB of I/O). */
const CEPH = /startCephRgw|postgres\+rgw/;

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** Node's TAP summary (`# pass 3` ...) as numbers. */
export function parseTapSummary(tap) {
  const counts = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  for (const m of tap.matchAll(/^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) counts[m[1]] = Number(m[2]);
  return counts;
}

/** The final line: cancelled tests count as failed, and the line says how many there were. */
export function summaryLine({ pass, fail, cancelled }) {
  const note = cancelled > 0 ? ` (${cancelled} of them cancelled: a hook or the test file failed before they could finish; see above)` : '';
  return `${pass} passed, ${fail + cancelled} failed${note}`;
}

/** Node's diagnostics of errors outside any test (uncaught, after a test ended), at most 20. */
export function fileErrors(tap) {
  return tap.split('\n').filter((l) => /^\s*# Error: /.test(l)).slice(0, 20).map((l) => l.trim().slice(2));
}

function main(argv) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const withoutCeph = argv.includes('--without-ceph');
  const summaryFile = argv.find((a) => a.startsWith('--summary='))?.slice('--summary='.length);
  const filters = argv.filter((a) => !a.startsWith('--'));
  const files = readdirSync(join(root, 'packages'))
    .flatMap((pkg) => { try { return findTests(join('packages', pkg, 'test')); } catch { return []; } })
    .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
    .filter((f) => !withoutCeph || !CEPH.test(readFileSync(join(root, f), 'utf8')))
    .sort();
  if (files.length === 0) {
    console.error('no test files matched');
    return 1;
  }
  const work = mkdtempSync(join(tmpdir(), 'oas-test-run-'));
  try {
    const tapFile = join(work, 'report.tap');
    const result = spawnSync(process.execPath, [
      '--conditions=source', '--import', 'tsx', '--test', '--test-concurrency=3',
      `--test-timeout=${(Number(process.env.OAS_TEST_FILE_MINUTES) || 20) * 60_000}`,
      '--test-reporter=spec', '--test-reporter-destination=stdout',
      '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
      ...files,
    ], { cwd: root, stdio: 'inherit' });
    let counts;
    let tap = '';
    try {
      tap = readFileSync(tapFile, 'utf8');
      counts = parseTapSummary(tap);
    } catch {
      counts = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
    }
    // A run that died before reporting (signal, crash) is a failure even with no failed test.
    const ok = result.status === 0 && counts.fail === 0 && counts.cancelled === 0 && counts.tests > 0;
    if (!ok && counts.fail === 0 && counts.cancelled === 0) counts.fail = 1;
    if (summaryFile) writeFileSync(summaryFile, JSON.stringify({ ...counts, files: files.length, status: result.status, signal: result.signal }));
    // A file can fail with every test passed (an error after its tests ended): repeat node's
    // diagnostics of that kind here, since CI logs are often read from the end.
    if (!ok) for (const line of fileErrors(tap)) console.log(line);
    if (result.error) console.log(`cannot run the tests: ${result.error.message}`);
    else if (result.status !== 0 && counts.tests === 0) console.log(`the test runner ended without a summary (${result.signal ?? `exit ${result.status}`})`);
    console.log(summaryLine(counts));
    return ok ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
