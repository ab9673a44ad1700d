// Starts an in-process server on port 0 over a temporary data directory, on the stores
// OAS_TEST_BACKEND selects (helpers/backends.ts; default: the embedded ones in the data dir).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type CreateServerOptions, type OasServer } from '../../src/app.js';
import { Client } from './client.js';
import { backendFor, releaseBackend } from './backends.js';

export const ROOT_ID = 'TESTROOTACCESSKEY';
export const ROOT_SECRET = 'test-root-secret-0123456789';

export interface TestServer {
  server: OasServer;
  client: Client;
  dataDir: string;
  port: number;
  /** Closes the server (keeping the data directory). */
  stop(): Promise<void>;
  /** Closes the server and removes the data directory. */
  close(): Promise<void>;
}

export async function tempDir(prefix = 'oas-server-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function startServer(opts: CreateServerOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? (await tempDir());
  // Explicit stores or URIs win; otherwise this data directory's place in the test backend.
  const chosen = opts.meta || opts.blobs || opts.metadataUri || opts.blobsUri;
  const backend = chosen ? {} : (await backendFor(dataDir)).options;
  const server = await createServer({
    host: '127.0.0.1', port: 0, logLevel: 'silent', jobPollMs: 100,
    rootAccessKeyId: ROOT_ID, rootAccessKeySecret: ROOT_SECRET, ...backend, ...opts, dataDir,
  });
  const stop = () => server.close(2000);
  return {
    server, dataDir, port: server.port,
    client: new Client(server.port, ROOT_ID, ROOT_SECRET),
    stop,
    async close() {
      await stop();
      await releaseBackend(dataDir);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
