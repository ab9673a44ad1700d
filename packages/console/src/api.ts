// The console's OAS client: ordinary OAS requests signed in the browser with WebCrypto
// HMAC-SHA1 (sign-core.ts). The key sees what it may see, and nothing else. Date is a header
// a browser may not set, so requests carry x-oas-date instead (sign-core.ts explains).
import {
  authorizationFor, formatRfc1123, type HmacSha1Base64, type InventoryJson, type JobJson, type PartJson,
  type UploadJson, type VaultJson,
} from '../../sdk/src/protocol/browser.js';

export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
}

/** An OAS error answer (or a network failure, code 'NetworkError'). */
export class OasError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly requestId = '') {
    super(message);
  }
}

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

const webCryptoHmac: HmacSha1Base64 = async (secret, text) => {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
    keys.set(secret, key);
  }
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', await key, encoder.encode(text)));
  return btoa(String.fromCharCode(...mac));
};

/** Header values go out as bytes: UTF-8 text is sent byte for byte (the server decodes it). */
function wireValue(value: string): string {
  return String.fromCharCode(...encoder.encode(value));
}

interface Call {
  query?: Array<[string, string]>;
  headers?: Array<[string, string]>;
  body?: BodyInit;
  signal?: AbortSignal;
  range?: string;
}

async function errorOf(res: Response): Promise<OasError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { code?: string; message?: string; request_id?: string };
    return new OasError(res.status, body.code ?? `HTTP${res.status}`, body.message ?? res.statusText, body.request_id ?? '');
  } catch {
    return new OasError(res.status, `HTTP${res.status}`, text.slice(0, 200) || res.statusText);
  }
}

const seg = (s: string): string => encodeURIComponent(s);
const qs = (query: Array<[string, string]>): string =>
  query.length === 0 ? '' : `?${query.map(([k, v]) => `${seg(k)}=${seg(v)}`).join('&')}`;

export interface Signed {
  url: string;
  headers: Record<string, string>;
}

export class Api {
  constructor(readonly creds: Credentials) {}

  /** The URL and signed headers of one request. */
  async sign(method: string, path: string, call: Call = {}): Promise<Signed> {
    const oas: Array<[string, string]> = [['x-oas-date', formatRfc1123()], ['x-oas-version', '0.2.5'], ...(call.headers ?? [])];
    const query = call.query ?? [];
    const authorization = await authorizationFor(webCryptoHmac, this.creds.accessKeyId, this.creds.accessKeySecret, method, oas, path, query);
    const headers: Record<string, string> = { authorization };
    for (const [k, v] of oas) headers[k] = wireValue(v);
    if (call.range) headers.range = call.range;
    return { url: path + qs(query), headers };
  }

