// `npm run console:shots [dir]`: runs the console's browser tests and keeps their
// screenshots in a folder for review (default ./console-shots, gitignored).
import { resolve } from 'node:path';
import { rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const dir = resolve(process.argv[2] ?? 'console-shots');
rmSync(dir, { recursive: true, force: true });
const result = spawnSync(process.execPath, ['scripts/run-tests.mjs', 'packages/console/test/'], {
  stdio: 'inherit', env: { ...process.env, OAS_CONSOLE_SHOTS: dir },
});
console.log(`\nscreenshots: ${dir}`);
process.exit(result.status ?? 1);
