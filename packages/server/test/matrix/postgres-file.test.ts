// The server's integration suite on postgres+file (see suite.ts and helpers/backends.ts).
import '../helpers/backends.js'; // first: its after hook (stopping the services) belongs to this file
import { INTEGRATION_FILES, runMatrix } from './suite.js';

process.env.OAS_TEST_BACKEND = 'postgres+file';
runMatrix([...INTEGRATION_FILES, 'fuzz']);
