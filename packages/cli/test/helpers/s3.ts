// An S3-compatible store for `oascmd cp` tests: s3rver (the server package's dev dependency)
// on a free loopback port, its files in a temp directory removed by stop(). The OAS test
// server is then configured with OSS hosts pointing at it.
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface S3Store {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `ossHosts` for createServer: every name given, all pointing at this store. */
  ossHosts(names: string[]): Record<string, { endpoint: string; accessKeyId: string; secretAccessKey: string; addressing: 'path'; maxAttempts: number }>;
  stop(): Promise<void>;
}

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  httpServer?: Server;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

/** Starts s3rver with `buckets` created (its single key pair is S3RVER / S3RVER). */
export async function startS3(buckets: string[]): Promise<S3Store> {
  // A computed specifier: s3rver ships no types, and this file needs none of them.
  const specifier = 's3rver';
  const { default: S3rver } = (await import(specifier)) as { default: S3rverClass };
  const directory = await mkdtemp(join(tmpdir(), 'oascmd-s3-'));
  const server = new S3rver({
    address: '127.0.0.1', port: 0, silent: true, directory, vhostBuckets: false,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  });
  let port: number;
  try {
    ({ port } = await server.run());
  } catch (e) {
    await rm(directory, { recursive: true, force: true });
    throw e;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER',
    ossHosts: (names) => Object.fromEntries(names.map((name) => [name, {
      endpoint, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', addressing: 'path' as const, maxAttempts: 1,
    }])),
    async stop() {
      const http = server.httpServer;
      if (http) {
        const closed = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeAllConnections();
        await closed;
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}
