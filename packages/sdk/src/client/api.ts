// OASAPI: the low-level client, one method per REST call of the official Python SDK's
// oas.oas_api.OASAPI (protocol.md §7.1), same names in camelCase and the same parameter order.
// Every method resolves to the raw OASResponse whatever its status; only transport
// failures reject. The high-level layer builds on this.
import type { Agent } from 'node:http';
import { stringToSign, computeSignature, authorizationHeader } from '../protocol/sign.js';
import { formatRfc1123 } from '../protocol/dates.js';
import { receiveInto, type BodyTarget, type DirectResponse } from './direct-receive.js';
import { Transport, type OutgoingRequest } from './transport.js';
import type { OASResponse } from './response.js';
import { checkReader, type BodyReader, type CheckedReader } from './body.js';
import { bytesOf, type BinaryData } from './byte-source.js';
import { pathSegment, queryPairs, formatQuery, byteCount, headerValue, wireHeaderValue, pythonJson } from './wire.js';

/** The `x-oas-version` the official SDK sends (its own version, protocol.md §1.3). */
export const OAS_API_VERSION = '0.2.5';
export const DEFAULT_USER_AGENT = 'OAS TypeScript SDK/0.1.0';

export interface OASAPIOptions {
  /** Default 80. Port 443 selects HTTPS, as in the SDK. */
  port?: number;
  /** HTTPS (default false). */
  secure?: boolean;
  /** Socket inactivity timeout in ms (default 100 000, the SDK's 100 s); also applies while a response body is being read. */
  timeoutMs?: number;
  /** Your own agent (an https.Agent for HTTPS), e.g. for custom CAs. close() leaves it alone. */
  agent?: Agent;
  /**
   * Certificate authorities (PEM) that HTTPS server certificates are checked against,
   * instead of Node's built-in list, e.g. a private CA or a self-signed certificate.
   * Ignored for HTTP and when `agent` is given.
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Default `OAS TypeScript SDK/0.1.0`. */
  userAgent?: string;
}

export interface RequestOptions {
  /** Aborting rejects a pending call with an AbortError, or destroys a response body being read. */
  signal?: AbortSignal;
}

/** Job types of createJob / createOssTransferJob (protocol.md §4.14). */
export type OASJobType = 'archive-retrieval' | 'inventory-retrieval' | 'pull-from-oss' | 'push-to-oss';

/** What postArchive/postMultipart accept: bytes in memory (any TypedArray, DataView, ArrayBuffer); strings are sent as UTF-8. */
export type BodyContent = BinaryData | string;

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

interface Call {
  query?: Array<[string, string]>;
  /** Operation headers, validated, with their original (signed) values. */
  headers?: Array<[string, string]>;
  body?: Buffer | { reader: CheckedReader; length: number };
  options?: RequestOptions | undefined;
  /** The answer's body is handed over as a stream (job output); otherwise it is read whole first. */
  streamResponse?: boolean;
}

export class OASAPI {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  private readonly transport: Transport;
  private readonly userAgent: string;
  private readonly timeoutMs: number;
  /** The caller gave an agent (a proxy, say): every request goes through it. */
  private readonly callerAgent: boolean;

  constructor(host: string, private readonly accessKeyId: string, private readonly accessKeySecret: string, options: OASAPIOptions = {}) {
    if (typeof host !== 'string' || host === '' || /[\s/]/.test(host)) throw new TypeError(`host must be a host name without scheme, port or path, got ${JSON.stringify(host)}`);
    headerValue('accessKeyId', accessKeyId);
    if (typeof accessKeySecret !== 'string') throw new TypeError('accessKeySecret must be a string');
    const port = options.port ?? 80;
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new TypeError(`port must be 1-65535, got ${port}`);
    const timeoutMs = options.timeoutMs ?? 100_000;
    if (!(timeoutMs > 0)) throw new TypeError(`timeoutMs must be positive, got ${timeoutMs}`);
    this.host = host;
    this.port = port;
    // The SDK switches to HTTPS for is_security or port 443.
    this.secure = options.secure === true || port === 443;
    this.userAgent = headerValue('userAgent', options.userAgent ?? DEFAULT_USER_AGENT);
    this.timeoutMs = timeoutMs;
    this.callerAgent = options.agent !== undefined;
    this.transport = new Transport({ host, port, secure: this.secure, timeoutMs, agent: options.agent, ca: options.ca });
  }

  /** `'https:'` or `'http:'`: which of node:https / node:http this client uses. */
  get protocol(): 'http:' | 'https:' {
    return this.transport.protocol;
  }

  /** The agent ordinary requests go through. */
  get agent(): Agent {
    return this.transport.httpAgent;
  }

  /** Releases pooled sockets. Calls after close() reject. */
  close(): void {
    this.transport.close();
  }

