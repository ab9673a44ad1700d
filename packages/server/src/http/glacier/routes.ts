// Which Glacier operation a request is (glacier.md, "Routing and accounts"): all 33 of the
// vault API, matched on method, path shape and, for tags, the `operation` query parameter.
// Pure; the front end binds each operation to its handler.

export type GlacierOperation =
  | 'ListVaults' | 'CreateVault' | 'DescribeVault' | 'DeleteVault'
  | 'UploadArchive' | 'DeleteArchive'
  | 'InitiateMultipartUpload' | 'ListMultipartUploads' | 'UploadMultipartPart' | 'ListParts'
  | 'CompleteMultipartUpload' | 'AbortMultipartUpload'
  | 'InitiateJob' | 'ListJobs' | 'DescribeJob' | 'GetJobOutput'
  | 'SetVaultNotifications' | 'GetVaultNotifications' | 'DeleteVaultNotifications'
  | 'SetVaultAccessPolicy' | 'GetVaultAccessPolicy' | 'DeleteVaultAccessPolicy'
  | 'InitiateVaultLock' | 'GetVaultLock' | 'CompleteVaultLock' | 'AbortVaultLock'
  | 'AddTagsToVault' | 'RemoveTagsFromVault' | 'ListTagsForVault'
  | 'GetDataRetrievalPolicy' | 'SetDataRetrievalPolicy'
  | 'ListProvisionedCapacity' | 'PurchaseProvisionedCapacity';

export interface GlacierRoute {
  operation: GlacierOperation;
  /** The path's account segment as sent (`-` or an id); resolveAccountId checks it. */
  account: string;
  /** Decoded path parameters; the vault name is not validated here (CreateVault and the rest differ). */
  vault?: string;
  archiveId?: string;
  uploadId?: string;
  jobId?: string;
  lockId?: string;
}

/** A Glacier-shaped path with no operation for this method: answer `no-such-operation`. */
export interface GlacierNoRoute {
  operation: null;
  account: string;
}

type Shape = readonly string[];
type Params = Omit<GlacierRoute, 'operation' | 'account'>;

// `{v}`, `{archive}` ... capture a segment; anything else must match literally. Keys are METHOD.
const TABLE: ReadonlyArray<{ shape: Shape; ops: Partial<Record<string, GlacierOperation | { add: GlacierOperation; remove: GlacierOperation }>> }> = [
  { shape: ['vaults'], ops: { GET: 'ListVaults' } },
  { shape: ['vaults', '{v}'], ops: { PUT: 'CreateVault', GET: 'DescribeVault', DELETE: 'DeleteVault' } },
  { shape: ['vaults', '{v}', 'archives'], ops: { POST: 'UploadArchive' } },
  { shape: ['vaults', '{v}', 'archives', '{archive}'], ops: { DELETE: 'DeleteArchive' } },
  { shape: ['vaults', '{v}', 'multipart-uploads'], ops: { POST: 'InitiateMultipartUpload', GET: 'ListMultipartUploads' } },
  { shape: ['vaults', '{v}', 'multipart-uploads', '{upload}'], ops: { PUT: 'UploadMultipartPart', GET: 'ListParts', POST: 'CompleteMultipartUpload', DELETE: 'AbortMultipartUpload' } },
  { shape: ['vaults', '{v}', 'jobs'], ops: { POST: 'InitiateJob', GET: 'ListJobs' } },
  { shape: ['vaults', '{v}', 'jobs', '{job}'], ops: { GET: 'DescribeJob' } },
  { shape: ['vaults', '{v}', 'jobs', '{job}', 'output'], ops: { GET: 'GetJobOutput' } },
  { shape: ['vaults', '{v}', 'notification-configuration'], ops: { PUT: 'SetVaultNotifications', GET: 'GetVaultNotifications', DELETE: 'DeleteVaultNotifications' } },
  { shape: ['vaults', '{v}', 'access-policy'], ops: { PUT: 'SetVaultAccessPolicy', GET: 'GetVaultAccessPolicy', DELETE: 'DeleteVaultAccessPolicy' } },
  { shape: ['vaults', '{v}', 'lock-policy'], ops: { POST: 'InitiateVaultLock', GET: 'GetVaultLock', DELETE: 'AbortVaultLock' } },
  { shape: ['vaults', '{v}', 'lock-policy', '{lock}'], ops: { POST: 'CompleteVaultLock' } },
  { shape: ['vaults', '{v}', 'tags'], ops: { GET: 'ListTagsForVault', POST: { add: 'AddTagsToVault', remove: 'RemoveTagsFromVault' } } },
  { shape: ['policies', 'data-retrieval'], ops: { GET: 'GetDataRetrievalPolicy', PUT: 'SetDataRetrievalPolicy' } },
  { shape: ['provisioned-capacity'], ops: { GET: 'ListProvisionedCapacity', POST: 'PurchaseProvisionedCapacity' } },
];

const CAPTURE: Record<string, keyof Params> = { '{v}': 'vault', '{archive}': 'archiveId', '{upload}': 'uploadId', '{job}': 'jobId', '{lock}': 'lockId' };

/** The first path segments that make a request Glacier's rather than OAS's (`/vaults/...`). */
const GLACIER_ROOTS = new Set(['vaults', 'policies', 'provisioned-capacity']);

/** True for `/{account}/vaults...`, `/{account}/policies...` and `/{account}/provisioned-capacity`. */
export function isGlacierPath(wirePath: string): boolean {
  const [, first, second] = wirePath.split('/');
  return first !== undefined && first !== '' && first !== 'vaults' && second !== undefined && GLACIER_ROOTS.has(second);
}

function decodeSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/**
 * The operation of a request. Null when the path is not Glacier-shaped (let OAS answer);
 * `{ operation: null }` when it is but no operation matches (or a segment is undecodable).
 * `operation` is the decoded value of the `operation` query parameter, for tags.
 */
export function matchGlacierRoute(method: string, wirePath: string, operation?: string): GlacierRoute | GlacierNoRoute | null {
  if (!isGlacierPath(wirePath)) return null;
  const raw = wirePath.split('/').slice(1);
  if (raw[raw.length - 1] === '') raw.pop(); // a trailing slash
  const segments = raw.map(decodeSegment);
  const account = segments[0] ?? raw[0]!;
  const none: GlacierNoRoute = { operation: null, account };
  if (segments.some((s) => s === null || s === '')) return none;
  const rest = segments.slice(1) as string[];
  for (const { shape, ops } of TABLE) {
    if (shape.length !== rest.length) continue;
    const params: Params = {};
    const fits = shape.every((part, i) => {
      const key = CAPTURE[part];
      if (key) params[key] = rest[i]!;
      return key !== undefined || part === rest[i];
    });
    if (!fits) continue;
    const op = ops[method.toUpperCase()];
    if (op === undefined) return none;
    if (typeof op === 'string') return { operation: op, account, ...params };
    if (operation === 'add' || operation === 'remove') return { operation: op[operation], account, ...params };
    return none;
  }
  return none;
}
