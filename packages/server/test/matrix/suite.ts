// The backend matrix: the server's integration test files, run unchanged against other
// storage backends. Each matrix file (postgres-file.test.ts, ...) sets OAS_TEST_BACKEND and
// loads these files, each inside its own suite so its before/after hooks stay its own; one
// `node --test` run then covers every combination and ends with one summary.
//
// Not here, on purpose (they are about the embedded stores and stay sqlite+file only):
// lifecycle (temporary files in the data dir, start-up cleanup), crash (kill -9 and the
// sqlite file), cli (the command line over a data dir), config, store-* (each backend's
// own contract tests), oss-* (the OSS transfer suites). fuzz runs on postgres+file only
// (it reads the data dir's tmp/ at the end; its point there is hostile input reaching SQL).
import { describe } from 'node:test';
import { testBackend } from '../helpers/backends.js';

export const INTEGRATION_FILES = ['vaults', 'archives', 'multipart', 'jobs', 'auth', 'quirks', 'sdk', 'inventory-interval', 'read-verify'] as const;

/** Declares one suite per integration file for the backend set in OAS_TEST_BACKEND. */
export function runMatrix(files: readonly string[] = INTEGRATION_FILES): void {
  const backend = testBackend();
  for (const name of files) {
    describe(`${name} [${backend}]`, async () => {
      await import(`../${name}.test.js`);
    });
  }
}
