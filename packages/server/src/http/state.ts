// Per-request state the hooks and a front end's handlers share, and helpers to read the
// raw request. Nothing here knows a wire protocol.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseQuery } from '@oas/sdk/protocol';
import type { AccountRecord } from '../service/records.js';

export interface RequestState {
  /** Operation name for logs and metrics (`UploadArchive`, `NotFound`, ...). */
  op: string;
  /** The request-target path exactly as sent (what the client signed). */
  path: string;
  /** Decoded query pairs in wire order. */
  query: Array<[string, string]>;
  /** Path parameters of the matched route. */
  params: string[];
  account: AccountRecord | null;
  /** Signed protocol headers (lower-case names) with the values the signature was verified with. */
  signedHeaders: Map<string, string>;
  bytesIn: number;
  bytesOut: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    call: RequestState;
  }
}

export function newState(): RequestState {
  return { op: 'Unknown', path: '/', query: [], params: [], account: null, signedHeaders: new Map(), bytesIn: 0, bytesOut: 0 };
}

/** Splits the raw request target into path and query (absolute-form targets lose scheme and host). */
export function splitTarget(url: string | undefined): { path: string; rawQuery: string } {
  let target = url ?? '/';
  const abs = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (abs) target = target.slice(abs[0].length) || '/';
  const hash = target.indexOf('#');
  if (hash >= 0) target = target.slice(0, hash);
  const q = target.indexOf('?');
  return q < 0 ? { path: target, rawQuery: '' } : { path: target.slice(0, q), rawQuery: target.slice(q + 1) };
}

export function parseTarget(url: string | undefined): { path: string; query: Array<[string, string]> } {
  const { path, rawQuery } = splitTarget(url);
  return { path, query: parseQuery(rawQuery) };
}

/** A query parameter by lower-case name (the last occurrence wins, as in signing); undefined when absent. */
export function queryParam(req: FastifyRequest, name: string): string | undefined {
  let value: string | undefined;
  for (const [k, v] of req.call.query) if (k.toLowerCase() === name) value = v;
  return value;
}

/** A plain request header (first value when repeated). */
export function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A signed protocol header as verified by the signature check. */
export function signedHeader(req: FastifyRequest, name: string): string | undefined {
  return req.call.signedHeaders.get(name);
}

export function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  // A Buffer, so fastify sends the Content-Type as given (it appends a charset to strings).
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  reply.request.call.bytesOut = bytes.byteLength;
  return reply.code(status).header('content-type', 'application/json').header('content-length', bytes.byteLength).send(bytes);
}

/** A success without a body: no Content-Type, Content-Length 0 (none for 204). */
export function sendEmpty(reply: FastifyReply, status: number, headers: Record<string, string> = {}): FastifyReply {
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  return reply.code(status).send();
}