  async send(method: string, path: string, call: Call = {}): Promise<Response> {
    const { url, headers } = await this.sign(method, path, call);
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: call.body ?? null, signal: call.signal ?? null, cache: 'no-store' });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new OasError(0, 'NetworkError', (err as Error).message);
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }

  private async json<T>(method: string, path: string, call?: Call): Promise<T> {
    return (await this.send(method, path, call)).json() as Promise<T>;
  }

  /** Every page of a listing. */
  private async all<T>(path: string, field: string): Promise<T[]> {
    const out: T[] = [];
    let marker = '';
    for (let page = 0; page < 10_000; page++) {
      const query: Array<[string, string]> = [['limit', '1000']];
      if (marker) query.unshift(['marker', marker]);
      const body = await this.json<Record<string, unknown>>('GET', path, { query });
      out.push(...(body[field] as T[]));
      marker = String(body.Marker ?? '');
      if (!marker) break;
    }
    return out;
  }

  listVaults(): Promise<VaultJson[]> { return this.all('/vaults', 'VaultList'); }
  describeVault(vaultId: string): Promise<VaultJson> { return this.json('GET', `/vaults/${seg(vaultId)}`); }
  async createVault(name: string): Promise<string> {
    return (await this.send('PUT', `/vaults/${seg(name)}`)).headers.get('x-oas-vault-id') ?? '';
  }
  async deleteVault(vaultId: string): Promise<void> { await this.send('DELETE', `/vaults/${seg(vaultId)}`); }
  async deleteArchive(vaultId: string, archiveId: string): Promise<void> {
    await this.send('DELETE', `/vaults/${seg(vaultId)}/archives/${seg(archiveId)}`);
  }

  async initiateUpload(vaultId: string, partSize: number, description: string): Promise<string> {
    const res = await this.send('POST', `/vaults/${seg(vaultId)}/multipart-uploads`, {
      headers: [['x-oas-part-size', String(partSize)], ['x-oas-archive-description', description]],
    });
    return res.headers.get('x-oas-multipart-upload-id') ?? '';
  }
  listUploads(vaultId: string): Promise<UploadJson[]> { return this.all(`/vaults/${seg(vaultId)}/multipart-uploads`, 'UploadsList'); }
  listParts(vaultId: string, uploadId: string): Promise<PartJson[]> {
    return this.all(`/vaults/${seg(vaultId)}/multipart-uploads/${seg(uploadId)}`, 'Parts');
  }
  async abortUpload(vaultId: string, uploadId: string): Promise<void> {
    await this.send('DELETE', `/vaults/${seg(vaultId)}/multipart-uploads/${seg(uploadId)}`);
  }
  async completeUpload(vaultId: string, uploadId: string, size: number, treeEtag: string): Promise<string> {
    const res = await this.send('POST', `/vaults/${seg(vaultId)}/multipart-uploads/${seg(uploadId)}`, {
      headers: [['x-oas-archive-size', String(size)], ['x-oas-tree-etag', treeEtag]],
    });
    return res.headers.get('x-oas-archive-id') ?? '';
  }

  async initiateJob(vaultId: string, body: Record<string, string>): Promise<string> {
    const res = await this.send('POST', `/vaults/${seg(vaultId)}/jobs`, { body: JSON.stringify(body) });
    return res.headers.get('x-oas-job-id') ?? '';
  }
  listJobs(vaultId: string): Promise<JobJson[]> { return this.all(`/vaults/${seg(vaultId)}/jobs`, 'JobList'); }
  describeJob(vaultId: string, jobId: string): Promise<JobJson> { return this.json('GET', `/vaults/${seg(vaultId)}/jobs/${seg(jobId)}`); }
  jobOutput(vaultId: string, jobId: string, signal?: AbortSignal): Promise<Response> {
    return this.send('GET', `/vaults/${seg(vaultId)}/jobs/${seg(jobId)}/output`, signal ? { signal } : {});
  }
  inventory(vaultId: string, jobId: string): Promise<InventoryJson> {
    return this.json('GET', `/vaults/${seg(vaultId)}/jobs/${seg(jobId)}/output`);
  }

  /**
   * A body upload through XMLHttpRequest, the one browser API that reports upload progress.
   * Resolves with the response headers' getter; rejects with OasError or an AbortError.
   */
  async upload(path: string, body: Blob, headers: Array<[string, string]>, onProgress: (sent: number) => void,
    signal: AbortSignal): Promise<(name: string) => string> {
    // UploadArchive is a POST to …/archives; UploadPart a PUT to …/multipart-uploads/<id>.
    const method = path.endsWith('/archives') ? 'POST' : 'PUT';
    const signed = await this.sign(method, path, { headers });
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, signed.url);
      for (const [k, v] of Object.entries(signed.headers)) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      const onAbort = () => xhr.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);
      xhr.onload = () => {
        done();
        if (xhr.status >= 200 && xhr.status < 300) { resolve((name) => xhr.getResponseHeader(name) ?? ''); return; }
        void errorOf(new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText })).then(reject);
      };
      xhr.onerror = () => { done(); reject(new OasError(0, 'NetworkError', 'the connection failed')); };
      xhr.onabort = () => { done(); reject(new DOMException('cancelled', 'AbortError')); };
      xhr.send(body);
    });
  }

  /** Checks the key with a cheap signed request; throws OasError when it is refused. */
  async verify(): Promise<void> {
    await this.send('GET', '/vaults', { query: [['limit', '1']] });
  }
}

/** `Content-Range` of a part, as OAS writes it. */
export function partRange(start: number, end: number): string {
  return `bytes ${start}-${end}/*`;
}
