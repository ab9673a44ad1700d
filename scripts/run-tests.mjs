// Runs every package's tests with node:test through tsx. Node 20's --test takes no globs,
// so the files are found here. Extra arguments narrow the run to paths containing them.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = readdirSync('packages')
  .flatMap((pkg) => { try { return findTests(join('packages', pkg, 'test')); } catch { return []; } })
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const result = spawnSync(process.execPath,
  ['--conditions=source', '--import', 'tsx', '--test', '--test-concurrency=3', ...files],
  { stdio: 'inherit' });
process.exit(result.status ?? 1);
