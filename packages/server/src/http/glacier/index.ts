// The Glacier front end (docs/glacier.md): routes under /{accountId}/vaults, SigV4 with the
// same key pairs as OAS, Glacier JSON and errors, on the same port and the same service
// layer as http/oas/.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SigV4VerifyOptions } from '@oas/sdk';
import type { KeyLookup } from '../../service/accounts.js';
import type { ServiceContext } from '../../service/context.js';
import { isStorageFull } from '../../service/errors.js';
import type { AccountRecord } from '../../service/records.js';
import { awsAccountIdOf } from '../../util/aws-identity.js';
import type { FrontEnd, RouteResult } from '../frontend.js';
import { authenticateGlacier, authenticateSmallBody, readSmallBody } from './auth.js';
import { GlacierFailure, glacierError } from './errors.js';
import { buildGlacierHandlers, type GlacierCall, type GlacierCalls } from './handlers.js';
import { toGlacierProblem, type ProblemScope } from './problems.js';
import { REQUEST_ID_HEADER } from './responses.js';
import { SIDE_BODY_OPERATIONS } from './side.js';
import type { TierDelays } from './tiers.js';
import { matchGlacierRoute, type GlacierOperation } from './routes.js';
import { SELF_ACCOUNT, isAccountId, resolveAccountId, vaultArn, type GlacierContext } from './wire.js';

export interface GlacierFrontEndOptions {
  lookupKey: KeyLookup;
  /** Largest difference between a request's x-amz-date and the server clock. */
  maxSkewMs: number;
  now(): number;
  /** The region named in ARNs (any region is accepted in a signature's scope). */
  region: string;
  /** Extra delay of retrieval jobs per Tier (--glacier-tier-delay; default none). */
  tierDelays?: TierDelays;
  /** --glacier off: every Glacier request is refused, before its signature is looked at. */
  turnedOff?: boolean;
}

/** The operations this server implements; the other side operations answer "not supported". */
const IMPLEMENTED: ReadonlySet<GlacierOperation> = new Set<GlacierOperation>([
  'ListVaults', 'CreateVault', 'DescribeVault', 'DeleteVault', 'UploadArchive', 'DeleteArchive',
  'InitiateMultipartUpload', 'ListMultipartUploads', 'UploadMultipartPart', 'ListParts', 'CompleteMultipartUpload', 'AbortMultipartUpload',
  'InitiateJob', 'ListJobs', 'DescribeJob', 'GetJobOutput', 'ListProvisionedCapacity',
  'AddTagsToVault', 'RemoveTagsFromVault', 'ListTagsForVault',
  'SetVaultNotifications', 'GetVaultNotifications', 'DeleteVaultNotifications',
  'SetVaultAccessPolicy', 'GetVaultAccessPolicy', 'DeleteVaultAccessPolicy',
  'SetDataRetrievalPolicy', 'GetDataRetrievalPolicy',
]);

/** Operations whose small JSON body is read before the signature is checked (botocore signs it without x-amz-content-sha256). */
const BODY_SIGNED: ReadonlySet<string> = new Set(['InitiateJob', ...SIDE_BODY_OPERATIONS]);

function match(method: string, path: string, query: ReadonlyArray<readonly [string, string]>, turnedOff: boolean): RouteResult | null {
  // `?operation=add|remove` picks between the two tag operations on POST .../tags.
  const route = matchGlacierRoute(method, path, query.find(([k]) => k === 'operation')?.[1]);
  // Only `-` or a 12-digit id makes a path Glacier's: anything else (`/../vaults/...`) is
  // OAS's to refuse, as it always was.
  if (route === null || !(route.account === SELF_ACCOUNT || isAccountId(route.account))) return null;
  if (turnedOff) return { op: 'BadRequest', error: new GlacierFailure({ kind: 'turned-off' }) };
  if (route.operation === null) {
    return { op: 'BadRequest', error: new GlacierFailure({ kind: 'no-such-operation', method, path: path.length > 200 ? `${path.slice(0, 200)}...` : path }) };
  }
  const id = route.archiveId ?? route.uploadId ?? route.jobId ?? '';
  // An operation this server does not implement is authenticated in its handler (notSupported).
  return { op: route.operation, auth: IMPLEMENTED.has(route.operation), params: [route.account, route.vault ?? '', id] };
}

/** Every operation of the vault API (routes.ts). */
const ALL_OPERATIONS: readonly GlacierOperation[] = [
  'ListVaults', 'CreateVault', 'DescribeVault', 'DeleteVault', 'UploadArchive', 'DeleteArchive',
  'InitiateMultipartUpload', 'ListMultipartUploads', 'UploadMultipartPart', 'ListParts', 'CompleteMultipartUpload', 'AbortMultipartUpload',
  'InitiateJob', 'ListJobs', 'DescribeJob', 'GetJobOutput',
  'SetVaultNotifications', 'GetVaultNotifications', 'DeleteVaultNotifications',
  'SetVaultAccessPolicy', 'GetVaultAccessPolicy', 'DeleteVaultAccessPolicy',
  'InitiateVaultLock', 'GetVaultLock', 'CompleteVaultLock', 'AbortVaultLock',
  'AddTagsToVault', 'RemoveTagsFromVault', 'ListTagsForVault',
  'GetDataRetrievalPolicy', 'SetDataRetrievalPolicy', 'ListProvisionedCapacity', 'PurchaseProvisionedCapacity',
];

