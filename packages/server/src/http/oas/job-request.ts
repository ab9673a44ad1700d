// The JSON body of an OAS job request (protocol.md §4.10) read into the service's JobRequest.
import { OASError } from '@oas/sdk/protocol';
import { JOB_TYPES, type JobRequest } from '../../service/jobs.js';
import type { JobType } from '../../service/records.js';

/** The largest job request body read (the SDK's bodies are a few hundred bytes). */
export const MAX_JOB_BODY = 64 * 1024;

function parseObject(text: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw OASError.of('InvalidArgument', 'the request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw OASError.of('InvalidArgument', 'the request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/** A string field, at most `max` bytes; undefined when absent or null. */
function stringField(body: Record<string, unknown>, name: string, max?: number): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw OASError.of('InvalidArgument', `${name} must be a string`);
  if (max !== undefined && Buffer.byteLength(value) > max) throw OASError.of('InvalidArgument', `${name} is longer than ${max} bytes`);
  return value;
}

export function parseJobRequest(text: string): JobRequest {
  const body = parseObject(text);
  const type = stringField(body, 'Type');
  if (type === undefined) throw OASError.of('InvalidArgument', 'Type is required');
  if (!JOB_TYPES.includes(type as JobType)) throw OASError.of('InvalidArgument', `Type must be one of ${JOB_TYPES.join(', ')}`);
  return {
    type: type as JobType,
    description: stringField(body, 'Description'),
    archiveId: stringField(body, 'ArchiveId', 1024),
    retrievalRange: stringField(body, 'RetrievalByteRange'),
    ossHost: stringField(body, 'OSSHost', 255),
    bucket: stringField(body, 'Bucket', 255),
    object: stringField(body, 'Object', 1024),
  };
}
