// What a wire protocol plugs into the HTTP plumbing (http/server.ts): its routes, its
// authentication, its handlers and how it renders errors. OAS lives in http/oas/; another
// protocol sits beside it as http/<protocol>/ and calls the same service functions.
import type { FastifyReply, FastifyRequest } from 'fastify';

export type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;

/** The operation a request asks for; `error` when the path is known but the request is not (e.g. method). */
export type RouteResult =
  | { op: string; auth: boolean; params: string[] }
  | { op: string; error: Error };

/** An error response written straight to a socket (requests fastify never parses). */
export interface RawErrorResponse {
  status: number;
  contentType: string;
  body: string;
}

export interface FrontEnd {
  /** The protocol's name, for logs. */
  readonly name: string;
  /** Response header carrying the request id. */
  readonly requestIdHeader: string;
  /** The route of a request (query: decoded pairs in wire order); null when the path is not one of this protocol's. */
  match(method: string, path: string, query: ReadonlyArray<readonly [string, string]>): RouteResult | null;
  /** Verifies the request's signature; sets req.call.account and req.call.signedHeaders. */
  authenticate(req: FastifyRequest): Promise<void>;
  readonly handlers: Readonly<Record<string, Handler>>;
  /** Sends anything thrown (domain, HTTP or unknown error) as this protocol's error response. */
  sendError(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply;
  /** The same for a socket fastify never handed over. */
  rawError(err: Error, requestId: string): RawErrorResponse;
}
