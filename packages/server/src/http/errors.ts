// Every error leaves as an OAS JSON error with x-oas-request-id; client mistakes are 4xx.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OASError } from '@oas/sdk/protocol';

/** Maps anything thrown to the error the client sees. */
export function toOASError(err: unknown): OASError {
  if (err instanceof OASError) return err;
  const e = err as { statusCode?: unknown; message?: unknown; code?: unknown } | null;
  if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // Errors fastify raises about the request itself (bad URL, bad content, ...).
    return OASError.of('InvalidArgument', typeof e.message === 'string' ? e.message : 'the request is not valid');
  }
  return OASError.of('InternalError', 'the server could not complete the request');
}

export function errorBody(err: OASError, requestId: string): string {
  return JSON.stringify({ code: err.code, message: err.message, type: err.type, request_id: requestId });
}

/** A request body larger than this that was never read is not drained: the connection closes. */
const DRAIN_LIMIT = 16 * 1024 * 1024;

export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const e = toOASError(err);
  const raw = request.raw;
  if (!raw.complete && !raw.readableDidRead && Number(raw.headers['content-length'] ?? 0) > DRAIN_LIMIT) {
    // Refused before reading (e.g. EntityTooLarge): do not read gigabytes only to drop them.
    reply.header('connection', 'close');
  }
  const body = Buffer.from(errorBody(e, String(request.id)), 'utf8');
  if (request.oas) request.oas.bytesOut = body.byteLength;
  return reply
    .code(e.status)
    .header('x-oas-request-id', String(request.id))
    .header('content-type', 'application/json')
    .header('content-length', body.byteLength)
    .send(body);
}
