// SigV4 authentication of a Glacier request as node received it (glacier.md, "Signatures"):
// the raw URL and raw headers, never framework-normalised ones; and the bounded read of the
// small JSON bodies some operations carry, hashed for the verifier and checked against
// x-amz-content-sha256. Streamed bodies (uploads) use payloadHashTransform instead.
import type { IncomingMessage } from 'node:http';
import {
  verifySigV4, pairRawHeaders, sha256Hex, type SigV4Request, type SigV4Success, type SigV4VerifyOptions,
} from '@oas/sdk';
import { GlacierFailure } from './errors.js';

/** Request as signed: method, wire path and query split from the raw URL, raw header pairs. */
export function sigV4RequestOf(req: Pick<IncomingMessage, 'method' | 'url' | 'rawHeaders'>): SigV4Request {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return {
    method: req.method ?? 'GET',
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? '' : url.slice(q + 1),
    headers: pairRawHeaders(req.rawHeaders),
  };
}

/**
 * Verifies the request's signature or throws GlacierFailure with the precise refusal. When
 * `bodyCheckNeeded` is set on the result, the body must still be checked against `payloadHash`.
 */
export async function authenticateGlacier(
  req: Pick<IncomingMessage, 'method' | 'url' | 'rawHeaders'>, options: SigV4VerifyOptions,
): Promise<SigV4Success> {
  const result = await verifySigV4(sigV4RequestOf(req), options);
  if (!result.ok) throw new GlacierFailure({ kind: 'signature', failure: result });
  return result;
}

/** Policies are at most 20 KB; everything else is smaller. */
export const SMALL_BODY_LIMIT = 64 * 1024;

/** Reads a small body whole (bounded) and hashes it for the verifier. */
export async function readSmallBody(body: AsyncIterable<Buffer | string>, limit = SMALL_BODY_LIMIT): Promise<{ bytes: Buffer; sha256: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > limit) throw new GlacierFailure({ kind: 'invalid-parameter', message: `The request body is larger than ${limit} bytes.` });
    chunks.push(buf);
  }
  const bytes = Buffer.concat(chunks);
  return { bytes, sha256: sha256Hex(bytes) };
}

/**
 * Authenticates a request whose small body has been read: the body's hash is the payload
 * hash when the client sent no x-amz-content-sha256, and must equal it when it did.
 */
export async function authenticateSmallBody(
  req: Pick<IncomingMessage, 'method' | 'url' | 'rawHeaders'>, body: { sha256: string }, options: Omit<SigV4VerifyOptions, 'bodySha256'>,
): Promise<SigV4Success> {
  const result = await authenticateGlacier(req, { ...options, bodySha256: body.sha256 });
  if (result.bodyCheckNeeded && result.payloadHash !== body.sha256) {
    throw new GlacierFailure({ kind: 'payload-hash-mismatch', expected: result.payloadHash, computed: body.sha256 });
  }
  return result;
}
