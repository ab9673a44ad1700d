// npm run bench:oss — OSS transfer jobs against the S3 operations they are made of, on a real
// S3 server started here: pull-from-oss of a 1 GiB object (GET, hashing, blob write, fsync,
// archive insert) against a plain GetObject of it read to the end, and push-to-oss of the
// resulting archive (check pass, multipart upload with Content-MD5, ETag verification)
// against a plain PutObject of the same bytes. Same S3 client settings (the server's own
// createOssClient), same server, same run, alternating repetitions, medians; the ratios
// ours / plain are the figures to read. Job times run from the POST that creates the job
// to the describe that shows it completed (polled every 20 ms).
// Env: BENCH_OSS_STORE = rgw (default: Ceph radosgw on a bluestore sparse file, from the
// Debian packages as in the tests) or s3rver; BENCH_SIZE_MIB (default 1024); BENCH_REPS
// (default 3).
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createServer, type OasServer } from '@oas/server';
import { normalizeOssHost } from '../packages/server/src/oss-config.js';
import { createOssClient } from '../packages/server/src/jobs/runners/oss-client.js';
import { Client } from '../packages/server/test/helpers/client.js';
import { startCephRgw } from '../packages/server/test/helpers/ceph-rgw.js';
import { startS3rver } from '../packages/server/test/helpers/s3rver.js';
import { MIB, median, secs } from './lib.js';

const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 1024) * MIB;
const REPS = Number(process.env.BENCH_REPS ?? 3);
const STORE = process.env.BENCH_OSS_STORE ?? 'rgw';
const dir = fileURLToPath(new URL(`./.work/oss-${process.pid}/`, import.meta.url));

const rate = (ms: number): string => `${((SIZE / MIB) / (ms / 1000)).toFixed(0)} MiB/s`;

/** The bytes as a stream of 1 MiB chunks (so PutObject signs it like the server's parts: unsigned payload). */
function streamOf(data: Buffer): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= data.length) {
        this.push(null);
        return;
      }
      this.push(data.subarray(at, at + MIB));
      at += MIB;
    },
  });
}

async function main(): Promise<void> {
  if (STORE !== 'rgw' && STORE !== 's3rver') throw new Error(`BENCH_OSS_STORE=${STORE}: expected rgw or s3rver`);
  const [load] = loadavg();
  console.log(`oss bench: ${SIZE / MIB} MiB object, ${REPS} alternating repetitions, store ${STORE}, load average ${load!.toFixed(2)}`);
  await mkdir(dir, { recursive: true });
  const store = STORE === 'rgw' ? await startCephRgw({ bluestoreBytes: Math.max(16 * 1024 * MIB, SIZE * (3 * REPS + 4)) }) : await startS3rver();
  let server: OasServer | undefined;
  const stop = (): void => {
    void cleanup().finally(() => process.exit(130));
  };
  const cleanup = async (): Promise<void> => {
    await server?.close(0).catch(() => undefined);
    await store.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', stop);
  try {
    await store.createBucket('bench');
    const hostInput = { endpoint: store.endpoint, region: store.region, accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey, addressing: 'path' as const };
    server = await createServer({
      dataDir: `${dir}data`, host: '127.0.0.1', port: 0, logLevel: 'warn', jobDelayMs: 0, jobPollMs: 20,
      rootAccessKeyId: 'bench', rootAccessKeySecret: 'bench-secret', ossHosts: { 'bench.store': hostInput },
    });
    const oas = new Client(server.port, 'bench', 'bench-secret');
    const vault = await oas.vaultId('bench');
    const s3 = createOssClient(normalizeOssHost('bench.store', hostInput));

    const data = randomBytes(SIZE);
    await s3.s3.send(new PutObjectCommand({ Bucket: 'bench', Key: 'source', Body: streamOf(data), ContentLength: SIZE }));

    const job = async (body: Record<string, unknown>): Promise<{ ms: number; json: Record<string, unknown> }> => {
      const start = performance.now();
      const jobId = await oas.jobId(vault, body);
      for (;;) {
        const res = await oas.get(`/vaults/${vault}/jobs/${jobId}`);
        if (res.json.Completed) {
          const ms = performance.now() - start;
          if (res.json.StatusCode !== 'Succeeded') throw new Error(`${String(body.Type)} failed: ${res.json.StatusMessage}`);
          return { ms, json: res.json };
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    const get: number[] = [], pull: number[] = [], put: number[] = [], push: number[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      let start = performance.now();
      const res = await s3.s3.send(new GetObjectCommand({ Bucket: 'bench', Key: 'source' }));
      let n = 0;
      for await (const chunk of res.Body as Readable) n += (chunk as Buffer).byteLength;
      if (n !== SIZE) throw new Error(`GetObject read ${n} bytes`);
      get.push(performance.now() - start);

      const pulled = await job({ Type: 'pull-from-oss', OSSHost: 'bench.store', Bucket: 'bench', Object: 'source' });
      if (pulled.json.ArchiveSizeInBytes !== SIZE) throw new Error(`pull gave ${JSON.stringify(pulled.json)}`);
      pull.push(pulled.ms);
      const archiveId = String(pulled.json.ArchiveId);

      start = performance.now();
      await s3.s3.send(new PutObjectCommand({ Bucket: 'bench', Key: 'plain-put', Body: streamOf(data), ContentLength: SIZE }));
      put.push(performance.now() - start);

      push.push((await job({ Type: 'push-to-oss', ArchiveId: archiveId, OSSHost: 'bench.store', Bucket: 'bench', Object: 'pushed' })).ms);
      await oas.del(`/vaults/${vault}/archives/${archiveId}`);
      console.log(`  rep ${rep + 1}: GetObject ${secs(get[rep]!)}, pull ${secs(pull[rep]!)}, PutObject ${secs(put[rep]!)}, push ${secs(push[rep]!)}`);
    }
    s3.destroy();

    const [mGet, mPull, mPut, mPush] = [median(get), median(pull), median(put), median(push)];
    console.log(`pull: pull-from-oss ${secs(mPull)} (${rate(mPull)}), GetObject ${secs(mGet)} (${rate(mGet)}), ratio ${(mPull / mGet).toFixed(2)}`);
    console.log(`push: push-to-oss ${secs(mPush)} (${rate(mPush)}), PutObject ${secs(mPut)} (${rate(mPut)}), ratio ${(mPush / mPut).toFixed(2)}`);
  } finally {
    process.off('SIGINT', stop);
    await cleanup();
  }
}

await main();
