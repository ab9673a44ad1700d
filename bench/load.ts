// The load generator of bench:server and bench:cluster, its own process (spawned by
// runLoad in bench/lib.ts with a JSON LoadSpec as its argument): `connections` concurrent
// request loops, each request signed when it is sent; a warm-up run, then the measured
// run, whose {ok, failed, ms} it prints as one JSON line. Requests are OAS-signed, or
// SigV4-signed Glacier requests with `sigv4` (bench:glacier).
import http from 'node:http';
import { authorizationHeader, computeSignature, formatRfc1123, signSigV4, stringToSign } from '../packages/sdk/src/index.js';
import type { LoadSpec } from './lib.js';

/** The headers of one signed GET of `spec.path`. */
function signedHeaders(spec: LoadSpec): Record<string, string> {
  if (spec.sigv4) {
    const headers: Record<string, string> = { host: `127.0.0.1:${spec.port}`, 'x-amz-glacier-version': '2012-06-01' };
    return { ...headers, ...signSigV4({ method: 'GET', path: spec.path, query: '', headers: Object.entries(headers) },
      { accessKeyId: spec.keyId, secretAccessKey: spec.keySecret }, { region: 'us-east-1' }) };
  }
  const headers = { Date: formatRfc1123(), 'x-oas-version': '0.2.5' };
  const signature = computeSignature(spec.keySecret, stringToSign('GET', Object.entries(headers), spec.path, []));
  return { ...headers, Authorization: authorizationHeader(spec.keyId, signature) };
}

async function loadGenerator(spec: LoadSpec): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
  let ok = 0;
  let failed = 0;
  const once = () => new Promise<void>((resolve) => {
    const req = http.request({
      host: '127.0.0.1', port: spec.port, path: spec.path, method: 'GET', agent, headers: signedHeaders(spec),
    }, (res) => {
      if (res.statusCode === 200) ok++;
      else failed++;
      res.resume();
      res.once('end', resolve);
      res.once('error', () => resolve());
    });
    req.once('error', () => { failed++; resolve(); });
    req.end();
  });
  const run = async (ms: number) => {
    ok = failed = 0;
    const start = performance.now();
    const until = start + ms;
    await Promise.all(Array.from({ length: spec.connections }, async () => {
      while (performance.now() < until) await once();
    }));
    return { ok, failed, ms: performance.now() - start };
  };
  await run(spec.warmupMs);
  const result = await run(spec.ms);
  agent.destroy();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await loadGenerator(JSON.parse(process.argv[2]!) as LoadSpec);
