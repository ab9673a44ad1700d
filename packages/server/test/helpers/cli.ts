// Runs the oas-server command (its TypeScript source through tsx) as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { knownPlace } from './backends.js';

export const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, OAS_ROOT_ACCESS_KEY_ID: '', OAS_ROOT_ACCESS_KEY_SECRET: '', OAS_DATA_DIR: '', OAS_PORT: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The stores of a test server's data directory named by `--data-dir` (OAS_TEST_BACKEND), as environment. */
async function backendEnv(args: string[]): Promise<Record<string, string>> {
  const i = args.indexOf('--data-dir');
  const place = i >= 0 && args[i + 1] !== undefined ? knownPlace(args[i + 1]!) : undefined;
  return place ? (await place).env : {};
}

export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const backend = await backendEnv(args);
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, { ...backend, ...env });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