  /** Same as close(). */
  destroy(): void {
    this.transport.close();
  }

  // ---- vaults -------------------------------------------------------------------------

  /** `PUT /vaults/{name}`; the id comes back in `x-oas-vault-id`. */
  async createVault(vaultName: string, options?: RequestOptions): Promise<OASResponse> {
    return this.call('createVault', 'PUT', `/vaults/${pathSegment('vaultName', vaultName)}`, { options });
  }

  /** `DELETE /vaults/{id}`. */
  async deleteVault(vaultId: string, options?: RequestOptions): Promise<OASResponse> {
    return this.call('deleteVault', 'DELETE', `/vaults/${pathSegment('vaultId', vaultId)}`, { options });
  }

  /** `GET /vaults?marker=&limit=` (each only when given). */
  async listVault(marker?: string, limit?: number, options?: RequestOptions): Promise<OASResponse> {
    return this.call('listVault', 'GET', '/vaults', { query: listQuery(marker, limit), options });
  }

  /** `GET /vaults/{id}`. */
  async getVaultDesc(vaultId: string, options?: RequestOptions): Promise<OASResponse> {
    return this.call('getVaultDesc', 'GET', `/vaults/${pathSegment('vaultId', vaultId)}`, { options });
  }

  // ---- archives -----------------------------------------------------------------------

  /** `POST /vaults/{id}/archives` with the whole archive in memory. */
  async postArchive(vaultId: string, content: BodyContent, etag: string, treeEtag: string, desc?: string,
    options?: RequestOptions): Promise<OASResponse> {
    return this.call('postArchive', 'POST', `/vaults/${pathSegment('vaultId', vaultId)}/archives`, {
      headers: [...checksumHeaders(etag, treeEtag), ...descHeader(desc)], body: toBody(content), options,
    });
  }

  /**
   * `POST /vaults/{id}/archives`, streaming exactly `contentLength` bytes from `reader`.
   * The rest of the reader is left unread (a Readable keeps it buffered for you).
   */
  async postArchiveFromReader(vaultId: string, reader: BodyReader, contentLength: number, etag: string, treeEtag: string,
    desc?: string, options?: RequestOptions): Promise<OASResponse> {
    return this.call('postArchiveFromReader', 'POST', `/vaults/${pathSegment('vaultId', vaultId)}/archives`, {
      headers: [...checksumHeaders(etag, treeEtag), ...descHeader(desc)],
      body: { reader: checkReader(reader), length: byteCount('contentLength', contentLength) }, options,
    });
  }

  /** `DELETE /vaults/{id}/archives/{archiveId}`. */
  async deleteArchive(vaultId: string, archiveId: string, options?: RequestOptions): Promise<OASResponse> {
    return this.call('deleteArchive', 'DELETE',
      `/vaults/${pathSegment('vaultId', vaultId)}/archives/${pathSegment('archiveId', archiveId)}`, { options });
  }

  /** `GET /vaults/{id}/archives/{archiveId}/meta` (archive metadata). */
  async headArchive(vaultId: string, archiveId: string, options?: RequestOptions): Promise<OASResponse> {
    return this.call('headArchive', 'GET',
      `/vaults/${pathSegment('vaultId', vaultId)}/archives/${pathSegment('archiveId', archiveId)}/meta`, { options });
  }

  // ---- multipart uploads --------------------------------------------------------------

  /** `POST /vaults/{id}/multipart-uploads` with `x-oas-part-size`; the id is in `x-oas-multipart-upload-id`. */
  async createMultipartUpload(vaultId: string, partSize: number, desc?: string, options?: RequestOptions): Promise<OASResponse> {
    return this.call('createMultipartUpload', 'POST', `/vaults/${pathSegment('vaultId', vaultId)}/multipart-uploads`, {
      headers: [['x-oas-part-size', String(byteCount('partSize', partSize))], ...descHeader(desc)], options,
    });
  }

  /** `GET /vaults/{id}/multipart-uploads?marker=&limit=`. */
  async listMultipartUpload(vaultId: string, marker?: string, limit?: number, options?: RequestOptions): Promise<OASResponse> {
    return this.call('listMultipartUpload', 'GET', `/vaults/${pathSegment('vaultId', vaultId)}/multipart-uploads`, {
      query: listQuery(marker, limit), options,
    });
  }

  /** `DELETE /vaults/{id}/multipart-uploads/{uploadId}` (abort). */
  async deleteMultipartUpload(vaultId: string, uploadId: string, options?: RequestOptions): Promise<OASResponse> {
    return this.call('deleteMultipartUpload', 'DELETE', uploadPath(vaultId, uploadId), { options });
  }

