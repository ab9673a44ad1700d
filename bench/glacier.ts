// npm run bench:glacier — the Glacier front end against the OAS front end of the same server
// (a child process, as deployed), on the same data in the same run:
//   1. one archive upload (checksums precomputed, body streamed from a file): Glacier
//      UploadArchive (x-amz-content-sha256 and tree hash checked while the body streams)
//      vs OAS postArchive
//   2. an archive-retrieval job, initiate to completion (the server re-reads and verifies
//      the archive), and 3. the download of its output, through each front end
//   4. signed describe-vault requests/s over 64 keep-alive connections: SigV4 vs OAS-signed
//      (the load generator is its own process, bench/load.ts)
// Alternating repetitions, medians; read the ratios Glacier / OAS (time: lower is better,
// requests/s: higher is better). Env: BENCH_SIZE_MIB (1024), BENCH_REPS (2), BENCH_LOAD_SECS (4).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import { loadavg } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { hashFile, signSigV4, stopLeafWorker, treeHashOfLeafBuffer } from '../packages/sdk/src/index.js';
import {
  MIB, type Server, children, createVault, expectStatus, median, runBench, runLoad, secs, sleep, startServer, stop, stopServer, waitForJob,
  writeSource,
} from './lib.js';

const KEY_ID = 'BENCHROOTKEY';
const KEY_SECRET = 'bench-root-secret-0123456789';
const CONNECTIONS = 64;
const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 1024) * MIB;
const REPS = Number(process.env.BENCH_REPS ?? 2);
const LOAD_MS = Number(process.env.BENCH_LOAD_SECS ?? 4) * 1000;
const VAULT = 'bench';
const work = fileURLToPath(new URL(`./.work/glacier-${process.pid}/`, import.meta.url));
const source = `${work}source.bin`;

interface GlacierReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One SigV4-signed Glacier request; `body` streams in (or is a small JSON); the reply body is read whole unless `sink`. */
function glacier(port: number, method: string, path: string, opts: {
  headers?: Record<string, string>; payloadHash?: string; body?: Buffer | (() => NodeJS.ReadableStream); length?: number;
  sink?: (res: http.IncomingMessage) => Promise<void>;
} = {}): Promise<GlacierReply> {
  const small = Buffer.isBuffer(opts.body) ? opts.body : undefined;
  const length = opts.length ?? small?.length ?? 0;
  const headers: Record<string, string> = {
    host: `127.0.0.1:${port}`, 'x-amz-glacier-version': '2012-06-01', 'content-length': String(length), ...opts.headers,
  };
  const payloadHash = opts.payloadHash ?? createHash('sha256').update(small ?? Buffer.alloc(0)).digest('hex');
  Object.assign(headers, signSigV4({ method, path, query: '', headers: Object.entries(headers) },
    { accessKeyId: KEY_ID, secretAccessKey: KEY_SECRET }, { region: 'us-east-1', payloadHash }));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      if (opts.sink && res.statusCode !== undefined && res.statusCode < 300) {
        opts.sink(res).then(() => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.alloc(0) }), reject);
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (typeof opts.body === 'function') {
      pipeline(opts.body(), req).catch(reject);
    } else {
      req.end(small);
    }
  });
}

/** The linear SHA-256 and the SHA-256 tree hash of the source (one read). */
async function glacierChecksums(): Promise<{ sha256: string; treeHash: string }> {
  const linear = createHash('sha256');
  const leaves: Buffer[] = [];
  let leaf = createHash('sha256');
  let fill = 0;
  for await (const chunk of createReadStream(source, { highWaterMark: MIB })) {
    const buf = chunk as Buffer;
    linear.update(buf);
    for (let at = 0; at < buf.length;) {
      const take = Math.min(MIB - fill, buf.length - at);
      leaf.update(buf.subarray(at, at + take));
      fill += take;
      at += take;
      if (fill === MIB) {
        leaves.push(leaf.digest());
        leaf = createHash('sha256');
        fill = 0;
      }
    }
  }
  if (fill > 0) leaves.push(leaf.digest());
  return { sha256: linear.digest('hex'), treeHash: treeHashOfLeafBuffer(Buffer.concat(leaves)) };
}

