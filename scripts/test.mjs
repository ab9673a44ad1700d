// `npm test`: the whole test suite, on every supported Node version.
//
//   node scripts/test.mjs            install missing Debian packages (system-deps.mjs), type-check,
//                                    build, then run the suite on Node 20, 22 and 24
//   node scripts/test.mjs --here [<path-substring>...]
//                                    the same on the Node running this only (`npm run test:here`)
//
// The Node running this tests in place, with the Ceph (radosgw) tests; each other version
// runs the suite without them in a hard-linked copy of the checkout with better-sqlite3 built
// for it (node-checkout.mjs). OAS_TEST_NODES=20,24 picks versions; OAS_TEST_PARALLEL (2)
// is how many suites run at once. A suite still running after OAS_TEST_SUITE_MINUTES (45), or
// past OAS_TEST_TOTAL_MINUTES (75) since the start, is killed and fails (each test file also
// has a time limit: run-tests.mjs), so the run ends within CI's time with the logs printed. Each run's output is printed whole when it ends; the
// output ends with one line per version and the total `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNativeModules, copyCheckout, envWithNode, installNode, openLog, run } from './node-checkout.mjs';
import { summaryLine } from './run-tests.mjs';
import { ensureSystemPackages } from './system-deps.mjs';

export const NODE_MAJORS = [20, 22, 24];
const SUITE_MINUTES = Number(process.env.OAS_TEST_SUITE_MINUTES) || 45;
const TOTAL_MINUTES = Number(process.env.OAS_TEST_TOTAL_MINUTES) || 75;
const deadline = Date.now() + TOTAL_MINUTES * 60_000;

const root = fileURLToPath(new URL('..', import.meta.url));
const cacheDir = process.env.OAS_TEST_CACHE || join(root, 'node_modules', '.cache', 'oas-test');
const hereMajor = Number(process.versions.node.split('.')[0]);

function step(title, command, args) {
  process.stdout.write(`> ${title}\n`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stdout.write(`${title} failed\n`);
    process.exit(1);
  }
}

function minutes(ms) {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** A counting semaphore: at most `n` holders at once. */
function slots(n) {
  let free = n;
  const waiting = [];
  return {
    async acquire() {
      if (free > 0) { free--; return; }
      await new Promise((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      if (next) next(); else free++;
    },
  };
}

/** One Node version's suite. Resolves with its result; never rejects. */
async function runVersion(major, { filters, suites, preparing }) {
  const logPath = join(cacheDir, `node-${major}.log`);
  const log = await openLog(logPath);
  const result = { major, version: `${major}`, logPath, counts: null, error: null, prepareMs: 0, suiteMs: 0, withCeph: major === hereMajor };
  try {
    let node = { bin: process.execPath, version: process.versions.node };
    let checkout = root;
    if (major !== hereMajor) {
      // One preparation at a time: the compile is CPU-bound.
      await preparing.acquire();
      const prepareStarted = Date.now();
      try {
        node = await installNode(major, cacheDir, log);
        result.version = node.version;
        checkout = join(cacheDir, `checkout-${major}`);
        await copyCheckout(root, checkout, log);
        await buildNativeModules(checkout, node, cacheDir, log);
      } finally {
        result.prepareMs = Date.now() - prepareStarted;
        preparing.release();
      }
    }
    result.version = node.version;
    await suites.acquire();
    const suiteStarted = Date.now();
    try {
      process.stdout.write(`> Node ${node.version}: running the suite (output in ${logPath})\n`);
      const summaryFile = join(cacheDir, `node-${major}.summary.json`);
      const args = [join(checkout, 'scripts', 'run-tests.mjs'), ...filters, `--summary=${summaryFile}`];
      if (!result.withCeph) args.push('--without-ceph');
      await run(node.bin, args, { cwd: checkout, env: envWithNode(node.bin), log, timeoutMs: Math.max(60_000, Math.min(SUITE_MINUTES * 60_000, deadline - Date.now())) });
      try {
        result.counts = JSON.parse(readFileSync(summaryFile, 'utf8'));
      } catch {
        result.error = 'the suite ended without a summary';
      }
    } finally {
      result.suiteMs = Date.now() - suiteStarted;
      suites.release();
    }
  } catch (err) {
    result.error = err.message;
    log.write(`${err.message}\n`);
  }
  await new Promise((resolve) => log.end(resolve));
  return result;
}

function describe(r) {
  const what = `Node ${r.version}${r.withCeph ? '' : ' (without the Ceph tests)'}`;
  const times = `[${r.prepareMs ? `prepared in ${minutes(r.prepareMs)}, ` : ''}suite ${minutes(r.suiteMs)}]`;
  return `${what}: ${r.error ?? summaryLine(r.counts)} ${times}`;
}

async function main(argv) {
  const here = argv.includes('--here');
  const filters = argv.filter((a) => !a.startsWith('--'));
  const majors = here ? [hereMajor]
    : (process.env.OAS_TEST_NODES ? process.env.OAS_TEST_NODES.split(',').map(Number) : NODE_MAJORS);
  const started = Date.now();
  try {
    ensureSystemPackages();
  } catch (err) {
    process.stdout.write(`${err.message}\n`);
    return 1;
  }
  step('lint', 'npm', ['run', '--silent', 'lint']);
  step('type-check', 'npm', ['run', '--silent', 'typecheck']);
  // Built before any suite starts, so the tests that run `npm start` / `npm pack` find it
  // current and never rewrite dist/ under the CLI tests running dist/ at the same time.
  step('build', 'npm', ['run', '--silent', 'build']);
  const suites = slots(Math.max(1, Number(process.env.OAS_TEST_PARALLEL) || 2));
  const preparing = slots(1);
  // Printed in order, each as soon as it and the ones before it are done.
  const runs = majors.map((major) => runVersion(major, { filters, suites, preparing }));
  const results = [];
  for (const pending of runs) {
    const r = await pending;
    process.stdout.write(`\n===== Node ${r.version} =====\n`);
    process.stdout.write(readFileSync(r.logPath, 'utf8'));
    results.push(r);
  }
  process.stdout.write('\n');
  let passed = 0;
  let failed = 0;
  for (const r of results) {
    process.stdout.write(`${describe(r)}\n`);
    passed += r.counts?.pass ?? 0;
    failed += r.error ? Math.max(1, r.counts?.fail ?? 0) : r.counts.fail + r.counts.cancelled;
  }
  process.stdout.write(`total time ${minutes(Date.now() - started)}\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
