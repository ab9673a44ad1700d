// A headless Chromium for the console tests: Debian's /usr/bin/chromium driven by
// playwright-core (never a downloaded browser). Installed with apt when missing and running
// as root (with a small CJK font, so screenshots of the Chinese pages are legible);
// otherwise the tests fail with the command to run.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.OAS_CHROMIUM ?? '/usr/bin/chromium';

function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const command = 'apt-get install -y chromium fonts-wqy-microhei';
  if (process.getuid?.() !== 0) throw new Error(`${CHROMIUM} is missing: install it with \`sudo ${command}\``);
  const run = spawnSync('sh', ['-c', `${command} || (apt-get update && ${command})`], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (run.status !== 0 || !existsSync(CHROMIUM)) throw new Error(`could not install chromium: run \`${command}\` as root`);
}

export async function launch(): Promise<Browser> {
  ensureChromium();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

/** Saves screenshots of a test as `<dir>/<nn>-<name>.png` (the test's artifacts). */
export function screenshots(dir: string): (page: Page, name: string) => Promise<void> {
  let n = 0;
  return async (page, name) => {
    await mkdir(dir, { recursive: true });
    await page.screenshot({ path: join(dir, `${String(++n).padStart(2, '0')}-${name}.png`), fullPage: false });
  };
}