interface Row {
  what: string;
  glacier: string;
  oas: string;
  ratio: string;
}

const sinkToNull = (expected: number) => async (res: http.IncomingMessage | NodeJS.ReadableStream): Promise<void> => {
  let bytes = 0;
  res.on('data', (c: Buffer) => (bytes += c.length));
  await pipeline(res, createWriteStream('/dev/null'));
  if (bytes !== expected) throw new Error(`download: ${bytes} bytes, expected ${expected}`);
};

async function main(): Promise<void> {
  const [load] = loadavg();
  console.log(`glacier bench: ${SIZE / MIB} MiB archive, ${REPS} alternating repetitions, server as a child process, ` +
    `load average ${load!.toFixed(2)}`);
  await mkdir(work, { recursive: true });
  let server: Server | undefined;
  try {
    await writeSource(source, SIZE);
    // Untimed: both protocols' checksums (this also warms the page cache for every upload).
    const oasSums = await hashFile(source);
    const gSums = await glacierChecksums();
    await stopLeafWorker();
    server = await startServer({ dataDir: `${work}data`, logLevel: 'warn', keyId: KEY_ID, keySecret: KEY_SECRET, label: 'the server' });
    const port = server.port;
    const vaultId = await createVault(server.api, VAULT); // the same vault, by id for OAS and by name for Glacier
    const times = { upG: [] as number[], upO: [] as number[], jobG: [] as number[], jobO: [] as number[], dlG: [] as number[], dlO: [] as number[] };

    for (let rep = 0; rep < REPS; rep++) {
      // Glacier: upload, job, download.
      let start = performance.now();
      const up = await glacier(port, 'POST', `/-/vaults/${VAULT}/archives`, {
        headers: { 'x-amz-sha256-tree-hash': gSums.treeHash }, payloadHash: gSums.sha256, length: SIZE,
        body: () => createReadStream(source, { highWaterMark: MIB }),
      });
      times.upG.push(performance.now() - start);
      expectStatus(`glacier upload ${up.body.toString()}`, up.status, 201);
      const gArchive = String(up.headers['x-amz-archive-id']);
      start = performance.now();
      const job = await glacier(port, 'POST', `/-/vaults/${VAULT}/jobs`, { body: Buffer.from(JSON.stringify({ Type: 'archive-retrieval', ArchiveId: gArchive })) });
      expectStatus('glacier initiate job', job.status, 202);
      const jobId = String(job.headers['x-amz-job-id']);
      for (;;) {
        const d = JSON.parse((await glacier(port, 'GET', `/-/vaults/${VAULT}/jobs/${jobId}`)).body.toString()) as { Completed: boolean; StatusCode: string };
        if (d.Completed) {
          if (d.StatusCode !== 'Succeeded') throw new Error('glacier job failed');
          break;
        }
        await sleep(100);
      }
      times.jobG.push(performance.now() - start);
      start = performance.now();
      const out = await glacier(port, 'GET', `/-/vaults/${VAULT}/jobs/${jobId}/output`, { sink: sinkToNull(SIZE) });
      times.dlG.push(performance.now() - start);
      expectStatus('glacier job output', out.status, 200);
      if (out.headers['x-amz-sha256-tree-hash'] !== gSums.treeHash) throw new Error('glacier job output has the wrong tree hash');

      // OAS: the same.
      start = performance.now();
      const res = await server.api.postArchiveFromReader(vaultId, createReadStream(source, { highWaterMark: MIB }), SIZE, oasSums.etag, oasSums.treeEtag);
      await res.read();
      times.upO.push(performance.now() - start);
      expectStatus('oas upload', res.status, 201);
      const oArchive = res.getHeader('x-oas-archive-id')!;
      start = performance.now();
      const created = await server.api.createJob(vaultId, 'archive-retrieval', oArchive);
      created.dispose();
      expectStatus('oas create job', created.status, 202);
      const oJob = created.getHeader('x-oas-job-id')!;
      await waitForJob(server.api, vaultId, oJob, 100);
      times.jobO.push(performance.now() - start);
      start = performance.now();
      const got = await server.api.fetchJobOutput(vaultId, oJob);
      expectStatus('oas job output', got.status, 200);
      if (got.getHeader('x-oas-tree-etag') !== oasSums.treeEtag) throw new Error('oas job output has the wrong tree etag');
      await sinkToNull(SIZE)(got.body);
      times.dlO.push(performance.now() - start);

      // Keep the disk flat between repetitions.
      await glacier(port, 'DELETE', `/-/vaults/${VAULT}/archives/${gArchive}`);
      (await server.api.deleteArchive(vaultId, oArchive)).dispose();
      console.log(`  rep ${rep + 1}: upload glacier ${secs(times.upG[rep]!)} oas ${secs(times.upO[rep]!)}; `
        + `job glacier ${secs(times.jobG[rep]!)} oas ${secs(times.jobO[rep]!)}; download glacier ${secs(times.dlG[rep]!)} oas ${secs(times.dlO[rep]!)}`);
    }

    const rpsG: number[] = [];
    const rpsO: number[] = [];
    const spec = { port, warmupMs: 1000, ms: LOAD_MS, connections: CONNECTIONS, keyId: KEY_ID, keySecret: KEY_SECRET };
    for (let rep = 0; rep < REPS; rep++) {
      rpsG.push(await runLoad({ ...spec, path: `/-/vaults/${VAULT}`, sigv4: true }));
      rpsO.push(await runLoad({ ...spec, path: `/vaults/${vaultId}` }));
    }
    const fmt = (r: number) => `${r.toFixed(0)}/s`;
    console.log(`  rps: glacier [${rpsG.map(fmt).join(' ')}] oas [${rpsO.map(fmt).join(' ')}]`);

    const rate = (ms: number) => `${secs(ms)} (${(SIZE / MIB / (ms / 1000)).toFixed(0)} MiB/s)`;
    const row = (what: string, g: number[], o: number[], fmtOne: (v: number) => string): Row =>
      ({ what, glacier: fmtOne(median(g)), oas: fmtOne(median(o)), ratio: (median(g) / median(o)).toFixed(2) });
    const rows = [
      row(`1. upload ${SIZE / MIB} MiB archive (single request)`, times.upG, times.upO, rate),
      row('2. retrieval job, initiate to completion', times.jobG, times.jobO, secs),
      row('3. download of the job output', times.dlG, times.dlO, rate),
      row(`4. signed describe-vault, ${CONNECTIONS} conns (req/s)`, rpsG, rpsO, fmt),
    ];
    const [after] = loadavg();
    console.log('');
    const head: Row = { what: 'measure', glacier: 'Glacier (SigV4)', oas: 'OAS', ratio: 'ratio G/O' };
    const all = [head, ...rows];
    const width = (k: keyof Row) => Math.max(...all.map((r) => r[k].length));
    for (const r of all) console.log(`  ${r.what.padEnd(width('what'))}  ${r.glacier.padStart(width('glacier'))}  ${r.oas.padStart(width('oas'))}  ${r.ratio.padStart(width('ratio'))}`);
    console.log(`load average at the end ${after!.toFixed(2)}`);
  } finally {
    if (server) await stopServer(server).catch(() => {});
    await Promise.allSettled([...children].map(stop));
    await stopLeafWorker();
    await rm(work, { recursive: true, force: true });
  }
}

await runBench('bench:glacier', main, work);
