// The route table, matched on the raw request path: operation per (path, method). Unknown
// paths are 404 NotFound; a known path with another method is 405 MethodNotAllowed.
import { OASError } from '@oas/sdk/protocol';

export interface RouteMatch {
  op: string;
  auth: boolean;
  params: string[];
}

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

const OPEN_ROUTES: RouteDef[] = [
  { pattern: /^\/health$/, methods: { GET: 'Health' } },
  { pattern: /^\/metrics$/, methods: { GET: 'Metrics' } },
];

export type MatchResult = RouteMatch | { op: 'NotFound' | 'MethodNotAllowed'; error: OASError };

export function matchRoute(method: string, path: string): MatchResult {
  for (const [defs, auth] of [[ROUTES, true], [OPEN_ROUTES, false]] as const) {
    for (const def of defs) {
      const m = def.pattern.exec(path);
      if (!m) continue;
      const op = def.methods[method];
      if (!op) {
        return {
          op: 'MethodNotAllowed',
          error: OASError.of('MethodNotAllowed', `${method} is not allowed on ${path.length > 200 ? `${path.slice(0, 200)}...` : path}; allowed: ${Object.keys(def.methods).join(', ')}`),
        };
      }
      return { op, auth, params: m.slice(1) };
    }
  }
  return { op: 'NotFound', error: OASError.of('NotFound', 'no such resource') };
}
