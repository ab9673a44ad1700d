// The OAS route table, matched on the raw request path: operation per (path, method). A
// known path with another method is 405 MethodNotAllowed; other paths are not OAS's.
import { HttpError } from '../errors.js';
import type { RouteResult } from '../frontend.js';

interface RouteDef {
  pattern: RegExp;
  methods: Record<string, string>;
}

const SEG = '([^/]+)';

const ROUTES: RouteDef[] = [
  { pattern: /^\/vaults$/, methods: { GET: 'ListVaults' } },
  { pattern: new RegExp(`^/vaults/${SEG}$`), methods: { PUT: 'CreateVault', GET: 'DescribeVault', DELETE: 'DeleteVault' } },
  { pattern: new RegExp(`^/vaults/${SEG}/archives$`), methods: { POST: 'UploadArchive' } },
  { pattern: new RegExp(`^/vaults/${SEG}/archives/${SEG}$`), methods: { DELETE: 'DeleteArchive' } },
  { pattern: new RegExp(`^/vaults/${SEG}/archives/${SEG}/meta$`), methods: { GET: 'GetArchiveMeta' } },
  { pattern: new RegExp(`^/vaults/${SEG}/multipart-uploads$`), methods: { POST: 'InitiateMultipartUpload', GET: 'ListMultipartUploads' } },
  {
    pattern: new RegExp(`^/vaults/${SEG}/multipart-uploads/${SEG}$`),
    methods: { PUT: 'UploadPart', GET: 'ListParts', POST: 'CompleteMultipartUpload', DELETE: 'AbortMultipartUpload' },
  },
  { pattern: new RegExp(`^/vaults/${SEG}/jobs$`), methods: { POST: 'InitiateJob', GET: 'ListJobs' } },
  { pattern: new RegExp(`^/vaults/${SEG}/jobs/${SEG}$`), methods: { GET: 'DescribeJob' } },
  { pattern: new RegExp(`^/vaults/${SEG}/jobs/${SEG}/output$`), methods: { GET: 'GetJobOutput' } },
];

export function matchRoute(method: string, path: string): RouteResult | null {
  for (const def of ROUTES) {
    const m = def.pattern.exec(path);
    if (!m) continue;
    const op = def.methods[method];
    if (!op) {
      const shown = path.length > 200 ? `${path.slice(0, 200)}...` : path;
      return {
        op: 'MethodNotAllowed',
        error: new HttpError('method-not-allowed', `${method} is not allowed on ${shown}; allowed: ${Object.keys(def.methods).join(', ')}`),
      };
    }
    return { op, auth: true, params: m.slice(1) };
  }
  return null;
}
