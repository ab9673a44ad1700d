// An S3-compatible store for `oascmd cp` tests: the server package's s3rver test helper
// (loopback, a free port, its files in a temp directory removed by stop()) with the
// buckets created. The OAS test server is then configured with OSS hosts pointing at it.
import { startS3rver } from '../../../server/test/helpers/s3rver.js';

export interface S3Store {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `ossHosts` for createServer: every name given, all pointing at this store. */
  ossHosts(names: string[]): Record<string, { endpoint: string; accessKeyId: string; secretAccessKey: string; addressing: 'path'; maxAttempts: number }>;
  stop(): Promise<void>;
}

/** Starts s3rver with `buckets` created (its single key pair is S3RVER / S3RVER). */
export async function startS3(buckets: string[]): Promise<S3Store> {
  const s3 = await startS3rver();
  try {
    for (const name of buckets) await s3.createBucket(name);
  } catch (e) {
    await s3.stop();
    throw e;
  }
  const { endpoint, accessKeyId, secretAccessKey } = s3;
  return {
    endpoint, accessKeyId, secretAccessKey,
    ossHosts: (names) => Object.fromEntries(names.map((name) => [name, {
      endpoint, accessKeyId, secretAccessKey, addressing: 'path' as const, maxAttempts: 1,
    }])),
    stop: () => s3.stop(),
  };
}
