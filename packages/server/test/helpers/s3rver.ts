// An in-process S3 server (s3rver) for tests: loopback, a free port, its files in a temp
// directory that stop() removes (or, failing that, the exit of the process).
//
//   const s3 = await startS3rver();
//   after(() => s3.stop());
//   await s3.createBucket('data');
//   const client = testS3Client(s3);            // helpers/s3-client.ts
//
// s3rver accepts one key pair (S3RVER / S3RVER) and checks signatures; a request signed
// with another key is answered 403 InvalidAccessKeyId. It does not understand the CRC
// checksum trailers recent AWS SDKs send by default: clients must be created with
// `requestChecksumCalculation: 'WHEN_REQUIRED'` and `responseChecksumValidation:
// 'WHEN_REQUIRED'` (testS3Client does that). Single-part ETags are the MD5 of the data.
import { rmSync } from 'node:fs';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { testS3Client, type S3Endpoint } from './s3-client.js';

export interface S3TestServer extends S3Endpoint {
  /** s3rver's storage directory (objects are files `<bucket>/<key>._S3rver_object`). */
  dir: string;
  /** Creates a bucket (an existing one of ours is not an error). */
  createBucket(name: string): Promise<void>;
  /** Stops the server, cuts open connections and removes its files. Safe to call twice. */
  stop(): Promise<void>;
}

export async function startS3rver(): Promise<S3TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 'oas-s3rver-'));
  // Should the process end without stop(), its files go anyway.
  const onExit = () => rmSync(directory, { recursive: true, force: true });
  process.once('exit', onExit);
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, vhostBuckets: false });
  keepDirectoriesOnDelete(server);
  let address;
  try {
    address = await server.run();
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    process.removeListener('exit', onExit);
    throw err;
  }
  const endpoint: S3Endpoint = {
    endpoint: `http://127.0.0.1:${address.port}`,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
  };
  const client = testS3Client(endpoint);
  let stopped: Promise<void> | null = null;
  return {
    ...endpoint,
    dir: directory,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    stop() {
      stopped ??= (async () => {
        client.destroy();
        const http = server.httpServer;
        if (http) {
          const closed = new Promise<void>((resolve) => http.close(() => resolve()));
          // Keep-alive sockets of clients would hold close() open.
          http.closeAllConnections();
          await closed;
        }
        await rm(directory, { recursive: true, force: true });
        process.removeListener('exit', onExit);
      })();
      return stopped;
    },
  };
}

/** The part of s3rver's file store (3.7) that keepDirectoriesOnDelete replaces. */
interface FileStore {
  getResourcePath(bucket: string, key: string, type: string): string;
  deleteObject(bucket: string, key: string): Promise<void>;
}

/**
 * s3rver's DeleteObject removes a key's directories once they are empty, which races a PUT
 * of another key into the same directory (`<prefix>/pending/` of the S3 blob store sees
 * puts and deletes at once): the PUT's file stream fails with ENOENT and s3rver has no
 * handler for it, an uncaughtException in the test process. S3 has no directories, so the
 * delete here removes only the key's own files; its listings ignore empty directories.
 */
function keepDirectoriesOnDelete(server: S3rver): void {
  const store = (server as unknown as { store: FileStore }).store;
  store.deleteObject = async (bucket, key) => {
    await Promise.all(['object', 'object.md5', 'metadata.json'].map((type) =>
      unlink(store.getResourcePath(bucket, key, type)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      })));
  };
}
