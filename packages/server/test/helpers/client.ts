// A small signed-request client over node:http using the sdk's signing code, for tests
// that need exact statuses and headers (and wire quirks) rather than a high-level client.
import http from 'node:http';
import { Readable } from 'node:stream';
import {
  authorizationHeader, computeSignature, formatRfc1123, hashBuffer, parseQuery, stringToSign,
} from '@oas/sdk';

export interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
  json: any;  
}

export interface RequestOptions {
  method: string;
  /** Path with an optional raw query string, exactly as it goes on the request line. */
  path: string;
  headers?: Record<string, string | number>;
  body?: Buffer | string | Readable;
  /** Override the Date header (null: send none). */
  date?: string | null;
  /** false: no Authorization header. */
  sign?: boolean;
  /** Override the Authorization header. */
  authorization?: string;
  /** Sign with this secret instead of the client's. */
  secret?: string;
}

export class Client {
  constructor(readonly port: number, readonly accessKeyId: string, readonly accessKeySecret: string, readonly host = '127.0.0.1') {}

  withKey(accessKeyId: string, accessKeySecret: string): Client {
    return new Client(this.port, accessKeyId, accessKeySecret, this.host);
  }

  request(opts: RequestOptions): Promise<Resp> {
    const headers: Record<string, string> = {};
    const signed: Array<[string, string]> = [];
    const date = opts.date === undefined ? formatRfc1123() : opts.date;
    if (date !== null) {
      headers.Date = date;
      signed.push(['Date', date]);
    }
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      const value = String(v);
      signed.push([k, value]);
      // Header bytes on the wire are the UTF-8 bytes of the text (what our client sends).
      headers[k] = k.toLowerCase().startsWith('x-oas-') ? Buffer.from(value, 'utf8').toString('latin1') : value;
    }
    const q = opts.path.indexOf('?');
    const path = q < 0 ? opts.path : opts.path.slice(0, q);
    const query = q < 0 ? [] : parseQuery(opts.path.slice(q + 1));
    if (opts.sign !== false) {
      headers.Authorization = opts.authorization ?? authorizationHeader(this.accessKeyId,
        computeSignature(opts.secret ?? this.accessKeySecret, stringToSign(opts.method, signed, path, query)));
    } else if (opts.authorization !== undefined) {
      headers.Authorization = opts.authorization;
    }
    const body = opts.body;
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      const has = Object.keys(headers).some((k) => k.toLowerCase() === 'content-length');
      if (!has) headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    return new Promise((resolve, reject) => {
      const req = http.request({ host: this.host, port: this.port, method: opts.method, path: opts.path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          const text = buf.toString('utf8');
          let json: unknown;
          try { json = JSON.parse(text); } catch { json = undefined; }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: buf, text, json });
        });
      });
      req.on('error', reject);
      // A hung response fails the test instead of stalling the run.
      req.setTimeout(60_000, () => req.destroy(new Error(`${opts.method} ${opts.path}: no response within 60 s`)));
      if (body instanceof Readable) body.pipe(req);
      else req.end(body);
    });
  }

  /**
   * The head of a signed request as raw text (for raw-socket tests): request line, Host,
   * Date, Authorization and the given headers in order (names as given, repeats allowed).
   */
  rawHead(method: string, target: string, headers: Array<[string, string]>, opts: { date?: string; host?: string | string[] } = {}): string {
    const date = opts.date ?? formatRfc1123();
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? [] : parseQuery(target.slice(q + 1));
    const sig = computeSignature(this.accessKeySecret, stringToSign(method, [['Date', date], ...headers], path, query));
    const hosts = opts.host === undefined ? [`127.0.0.1:${this.port}`] : Array.isArray(opts.host) ? opts.host : [opts.host];
    const lines = [`${method} ${target} HTTP/1.1`, ...hosts.map((h) => `Host: ${h}`), `Date: ${date}`,
      `Authorization: ${authorizationHeader(this.accessKeyId, sig)}`, ...headers.map(([k, v]) => `${k}: ${v}`)];
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  // Convenience calls (assert nothing; tests check the statuses).
  createVault(name: string): Promise<Resp> {
    return this.request({ method: 'PUT', path: `/vaults/${name}`, headers: { 'x-oas-version': '0.2.5' } });
  }

  async vaultId(name: string): Promise<string> {
    const res = await this.createVault(name);
    if (res.status !== 201) throw new Error(`create vault ${name}: ${res.status} ${res.text}`);
    return String(res.headers['x-oas-vault-id']);
  }

  uploadArchive(vaultId: string, data: Buffer, description?: string, extra: Record<string, string> = {}): Promise<Resp> {
    const { etag, treeEtag } = hashBuffer(data);
    return this.request({
      method: 'POST', path: `/vaults/${vaultId}/archives`, body: data,
      headers: {
        'x-oas-content-etag': etag, 'x-oas-tree-etag': treeEtag,
        ...(description !== undefined ? { 'x-oas-archive-description': description } : {}), ...extra,
      },
    });
  }

  async archiveId(vaultId: string, data: Buffer, description?: string): Promise<string> {
    const res = await this.uploadArchive(vaultId, data, description);
    if (res.status !== 201) throw new Error(`upload: ${res.status} ${res.text}`);
    return String(res.headers['x-oas-archive-id']);
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Resp> {
    return this.request({ method: 'GET', path, headers: { 'x-oas-version': '0.2.5', ...headers } });
  }

  del(path: string): Promise<Resp> {
    return this.request({ method: 'DELETE', path, headers: { 'x-oas-version': '0.2.5' } });
  }

  createJob(vaultId: string, body: unknown): Promise<Resp> {
    return this.request({ method: 'POST', path: `/vaults/${vaultId}/jobs`, body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'x-oas-version': '0.2.5' } });
  }

  async jobId(vaultId: string, body: unknown): Promise<string> {
    const res = await this.createJob(vaultId, body);
    if (res.status !== 202) throw new Error(`create job: ${res.status} ${res.text}`);
    return String(res.headers['x-oas-job-id']);
  }

  /** Polls describe-job until Completed (the server runs jobs with no delay in tests). */
  async waitJob(vaultId: string, jobId: string, timeoutMs = 30_000): Promise<any> {  
    const until = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.get(`/vaults/${vaultId}/jobs/${jobId}`);
      if (res.status !== 200) throw new Error(`describe job: ${res.status} ${res.text}`);
      if (res.json.Completed) return res.json;
      if (Date.now() > until) throw new Error(`job ${jobId} did not complete`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
