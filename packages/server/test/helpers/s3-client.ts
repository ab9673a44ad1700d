// An S3 client for test fixtures (creating buckets, seeding and reading objects) against
// the servers of s3rver.ts and ceph-rgw.ts.
import { S3Client } from '@aws-sdk/client-s3';

/** Where an S3-compatible test server answers and how to sign for it. */
export interface S3Endpoint {
  /** `http://127.0.0.1:<port>` (loopback only). */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Both test servers are addressed path-style (`endpoint/bucket/key`). */
  forcePathStyle: true;
}

/**
 * A client for `server`. Checksums are only sent and checked where S3 requires them:
 * neither s3rver nor radosgw of Debian 12 (Ceph 16) understands the CRC trailers newer
 * SDKs send by default, so any client of these servers needs the same two settings.
 */
export function testS3Client(server: S3Endpoint, options: { maxAttempts?: number } = {}): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: options.maxAttempts ?? 3,
  });
}
