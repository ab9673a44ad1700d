#!/usr/bin/env node
// Runs the built CLI (dist/) when there is one. In the workspace without a build (right
// after `npm ci`), or with OASCMD_FROM_SOURCE=1, it runs the TypeScript sources in this
// same process through tsx: the workspace packages are resolved with their `source`
// export condition, so @oas/sdk is loaded from src/ too. Staying in one process keeps
// signals (Ctrl-C, kill) and the exit code direct.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const dist = new URL('../dist/main.js', import.meta.url);
if (existsSync(dist) && process.env.OASCMD_FROM_SOURCE !== '1') {
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
