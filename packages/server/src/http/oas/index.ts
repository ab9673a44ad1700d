// The OAS front end (protocol.md): routes under /vaults, OAS signatures, OAS JSON and errors.
import { OASError } from '@oas/sdk/protocol';
import type { KeyLookup } from '../../service/accounts.js';
import type { ServiceContext } from '../../service/context.js';
import type { FrontEnd } from '../frontend.js';
import { authenticate } from './auth.js';
import { errorBody, sendError, toOASError } from './errors.js';
import { buildHandlers } from './handlers.js';
import { REQUEST_ID } from './headers.js';
import { matchRoute } from './routes.js';

export interface OasFrontEndOptions {
  lookupKey: KeyLookup;
  /** Largest difference between a request's Date and the server clock. */
  maxSkewMs: number;
  now(): number;
}

export function oasFrontEnd(ctx: ServiceContext, opts: OasFrontEndOptions): FrontEnd {
  return {
    name: 'oas',
    requestIdHeader: REQUEST_ID,
    match: matchRoute,
    async authenticate(req) {
      const auth = await authenticate(req, opts.lookupKey, opts.now(), opts.maxSkewMs);
      req.call.account = auth.account;
      req.call.signedHeaders = auth.oasHeaders;
    },
    handlers: buildHandlers(ctx),
    sendError,
    rawError(err, requestId) {
      const e: OASError = toOASError(err);
      return { status: e.status, contentType: 'application/json', body: errorBody(e, requestId) };
    },
  };
}
