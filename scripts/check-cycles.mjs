// Fails when a package's source has an import cycle between modules at run time. Type-only
// imports (`import type`) are left out: they vanish when compiled, so a class may name the
// type of the store that owns it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\b(?!\s+type\b)[^;'"]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

const files = readdirSync('packages').flatMap((pkg) => {
  try { return sources(join('packages', pkg, 'src')); } catch { return []; }
}).map((f) => resolve(f));
const edges = new Map();
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const deps = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    deps.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
  }
  edges.set(file, deps.filter((d) => edges.has(d) || files.includes(d)));
}

const cycles = [];
const state = new Map(); // 1: on the stack, 2: done
const stack = [];
function visit(file) {
  state.set(file, 1);
  stack.push(file);
  for (const dep of edges.get(file) ?? []) {
    if (state.get(dep) === 1) cycles.push([...stack.slice(stack.indexOf(dep)), dep]);
    else if (!state.has(dep)) visit(dep);
  }
  stack.pop();
  state.set(file, 2);
}
for (const file of files) if (!state.has(file)) visit(file);

for (const cycle of cycles) console.error(`import cycle: ${cycle.map((f) => relative(process.cwd(), f)).join(' -> ')}`);
process.exit(cycles.length > 0 ? 1 : 0);
