// The server's integration suite on postgres+s3rver (see suite.ts and helpers/backends.ts).
import '../helpers/backends.js'; // first: its after hook (stopping the services) belongs to this file
import { INTEGRATION_FILES, runMatrix } from './suite.js';

process.env.OAS_TEST_BACKEND = 'postgres+s3rver';
runMatrix(INTEGRATION_FILES);
