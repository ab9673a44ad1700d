#!/usr/bin/env node
// Runs the built CLI (dist/) when there is one. In the workspace without a build (right
// after `npm ci`), with a build older than the sources (edited since `npm run build`), or
// with OASCMD_FROM_SOURCE=1, it runs the TypeScript sources in this same process through
// tsx: the workspace packages are resolved with their `source` export condition, so
// @oas/sdk is loaded from src/ too. Staying in one process keeps signals (Ctrl-C, kill)
// and the exit code direct.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { register } from 'node:module';
import { setFlagsFromString } from 'node:v8';

// A transfer allocates steadily and keeps little, yet V8 grows its young generation step by
// step over a long one: 15-30 MB more resident memory by the end of a 4 GiB upload on Node
// 22 and 24. Kept at its first size, it is scavenged more often, each time briefly. Set
// before anything else loads: the flag is read whenever the young generation would grow.
setFlagsFromString('--semi-space-growth-factor=1');

const dist = new URL('../dist/main.js', import.meta.url);

/** The newest modification time of the files under `dir` (0 when there is none). */
function newest(dir) {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
    max = Math.max(max, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return max;
}

/**
 * When `pkg` was last built: `tsc -b` rewrites dist/.tsbuildinfo on every build with
 * anything to do, while outputs whose content did not change (dist/main.js after an edit
 * elsewhere) keep their old times; `entry` when there is no build info.
 */
function builtAt(pkg, entry) {
  const info = new URL('dist/.tsbuildinfo', pkg);
  return statSync(existsSync(info) ? info : new URL(entry, pkg)).mtimeMs;
}

/**
 * Whether dist/ is the CLI to run. An installed package has no src/: always. In the
 * workspace, only if this package and the SDK were built after their sources last changed.
 */
function distIsCurrent() {
  if (process.env.OASCMD_FROM_SOURCE === '1' || !existsSync(dist)) return false;
  const cli = new URL('../', import.meta.url);
  const src = new URL('src/', cli);
  if (!existsSync(src)) return true;
  try {
    const sdk = new URL('../../sdk/', import.meta.url);
    if (!existsSync(new URL('dist/index.js', sdk))) return false; // dist/ would import @oas/sdk from there
    const sdkSrc = new URL('src/', sdk);
    return builtAt(cli, 'dist/main.js') >= newest(src) && (!existsSync(sdkSrc) || builtAt(sdk, 'dist/index.js') >= newest(sdkSrc));
  } catch {
    return true;
  }
}

if (distIsCurrent()) {
  await import(dist.href);
} else {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    process.stderr.write('oascmd: not built (no dist/main.js) and tsx is not installed: run `npm run build` first\n');
    process.exit(1);
  }
  tsx.register();
  // Registered after tsx, so it runs first (hooks chain last-in first-out).
  const hook = 'export async function resolve(specifier, context, next) {'
    + ' return next(specifier, { ...context, conditions: [...new Set([...(context.conditions ?? []), "source"])] }); }';
  register('data:text/javascript,' + encodeURIComponent(hook));
  await import(new URL('../src/main.ts', import.meta.url).href);
}
