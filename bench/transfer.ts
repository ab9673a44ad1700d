// npm run bench:transfer — `oascmd upload` of a 2 GiB file to a local server against
// `dd if=F of=G bs=1M conv=fsync` (a plain local copy, synced), and `oascmd fetch --wait`
// of a retrieval job of it against `cat F > G` (a plain local copy to a file, not synced;
// fetch does fsync its output before renaming it into place). Same data, same run,
// alternating repetitions, medians; the ratio ours / reference is the figure to read.
// The server runs in this process (job delay 0); oascmd is spawned as users run it.
// Env: BENCH_SIZE_MIB (default 2048), BENCH_REPS (default 3), BENCH_CONCURRENCY (oascmd
// --concurrency, default its own).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createServer, type OasServer } from '@oas/server';
import { MIB, median, secs, writeSource } from './lib.js';

const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 2048) * MIB;
const REPS = Number(process.env.BENCH_REPS ?? 3);
const CONCURRENCY = process.env.BENCH_CONCURRENCY;
const BIN = fileURLToPath(new URL('../packages/cli/bin/oascmd.js', import.meta.url));
const dir = fileURLToPath(new URL(`./.work/transfer-${process.pid}/`, import.meta.url));
const source = `${dir}source.bin`;
const copy = `${dir}copy.bin`;
const fetched = `${dir}fetched.bin`;

const rate = (ms: number): string => `${((SIZE / MIB) / (ms / 1000)).toFixed(0)} MiB/s`;

interface Done {
  ms: number;
  stdout: string;
}

/** Runs a command to completion; its time from spawn to exit. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Done> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = performance.now() - start;
      if (code === 0) resolve({ ms, stdout });
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
    });
  });
}

/** The newest modification time under `dir`. */
function newest(dir: string): number {
  let max = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${e.name}`;
    max = Math.max(max, e.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return max;
}

/** What bin/oascmd.js will run: dist/ only when both builds are newer than their sources. */
function distIsCurrent(): boolean {
  const root = fileURLToPath(new URL('../packages/', import.meta.url));
  const builds = [`${root}cli/dist/main.js`, `${root}sdk/dist/index.js`];
  if (!builds.every((b) => existsSync(b))) return false;
  return Math.min(...builds.map((b) => statSync(b).mtimeMs)) >= Math.max(newest(`${root}cli/src`), newest(`${root}sdk/src`));
}

async function main(): Promise<void> {
  const [load] = loadavg();
  const mode = distIsCurrent() ? 'built (dist)' : 'from source (tsx)';
  console.log(`transfer bench: ${SIZE / MIB} MiB file, ${REPS} alternating repetitions, oascmd ${mode}, load average ${load!.toFixed(2)}`);
  await mkdir(`${dir}home`, { recursive: true });
  let server: OasServer | undefined;
  const stop = (): void => {
    void cleanup(server).finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  try {
    server = await createServer({
      dataDir: `${dir}data`, host: '127.0.0.1', port: 0, logLevel: 'warn', jobDelayMs: 0,
      rootAccessKeyId: 'bench', rootAccessKeySecret: 'bench-secret',
    });
    await writeFile(`${dir}home/.oascredentials`,
      `[OASCredentials]\nhost = 127.0.0.1\nport = ${server.port}\naccessid = bench\naccesskey = bench-secret\n\n`, { mode: 0o600 });
    const env = { ...process.env, HOME: `${dir}home` };
    const oascmd = (...args: string[]): Promise<Done> => run(process.execPath, [BIN, ...args], env);
    const extra = CONCURRENCY ? ['--concurrency', CONCURRENCY] : [];

    await oascmd('cv', 'oas://bench');
    await writeSource(source, SIZE, true);
    // Warm the page cache: every side reads the source from memory.
    await run('sh', ['-c', `cat '${source}' > /dev/null`]);

    const dd: number[] = [], up: number[] = [], cat: number[] = [], down: number[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      dd.push((await run('dd', [`if=${source}`, `of=${copy}`, 'bs=1M', 'conv=fsync'])).ms);
      await rm(copy, { force: true });

      const upload = await oascmd('upload', 'oas://bench', source, '--json', '-q', ...extra);
      up.push(upload.ms);
      const archiveId = (JSON.parse(upload.stdout) as { ArchiveId: string }).ArchiveId;
      const job = JSON.parse((await oascmd('createjob', 'oas://bench', archiveId, '--json')).stdout) as { JobId: string };

      cat.push((await run('sh', ['-c', `cat '${source}' > '${copy}'`])).ms);
      await rm(copy, { force: true });

      const fetch = await oascmd('fetch', 'oas://bench', job.JobId, fetched, '--wait', '--interval', '0.1', '-f', '--json', '-q', ...extra);
      down.push(fetch.ms);
      const result = JSON.parse(fetch.stdout) as { Size: number; Verified: string };
      if (result.Size !== SIZE || result.Verified !== 'full') throw new Error(`fetch returned ${fetch.stdout}`);
      await run('cmp', [source, fetched]);
      await rm(fetched, { force: true });
      await oascmd('rm', 'oas://bench', archiveId);
      console.log(`  rep ${rep + 1}: dd ${secs(dd[rep]!)}, upload ${secs(up[rep]!)}, cat ${secs(cat[rep]!)}, fetch ${secs(down[rep]!)}`);
    }

    const [mDd, mUp, mCat, mDown] = [median(dd), median(up), median(cat), median(down)];
    console.log(`upload:   oascmd upload ${secs(mUp)} (${rate(mUp)}), dd conv=fsync ${secs(mDd)} (${rate(mDd)}), ratio ${(mUp / mDd).toFixed(2)}`);
    console.log(`download: oascmd fetch --wait ${secs(mDown)} (${rate(mDown)}), cat F > G ${secs(mCat)} (${rate(mCat)}), ratio ${(mDown / mCat).toFixed(2)}`);
    console.log('(oascmd times are whole command runs: process start, vault lookup, hashing, transfer, verification, fsync)');
  } finally {
    process.off('SIGINT', stop);
    await cleanup(server);
  }
}

async function cleanup(server: OasServer | undefined): Promise<void> {
  await server?.close(0).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}

await main();
