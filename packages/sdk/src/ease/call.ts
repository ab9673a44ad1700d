// Calling OASAPI the high-level way: a 2xx response or a thrown OASError (protocol.md §6), plus
// listings that follow Marker to the end one page at a time.
import type { OASAPI } from '../client/api.js';
import type { OASResponse } from '../client/response.js';
import { OASError } from '../protocol/errors.js';
import type { JobJson, PartJson, UploadJson, VaultJson } from '../protocol/wire-types.js';

/**
 * Awaits an OASAPI call: the response when it is 2xx, otherwise the server's OASError
 * (status, code, type, message, request id) is thrown. Transport failures (the client's
 * OASTransportError, with the cause) and aborts propagate unchanged.
 */
export async function callOk(call: Promise<OASResponse>): Promise<OASResponse> {
  const response = await call;
  if (response.ok) return response;
  throw await response.toError();
}

/** callOk, then the JSON body. */
export async function callJson<T>(call: Promise<OASResponse>): Promise<T> {
  return (await callOk(call)).json<T>();
}

/** callOk for answers that only carry headers; the body is released. */
export async function callHeaders(call: Promise<OASResponse>): Promise<OASResponse> {
  const response = await callOk(call);
  response.dispose();
  return response;
}

/** A header the protocol promises on a 2xx answer; missing it is a server bug worth naming. */
export function requiredHeader(response: OASResponse, name: string, operation: string): string {
  const value = response.getHeader(name);
  if (!value) {
    throw new OASError(response.status, 'MissingHeader', `${operation}: the server's answer has no ${name} header`, 'server', response.requestId);
  }
  return value;
}

export interface ListOptions {
  signal?: AbortSignal;
  /** Page size asked of the server (default: the server's). */
  limit?: number;
}

/** Pages of a `{Marker, <key>: [...]}` listing until Marker is "" (protocol.md §4.4). */
export async function* paged<T, P extends { Marker?: string }>(
  fetchPage: (marker: string | undefined) => Promise<OASResponse>, items: (page: P) => T[] | undefined,
  onPage?: (page: P) => void,
): AsyncGenerator<T, void, undefined> {
  let marker: string | undefined;
  const seen = new Set<string>();
  for (;;) {
    const page = await callJson<P>(fetchPage(marker));
    onPage?.(page);
    yield* items(page) ?? [];
    const next = page.Marker;
    if (!next) return;
    // A server that hands back a marker twice would loop forever.
    if (seen.has(next)) throw new OASError(500, 'InvalidMarker', `the server returned marker ${next} twice`, 'server');
    seen.add(next);
    marker = next;
  }
}

/** Every vault of the account, page by page. */
export function listAllVaults(api: OASAPI, options: ListOptions = {}): AsyncGenerator<VaultJson, void, undefined> {
  return paged<VaultJson, { Marker?: string; VaultList?: VaultJson[] }>(
    (marker) => api.listVault(marker, options.limit, { signal: options.signal }), (p) => p.VaultList);
}

/** Every open multipart upload of a vault. */
export function listAllUploads(api: OASAPI, vaultId: string, options: ListOptions = {}): AsyncGenerator<UploadJson, void, undefined> {
  return paged<UploadJson, { Marker?: string; UploadsList?: UploadJson[] }>(
    (marker) => api.listMultipartUpload(vaultId, marker, options.limit, { signal: options.signal }), (p) => p.UploadsList);
}

/** Every part uploaded so far to a multipart upload, in range order. */
export function listAllParts(api: OASAPI, vaultId: string, uploadId: string,
  options: ListOptions & { onPage?: (page: UploadJson & { Marker?: string }) => void } = {}): AsyncGenerator<PartJson, void, undefined> {
  return paged<PartJson, UploadJson & { Marker?: string; Parts?: PartJson[] }>(
    (marker) => api.listMultipart(vaultId, uploadId, marker, options.limit, { signal: options.signal }), (p) => p.Parts, options.onPage);
}

/** Every (unexpired) job of a vault. */
export function listAllJobs(api: OASAPI, vaultId: string, options: ListOptions = {}): AsyncGenerator<JobJson, void, undefined> {
  return paged<JobJson, { Marker?: string; JobList?: JobJson[] }>(
    (marker) => api.listJob(vaultId, marker, options.limit, { signal: options.signal }), (p) => p.JobList);
}
