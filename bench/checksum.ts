// npm run bench:checksum — our one-pass hashFile (content etag + tree etag) against md5sum
// (content MD5 only) on the same 1 GiB file, warm page cache, alternating repetitions,
// medians. Also the single-threaded ChecksumHasher and hashFile with node:crypto leaves.
// Env: BENCH_SIZE_MIB (default 1024), BENCH_REPS (default 5).
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm, rmdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MIB, hashStream } from '../packages/sdk/src/protocol/etag.js';
import { configureLeafWorker, hashFile, leafWorkerStats } from '../packages/sdk/src/protocol/hash-file.js';
import { median, secs } from './lib.js';

const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 1024) * MIB;
const REPS = Number(process.env.BENCH_REPS ?? 5);
const dir = fileURLToPath(new URL('./.work/', import.meta.url));
const file = `${dir}checksum-${SIZE / MIB}m.bin`;


async function time<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

function md5sum(): string {
  const out = spawnSync('md5sum', [file], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`md5sum failed: ${out.error?.message ?? out.stderr}`);
  return out.stdout.split(' ')[0]!;
}

/** Non-trivial data, written fast: one random 16 MiB block repeated. */
async function writeFile(): Promise<void> {
  await mkdir(dir, { recursive: true });
  const block = randomBytes(16 * MIB);
  const fh = await open(file, 'w');
  try {
    for (let at = 0; at < SIZE; at += block.length) await fh.write(block, 0, Math.min(block.length, SIZE - at));
  } finally {
    await fh.close();
  }
}

async function main(): Promise<void> {
  const [load] = loadavg();
  console.log(`checksum bench: ${SIZE / MIB} MiB file, ${REPS} alternating repetitions, load average ${load!.toFixed(2)}`);
  if (load! > 0.5) console.log('  (note: the machine is busy; both sides share the same noise, the ratio is the figure to read)');
  await writeFile();
  try {
    // Warm the page cache (and our worker) once; nothing is dropped from cache afterwards.
    const warm = await hashFile(file);
    const reference = md5sum();
    if (reference !== warm.etag.toLowerCase()) throw new Error(`etag ${warm.etag} differs from md5sum ${reference}`);

    const ours: number[] = [], cpu: number[] = [], theirs: number[] = [], cryptoLeaves: number[] = [], single: number[] = [];
    const engine = leafWorkerStats().engine;
    for (let rep = 0; rep < REPS; rep++) {
      const usage = process.cpuUsage();
      const run = await time(() => hashFile(file));
      const used = process.cpuUsage(usage);
      if (run.value.etag !== warm.etag || run.value.treeEtag !== warm.treeEtag) throw new Error('hashFile is not deterministic');
      ours.push(run.ms);
      cpu.push((used.user + used.system) / 1000);
      const sum = await time(md5sum);
      if (sum.value !== reference) throw new Error('md5sum is not deterministic');
      theirs.push(sum.ms);
    }
    // References, fewer repetitions: the leaves on node:crypto, and everything on one thread.
    const refReps = Math.max(1, Math.min(3, REPS));
    await configureLeafWorker({ wasm: false });
    for (let rep = 0; rep < refReps; rep++) {
      const run = await time(() => hashFile(file));
      if (run.value.treeEtag !== warm.treeEtag) throw new Error('node:crypto leaves differ');
      cryptoLeaves.push(run.ms);
    }
    await configureLeafWorker({ wasm: true });
    for (let rep = 0; rep < refReps; rep++) {
      const run = await time(() => hashStream(createReadStream(file, { highWaterMark: 8 * MIB })));
      if (run.value.etag !== warm.etag || run.value.treeEtag !== warm.treeEtag) throw new Error('ChecksumHasher differs from hashFile');
      single.push(run.ms);
    }

    const mbps = (ms: number): string => `${(SIZE / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
    console.log(`  etag ${warm.etag} (= md5sum), tree etag ${warm.treeEtag}`);
    console.log(`  hashFile (etag + tree etag, leaves on ${engine})  median ${secs(median(ours))} ${mbps(median(ours))}, cpu ${secs(median(cpu))}  [${ours.map(secs).join(' ')}]`);
    console.log(`  md5sum (etag only)                             median ${secs(median(theirs))} ${mbps(median(theirs))}  [${theirs.map(secs).join(' ')}]`);
    console.log(`  hashFile, leaves on node:crypto                median ${secs(median(cryptoLeaves))} ${mbps(median(cryptoLeaves))}  [${cryptoLeaves.map(secs).join(' ')}]`);
    console.log(`  ChecksumHasher, one thread                     median ${secs(median(single))} ${mbps(median(single))}  [${single.map(secs).join(' ')}]`);
    const ratio = median(ours) / median(theirs);
    console.log(`checksum: ours ${secs(median(ours))}, md5sum ${secs(median(theirs))}, ratio ${ratio.toFixed(2)} (target <= 1.0)`);
  } finally {
    await rm(file, { force: true });
    await rmdir(dir).catch(() => {}); // only if empty
  }
}

await main();