/** A body larger than this that was never read is not drained: the connection closes. */
const DRAIN_LIMIT = 16 * 1024 * 1024;

export function glacierFrontEnd(ctx: ServiceContext, opts: GlacierFrontEndOptions): FrontEnd {
  const calls: GlacierCalls = new WeakMap<FastifyRequest, GlacierCall>();
  /** Verify options for one request; the account its key lookup found is kept for admit(). */
  const verifyOptions = (): SigV4VerifyOptions & { looked: Map<string, AccountRecord | null> } => {
    const looked = new Map<string, AccountRecord | null>();
    return {
      looked,
      secretFor: async (id) => {
        const account = await opts.lookupKey(id);
        looked.set(id, account);
        return account?.accessKeySecret;
      },
      now: opts.now(),
      maxSkewMs: opts.maxSkewMs,
    };
  };

  /** The caller's account once its signature verified, checked against the path's account id. */
  async function admit(req: FastifyRequest, accessKeyId: string, payloadHash: string, bodyCheckNeeded: boolean, looked: Map<string, AccountRecord | null>): Promise<GlacierCall> {
    // The verifier looked the key up already: one metadata round trip per request, not two.
    const account = looked.has(accessKeyId) ? looked.get(accessKeyId)! : await opts.lookupKey(accessKeyId);
    if (!account) throw new GlacierFailure({ kind: 'signature', failure: { ok: false, reason: 'unknown-access-key', message: 'The security token included in the request is invalid.' } });
    const gctx: GlacierContext = { region: opts.region, accountId: awsAccountIdOf(account.id) };
    resolveAccountId(req.call.params[0]!, gctx.accountId);
    req.call.account = account;
    const call: GlacierCall = { gctx, payloadHash, bodyCheckNeeded };
    calls.set(req, call);
    return call;
  }

  /** Authenticates a request whose small body was read (BODY_SIGNED operations). */
  const admitWithBody = async (req: FastifyRequest, body: Awaited<ReturnType<typeof readSmallBody>>): Promise<GlacierCall> => {
    const options = verifyOptions();
    const result = await authenticateSmallBody(req.raw, body, options);
    return admit(req, result.auth.accessKeyId, result.payloadHash, false, options.looked);
  };
  /**
   * An operation this server does not implement: authenticated like the others (its small
   * body read first, as botocore signs such bodies without x-amz-content-sha256), so a bad
   * signature or a foreign account id is refused as such, then answered "not supported".
   */
  const notSupported = async (req: FastifyRequest): Promise<never> => {
    await admitWithBody(req, await readSmallBody(req.raw));
    throw new GlacierFailure({ kind: 'not-supported', feature: req.call.op });
  };
  const handlers = {
    ...Object.fromEntries(ALL_OPERATIONS.filter((op) => !IMPLEMENTED.has(op)).map((op) => [op, notSupported])),
    ...buildGlacierHandlers(ctx, calls, { admitWithBody }, opts.tierDelays),
  };

  const scopeOf = (req: FastifyRequest): ProblemScope => {
    const call = calls.get(req);
    const vault = req.call?.params[1];
    return call && vault ? { vaultArn: vaultArn(call.gctx, vault) } : {};
  };

  return {
    name: 'glacier',
    requestIdHeader: REQUEST_ID_HEADER,
    match: (method, path, query) => match(method, path, query, opts.turnedOff === true),
    async authenticate(req) {
      if (BODY_SIGNED.has(req.call.op)) return; // the handler reads the body, then authenticates
      const options = verifyOptions();
      const result = await authenticateGlacier(req.raw, options);
      await admit(req, result.auth.accessKeyId, result.payloadHash, result.bodyCheckNeeded, options.looked);
    },
    handlers,
    sendError(req: FastifyRequest, reply: FastifyReply, err: unknown) {
      const { status, body } = glacierError(toGlacierProblem(err, scopeOf(req), req.raw.method, req.call?.path));
      const raw = req.raw;
      // A body the server cannot store (storage full) or will not drain is not read further.
      if (isStorageFull(err) || (!raw.complete && !raw.readableDidRead && Number(raw.headers['content-length'] ?? 0) > DRAIN_LIMIT)) {
        reply.header('connection', 'close');
      }
      const bytes = Buffer.from(JSON.stringify(body), 'utf8');
      req.call.bytesOut = bytes.byteLength;
      return reply.code(status).header(REQUEST_ID_HEADER, String(req.id)).header('content-type', 'application/json')
        .header('content-length', bytes.byteLength).send(bytes);
    },
    rawError(err) {
      const { status, body } = glacierError(toGlacierProblem(err));
      return { status, contentType: 'application/json', body: JSON.stringify(body) };
    },
  };
}