  /** `PUT /vaults/{id}/multipart-uploads/{uploadId}` with `Content-Range: start-end` (`prange`, no `bytes ` prefix). */
  async postMultipart(vaultId: string, uploadId: string, content: BodyContent, prange: string, etag: string, treeEtag: string,
    options?: RequestOptions): Promise<OASResponse> {
    return this.call('postMultipart', 'PUT', uploadPath(vaultId, uploadId), {
      headers: [['Content-Range', headerValue('prange', prange)], ...checksumHeaders(etag, treeEtag)],
      body: toBody(content), options,
    });
  }

  /** As postMultipart, streaming exactly `contentLength` bytes from `reader`. */
  async postMultipartFromReader(vaultId: string, uploadId: string, reader: BodyReader, contentLength: number, prange: string,
    etag: string, treeEtag: string, options?: RequestOptions): Promise<OASResponse> {
    return this.call('postMultipartFromReader', 'PUT', uploadPath(vaultId, uploadId), {
      headers: [['Content-Range', headerValue('prange', prange)], ...checksumHeaders(etag, treeEtag)],
      body: { reader: checkReader(reader), length: byteCount('contentLength', contentLength) }, options,
    });
  }

  /** `GET /vaults/{id}/multipart-uploads/{uploadId}?marker=&limit=` (list parts). */
  async listMultipart(vaultId: string, uploadId: string, marker?: string, limit?: number, options?: RequestOptions): Promise<OASResponse> {
    return this.call('listMultipart', 'GET', uploadPath(vaultId, uploadId), { query: listQuery(marker, limit), options });
  }

  /** `POST /vaults/{id}/multipart-uploads/{uploadId}` with `x-oas-archive-size` and the combined `x-oas-tree-etag`. */
  async completeMultipartUpload(vaultId: string, uploadId: string, fileSize: number, treeEtag: string,
    options?: RequestOptions): Promise<OASResponse> {
    return this.call('completeMultipartUpload', 'POST', uploadPath(vaultId, uploadId), {
      headers: [['x-oas-archive-size', String(byteCount('fileSize', fileSize))], ['x-oas-tree-etag', headerValue('treeEtag', treeEtag)]],
      options,
    });
  }

  // ---- jobs ---------------------------------------------------------------------------

  /**
   * `POST /vaults/{id}/jobs`. As in the SDK, `ArchiveId` and `RetrievalByteRange`
   * (`"start-end"`) are only sent for `archive-retrieval` jobs; `Description` when given.
   */
  async createJob(vaultId: string, jobType: OASJobType | (string & {}), archiveId?: string, desc?: string, byteRange?: string,
    options?: RequestOptions): Promise<OASResponse> {
    const body: Record<string, string> = { Type: jsonString('jobType', jobType) };
    if (jobType === 'archive-retrieval') {
      // The SDK would send `"ArchiveId": null` when none is given; leaving it out lets the
      // server answer with a clear InvalidArgument instead.
      if (archiveId !== undefined) body.ArchiveId = jsonString('archiveId', archiveId);
      if (byteRange !== undefined) body.RetrievalByteRange = jsonString('byteRange', byteRange);
    }
    if (desc !== undefined) body.Description = jsonString('desc', desc);
    return this.call('createJob', 'POST', `/vaults/${pathSegment('vaultId', vaultId)}/jobs`, {
      body: Buffer.from(pythonJson(body), 'utf8'), options,
    });
  }

  /** `POST /vaults/{id}/jobs` for `pull-from-oss` / `push-to-oss` (`archiveId` for push). */
  async createOssTransferJob(vaultId: string, jobType: OASJobType | (string & {}), ossHost: string, bucket: string, object: string,
    archiveId?: string, desc?: string, options?: RequestOptions): Promise<OASResponse> {
    const body: Record<string, string> = {
      Type: jsonString('jobType', jobType),
      OSSHost: jsonString('ossHost', ossHost),
      Bucket: jsonString('bucket', bucket),
      Object: jsonString('object', object),
    };
    if (archiveId !== undefined) body.ArchiveId = jsonString('archiveId', archiveId);
    if (desc !== undefined) body.Description = jsonString('desc', desc);
    return this.call('createOssTransferJob', 'POST', `/vaults/${pathSegment('vaultId', vaultId)}/jobs`, {
      body: Buffer.from(pythonJson(body), 'utf8'), options,
    });
  }

  /**
   * `GET /vaults/{id}/jobs/{jobId}/output`, `orange` being the literal `Range` value
   * (`bytes=0-1048575`). The only call whose body is not read before it resolves: stream
   * `response.body` (or read() it), or dispose() it if you do not want it.
   */
  async fetchJobOutput(vaultId: string, jobId: string, orange?: string, options?: RequestOptions): Promise<OASResponse> {
    return this.call('fetchJobOutput', 'GET', `${jobPath(vaultId, jobId)}/output`, {
      headers: orange === undefined ? [] : [['Range', headerValue('orange', orange)]], options, streamResponse: true,
    });
  }

