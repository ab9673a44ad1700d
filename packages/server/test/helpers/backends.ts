// The storage backends test servers run on, chosen by OAS_TEST_BACKEND:
//   sqlite+file       (default) the embedded stores in the server's data directory
//   postgres+file     a fresh database of this process's private PostgreSQL cluster, blobs in the data dir
//   postgres+s3rver   the same, blobs under a fresh prefix of a bucket on an in-process s3rver
//   postgres+rgw      the same on a single-node Ceph radosgw (30-40 s to start, once per process)
// Services start lazily, once per test process, on the first server that needs them, and
// stop in a root `after` hook registered when this module is first imported (matrix files
// import it before anything else, so the hook belongs to the file, not to one suite); the
// PostgreSQL and Ceph helpers also clean up if the process dies.
//
// Each data directory maps to its own database and prefix, kept for the life of the
// process, so a test that restarts a server over the same data directory finds its data
// again, exactly like the embedded default. The helpers below give tests (and the CLI they
// spawn) backend-independent views of a server's stores.
import { after } from 'node:test';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import {
  DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import type { CreateServerOptions } from '../../src/app.js';
import { startPostgres, type PostgresCluster } from './postgres.js';
import { startS3rver } from './s3rver.js';
import { startCephRgw } from './ceph-rgw.js';
import { testS3Client, type S3Endpoint } from './s3-client.js';

export const TEST_BACKENDS = ['sqlite+file', 'postgres+file', 'postgres+s3rver', 'postgres+rgw'] as const;
export type TestBackend = (typeof TEST_BACKENDS)[number];

export function testBackend(): TestBackend {
  const value = process.env.OAS_TEST_BACKEND || 'sqlite+file';
  if (!(TEST_BACKENDS as readonly string[]).includes(value)) {
    throw new Error(`OAS_TEST_BACKEND=${value}: expected one of ${TEST_BACKENDS.join(', ')}`);
  }
  return value as TestBackend;
}

/** The bucket every S3-backed test server of this process writes into (under its own prefix). */
export const TEST_BUCKET = 'oas-test';

interface S3Service extends S3Endpoint {
  client: S3Client;
  stop(): Promise<void>;
}

let postgres: Promise<PostgresCluster> | null = null;
let s3: Promise<S3Service> | null = null;
let s3Kind: 's3rver' | 'rgw' | null = null;

/** This process's PostgreSQL cluster (started on first use). */
export function sharedPostgres(): Promise<PostgresCluster> {
  postgres ??= startPostgres();
  return postgres;
}

/** This process's S3 service with TEST_BUCKET (started on first use). */
export function sharedS3(kind: 's3rver' | 'rgw'): Promise<S3Service> {
  if (s3 && s3Kind !== kind) throw new Error(`this process already runs ${s3Kind}, not ${kind}`);
  s3Kind = kind;
  s3 ??= (async () => {
    const server = kind === 'rgw' ? await startCephRgw() : await startS3rver();
    try {
      await server.createBucket(TEST_BUCKET);
    } catch (err) {
      await server.stop();
      throw err;
    }
    // s3rver deletes its directory on stop(); should the process end without it, do it then.
    const dir = (server as { dir?: string }).dir;
    const onExit = () => { if (dir) rmSync(dir, { recursive: true, force: true }); };
    process.once('exit', onExit);
    const client = testS3Client(server);
    return {
      endpoint: server.endpoint, region: server.region, accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey, forcePathStyle: server.forcePathStyle, client,
      async stop() {
        client.destroy();
        await server.stop();
        process.removeListener('exit', onExit);
      },
    };
  })();
  return s3;
}

/** Stops whatever this process started. */
export async function stopTestBackends(): Promise<void> {
  const [pg, s] = [postgres, s3];
  postgres = null;
  s3 = null;
  s3Kind = null;
  registry.clear();
  await Promise.allSettled([pg?.then((c) => c.stop()), s?.then((x) => x.stop())]);
}

after(stopTestBackends);

/** Where one data directory's stores live. */
export interface BackendPlace {
  backend: TestBackend;
  /** Server options selecting the stores (empty for sqlite+file). */
  options: Partial<CreateServerOptions>;
  /** Environment for an oas-server child process (keys, migrate, serve) on the same stores. */
  env: Record<string, string>;
  database?: string;
  /** Key prefix in TEST_BUCKET, ending in '/'. */
  prefix?: string;
}

const registry = new Map<string, Promise<BackendPlace>>();
let counter = 0;

/** The stores of data directory `dataDir` under the current OAS_TEST_BACKEND (created on first use). */
export function backendFor(dataDir: string, backend: TestBackend = testBackend()): Promise<BackendPlace> {
  let place = registry.get(dataDir);
  if (!place) {
    place = makePlace(backend);
    registry.set(dataDir, place);
    place.catch(() => registry.delete(dataDir));
  }
  return place;
}

/** The place of a data directory if a server was started on it (any backend). */
export function knownPlace(dataDir: string): Promise<BackendPlace> | undefined {
  return registry.get(dataDir);
}

async function makePlace(backend: TestBackend): Promise<BackendPlace> {
  if (backend === 'sqlite+file') return { backend, options: {}, env: {} };
  const n = ++counter;
  const tag = `${process.pid}_${n}_${randomBytes(3).toString('hex')}`;
  const cluster = await sharedPostgres();
  const database = `t_${tag}`;
  const url = await cluster.createDatabase(database);
  const place: BackendPlace = {
    backend, database,
    options: { metadataUri: url },
    env: { OAS_METADATA: url },
  };
  if (backend === 'postgres+s3rver' || backend === 'postgres+rgw') {
    const service = await sharedS3(backend === 'postgres+rgw' ? 'rgw' : 's3rver');
    const prefix = `t${tag}/`;
    place.prefix = prefix;
    place.options = {
      ...place.options, blobsUri: `s3://${TEST_BUCKET}/${prefix}`, s3Endpoint: service.endpoint, s3Region: service.region,
      s3AccessKeyId: service.accessKeyId, s3SecretAccessKey: service.secretAccessKey, s3ForcePathStyle: true,
    };
    place.env = {
      ...place.env, OAS_BLOBS: `s3://${TEST_BUCKET}/${prefix}`, OAS_S3_ENDPOINT: service.endpoint, OAS_S3_REGION: service.region,
      OAS_S3_ACCESS_KEY_ID: service.accessKeyId, OAS_S3_SECRET_ACCESS_KEY: service.secretAccessKey, OAS_S3_FORCE_PATH_STYLE: 'true',
    };
  }
  return place;
}

/** Drops a data directory's database and objects (its data directory is the caller's). */
export async function releaseBackend(dataDir: string): Promise<void> {
  const pending = registry.get(dataDir);
  if (!pending) return;
  registry.delete(dataDir);
  const place = await pending.catch(() => null);
  if (!place) return;
  if (place.database && postgres) await (await postgres).dropDatabase(place.database).catch(() => undefined);
  if (place.prefix && s3) {
    const service = await s3;
    for (const key of await listObjects(service.client, place.prefix)) {
      await service.client.send(new DeleteObjectsCommand({ Bucket: TEST_BUCKET, Delete: { Objects: [{ Key: place.prefix + key }] } })).catch(() => undefined);
    }
  }
}

async function listObjects(client: S3Client, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const res = await client.send(new ListObjectsV2Command({ Bucket: TEST_BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of res.Contents ?? []) if (o.Key) out.push(o.Key.slice(prefix.length));
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return out.sort();
}

/**
 * The objects of an S3-backed server's blob store (committed data and leaves, and markers of
 * writes in progress), relative to its prefix; null when the data directory's blobs are files.
 */
export async function s3BlobObjects(dataDir: string): Promise<string[] | null> {
  const pending = registry.get(dataDir);
  const place = pending && await pending;
  if (!place?.prefix || !s3) return null;
  return listObjects((await s3).client, place.prefix);
}

/**
 * Flips the byte at `offset` of a stored blob, behind the server's back (tests of corruption
 * detection). Knows both layouts: `<dataDir>/blobs/blobs/<2 hex>/<key>` and `<prefix>blobs/<key>`.
 */
export async function corruptBlobByte(dataDir: string, blobKey: string, offset: number): Promise<void> {
  const pending = registry.get(dataDir);
  const place = pending && await pending;
  if (place?.prefix && s3) {
    const { client } = await s3;
    const Key = `${place.prefix}blobs/${blobKey}`;
    const res = await client.send(new GetObjectCommand({ Bucket: TEST_BUCKET, Key }));
    const body = Buffer.from(await res.Body!.transformToByteArray());
    body[offset] = body[offset]! ^ 0xff;
    await client.send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key, Body: body, ContentLength: body.length }));
    return;
  }
  const { open } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const fh = await open(join(dataDir, 'blobs', 'blobs', blobKey.slice(0, 2), blobKey), 'r+');
  try {
    const byte = Buffer.alloc(1);
    await fh.read(byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0xff;
    await fh.write(byte, 0, 1, offset);
  } finally {
    await fh.close();
  }
}
