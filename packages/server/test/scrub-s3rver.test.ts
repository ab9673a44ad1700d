// The scrubber's integration tests (scrub.test.ts) on PostgreSQL metadata and S3 blobs
// (an in-process s3rver): flipped bytes and missing objects in the bucket are found too.
import './helpers/backends.js'; // first: its after hook (stopping the services) belongs to this file
import { describe } from 'node:test';

process.env.OAS_TEST_BACKEND = 'postgres+s3rver';
describe('scrub [postgres+s3rver]', async () => {
  await import('./scrub.test.js');
});
