// Starts the real OAS server in process on a free port with a temporary data directory,
// and hands out OASAPI clients pointed at it (directly, or through a fault proxy).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type CreateServerOptions, type OasServer } from '@oas/server';
import { OASAPI } from '../../src/client/api.js';
import { startFaultProxy, type FaultProxy, type FaultRule } from './fault-proxy.js';

export const KEY_ID = 'easeTestKeyId';
export const KEY_SECRET = 'easeTestKeySecret';

export interface TestServer {
  server: OasServer;
  /** A client talking to the server directly. */
  api: OASAPI;
  /** A scratch directory for the test's local files (removed by close). */
  dir: string;
  /** A client talking through a new fault proxy (both closed by close). */
  proxied(rule?: FaultRule): Promise<{ api: OASAPI; proxy: FaultProxy }>;
  close(): Promise<void>;
}

export async function startTestServer(options: CreateServerOptions = {}): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'oas-ease-'));
  const server = await createServer({
    dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0, logLevel: 'silent',
    rootAccessKeyId: KEY_ID, rootAccessKeySecret: KEY_SECRET, jobPollMs: 20, shutdownGraceMs: 200, ...options,
  });
  const clients: OASAPI[] = [];
  const proxies: FaultProxy[] = [];
  const client = (port: number) => {
    const api = new OASAPI('127.0.0.1', KEY_ID, KEY_SECRET, { port });
    clients.push(api);
    return api;
  };
  return {
    server,
    api: client(server.port),
    dir,
    async proxied(rule) {
      const proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port }, rule);
      proxies.push(proxy);
      return { api: client(proxy.port), proxy };
    },
    async close() {
      for (const api of clients) api.close();
      for (const proxy of proxies) await proxy.close();
      await server.close(200);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
