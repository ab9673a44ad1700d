// bin/oascmd.js in a checkout runs dist/ only when both packages were built after their
// sources last changed. An incremental `tsc -b` leaves outputs whose content did not change
// (dist/main.js after an edit in the SDK) with their old times and rewrites dist/.tsbuildinfo:
// the check must read the build info, or a fresh build silently runs from source.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from './helpers/cli.js';

const root = await mkdtemp(join(tmpdir(), 'oascmd-bin-'));
after(() => rm(root, { recursive: true, force: true }));

/** A checkout of cli/ and sdk/ with a stub dist/main.js that prints "dist"; mtimes in seconds. */
async function checkout(name: string, times: { cliMain: number; cliInfo: number; cliSrc: number; sdkInfo: number; sdkSrc: number }): Promise<string> {
  const dir = join(root, name);
  const file = async (path: string, content: string, mtime: number): Promise<void> => {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
    await utimes(join(dir, path), mtime, mtime);
  };
  await mkdir(join(dir, 'cli/bin'), { recursive: true });
  await copyFile(BIN, join(dir, 'cli/bin/oascmd.js'));
  await file('cli/dist/main.js', 'console.log("dist");\n', times.cliMain);
  await file('cli/dist/.tsbuildinfo', '{}', times.cliInfo);
  await file('cli/src/main.ts', '', times.cliSrc);
  await file('sdk/dist/index.js', '', times.cliMain);
  await file('sdk/dist/.tsbuildinfo', '{}', times.sdkInfo);
  await file('sdk/src/protocol/x.ts', '', times.sdkSrc);
  return join(dir, 'cli/bin/oascmd.js');
}

/** What the bin ran: 'dist', or 'source' (tsx cannot be found from the temp dir, so it says so). */
function ran(bin: string): string {
  const r = spawnSync(process.execPath, [bin], { encoding: 'utf8', env: { ...process.env, OASCMD_FROM_SOURCE: '' } });
  if (r.stdout.trim() === 'dist') return 'dist';
  assert.match(r.stderr, /tsx is not installed/);
  return 'source';
}

const T = 1_700_000_000;

test('an incremental build that left dist/main.js untouched still counts as current', async () => {
  // Edited an SDK file after the last full build, then `tsc -b`: only the build info is new.
  const bin = await checkout('incremental', { cliMain: T, cliInfo: T + 20, cliSrc: T - 10, sdkInfo: T + 20, sdkSrc: T + 10 });
  assert.equal(ran(bin), 'dist');
});

test('sources edited after the last build run from source', async () => {
  const sdkEdited = await checkout('sdk-edited', { cliMain: T, cliInfo: T, cliSrc: T - 10, sdkInfo: T, sdkSrc: T + 10 });
  assert.equal(ran(sdkEdited), 'source');
  const cliEdited = await checkout('cli-edited', { cliMain: T, cliInfo: T, cliSrc: T + 10, sdkInfo: T + 20, sdkSrc: T - 10 });
  assert.equal(ran(cliEdited), 'source');
});