  /**
   * fetchJobOutput with the body read from the socket straight into `target` (no buffer per
   * chunk: see direct-receive.ts), for plain HTTP without a caller's agent. Resolves the
   * status and headers once the whole body is in, or undefined when this path does not apply
   * or the answer is not a 2xx with a Content-Length (nothing reached the target then): call
   * fetchJobOutput for the response or error.
   */
  async fetchJobOutputInto(vaultId: string, jobId: string, orange: string | undefined, target: BodyTarget,
    options?: RequestOptions): Promise<DirectResponse | undefined> {
    if (this.secure || this.callerAgent) return undefined;
    const request = this.signed('fetchJobOutput', 'GET', `${jobPath(vaultId, jobId)}/output`, {
      headers: orange === undefined ? [] : [['Range', headerValue('orange', orange)]], options,
    });
    return receiveInto({ host: this.host, port: this.port, timeoutMs: this.timeoutMs }, request, target);
  }

  /** `GET /vaults/{id}/jobs?marker=&limit=`. */
  async listJob(vaultId: string, marker?: string, limit?: number, options?: RequestOptions): Promise<OASResponse> {
    return this.call('listJob', 'GET', `/vaults/${pathSegment('vaultId', vaultId)}/jobs`, { query: listQuery(marker, limit), options });
  }

  /** `GET /vaults/{id}/jobs/{jobId}`. */
  async getJobDesc(vaultId: string, jobId: string, options?: RequestOptions): Promise<OASResponse> {
    return this.call('getJobDesc', 'GET', jobPath(vaultId, jobId), { options });
  }

  // ---- the one place requests are signed and sent -------------------------------------

  private call(operation: string, method: Method, path: string, call: Call): Promise<OASResponse> {
    return this.transport.send(this.signed(operation, method, path, call));
  }

  /** The request as it goes on the wire: the SDK's headers, signed. */
  private signed(operation: string, method: Method, path: string, call: Call): OutgoingRequest {
    const body = call.body;
    const contentLength = body === undefined ? 0 : Buffer.isBuffer(body) ? body.length : body.length;
    const query = call.query ?? [];
    // The headers the Python SDK sends (protocol.md §1.3); all of them are sent, so the
    // signature covers exactly what is on the wire. Content-Length: 0 on empty requests
    // is what httplib does too.
    const headers: Array<[string, string]> = [
      ['Host', this.host],
      ['Date', formatRfc1123(new Date())],
      ['x-oas-version', OAS_API_VERSION],
      ['User-Agent', this.userAgent],
      ['Accept-Encoding', 'identity'],
      ['Content-Length', String(contentLength)],
      ...(call.headers ?? []),
    ];
    const signature = computeSignature(this.accessKeySecret, stringToSign(method, headers, path, query));
    const wire: Record<string, string> = {};
    for (const [name, value] of headers) wire[name] = wireHeaderValue(value);
    wire.Authorization = authorizationHeader(this.accessKeyId, signature);
    return {
      operation, method, path: path + formatQuery(query), headers: wire, body, signal: call.options?.signal,
      streamResponse: call.streamResponse,
    };
  }
}

function listQuery(marker: string | undefined, limit: number | undefined): Array<[string, string]> {
  if (marker !== undefined && marker !== null && typeof marker !== 'string') throw new TypeError('marker must be a string');
  return queryPairs([['marker', marker], ['limit', limit]]);
}

function checksumHeaders(etag: string, treeEtag: string): Array<[string, string]> {
  return [['x-oas-content-etag', headerValue('etag', etag)], ['x-oas-tree-etag', headerValue('treeEtag', treeEtag)]];
}

/**
 * `x-oas-archive-description` when given. Sent exactly as given (non-ASCII as UTF-8);
 * avoid leading/trailing spaces: HTTP parsers strip them and the server would then sign a
 * different value (protocol.md §2.7).
 */
function descHeader(desc: string | undefined): Array<[string, string]> {
  return desc === undefined ? [] : [['x-oas-archive-description', headerValue('desc', desc)]];
}

function uploadPath(vaultId: string, uploadId: string): string {
  return `/vaults/${pathSegment('vaultId', vaultId)}/multipart-uploads/${pathSegment('uploadId', uploadId)}`;
}

function jobPath(vaultId: string, jobId: string): string {
  return `/vaults/${pathSegment('vaultId', vaultId)}/jobs/${pathSegment('jobId', jobId)}`;
}

function toBody(content: BodyContent): Buffer {
  if (typeof content === 'string') return Buffer.from(content, 'utf8');
  const bytes = bytesOf(content);
  if (bytes) return bytes;
  throw new TypeError('content must be bytes (Buffer, TypedArray, DataView, ArrayBuffer) or a string');
}

function jsonString(what: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string, got ${typeof value}`);
  return value;
}
