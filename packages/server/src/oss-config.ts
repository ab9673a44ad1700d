// Which object stores OSS transfer jobs (pull-from-oss, push-to-oss) may talk to. Each
// allowed `OSSHost` value of a job maps to an endpoint URL, region, credentials and
// addressing style; the server connects only to configured endpoints, so a host a user
// types can never make it connect anywhere else (an unknown host is refused when the job
// is created). Sources, merged in this order (later wins per host):
//   --oss-config <file> / OAS_OSS_CONFIG   JSON file, see docs/oss.md
//   --oss-host <spec> (repeatable) / OAS_OSS_HOSTS (specs separated by white space)
//   createServer({ ossHosts }) (embedding, tests)
// A spec is `NAME=URL`: `oss-cn-hangzhou.aliyuncs.com=https://KEYID:SECRET@oss-cn-hangzhou.aliyuncs.com?region=oss-cn-hangzhou`.
import { readFile } from 'node:fs/promises';
import { MIB } from '@oas/sdk/protocol';

export type OssAddressing = 'path' | 'virtual';

/** One configured object store (what a job's OSSHost resolves to). */
export interface OssHostConfig {
  /** The OSSHost value jobs use (as configured; matched case-insensitively). */
  name: string;
  /** `http(s)://host[:port]`, without credentials. */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** `path`: endpoint/bucket/key (Ceph, MinIO); `virtual`: bucket.endpoint/key (OSS, AWS). */
  addressing: OssAddressing;
  /** Push: part size of multipart uploads (grown to stay within 10,000 parts); objects up to this size go in one PUT. */
  partSize: number;
  /** Push: parts uploaded at once. */
  concurrency: number;
  /** Attempts per request before a transient error (network, 5xx, timeout) fails the job. */
  maxAttempts: number;
  /** First retry delay; doubles per attempt (with jitter), at most 30 s. */
  retryBaseMs: number;
  /** A request whose socket is idle this long fails (and is retried). */
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** Compare ETags with the MD5s of the data (turn off for stores whose ETags are not MD5-based, e.g. SSE-KMS). */
  verifyEtag: boolean;
}

/** The fields of a host in the config file / createServer({ ossHosts }): everything but the credentials and endpoint has a default. */
export type OssHostInput = Partial<Omit<OssHostConfig, 'name'>> & Pick<OssHostConfig, 'endpoint' | 'accessKeyId' | 'secretAccessKey'>;

export const OSS_HOST_DEFAULTS = {
  region: 'us-east-1',
  addressing: 'virtual' as OssAddressing,
  partSize: 64 * MIB,
  concurrency: 4,
  maxAttempts: 5,
  retryBaseMs: 500,
  requestTimeoutMs: 120_000,
  connectTimeoutMs: 10_000,
  verifyEtag: true,
};

/** S3's limits for a part (the last one may be smaller). */
export const S3_MIN_PART = 5 * MIB;
export const S3_MAX_PART = 5 * 1024 * MIB;

/** A bad OSS host configuration (main prints it and exits). */
export class OssConfigError extends Error {
  override readonly name = 'OssConfigError';
}

/** The configured hosts, by lower-cased OSSHost. */
export class OssHosts {
  private readonly byName = new Map<string, OssHostConfig>();

  constructor(hosts: Iterable<OssHostConfig> = []) {
    for (const h of hosts) this.byName.set(h.name.toLowerCase(), h);
  }

  get(name: string): OssHostConfig | undefined {
    return this.byName.get(name.toLowerCase());
  }

  has(name: string): boolean {
    return this.byName.has(name.toLowerCase());
  }

  get size(): number {
    return this.byName.size;
  }

  names(): string[] {
    return [...this.byName.values()].map((h) => h.name);
  }
}

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:\d{1,5})?$/;

function bad(where: string, what: string): OssConfigError {
  return new OssConfigError(`OSS host ${where}: ${what}`);
}

function positiveInt(where: string, field: string, value: unknown, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) throw bad(where, `${field} must be a whole number from ${min} to ${max}`);
  return n;
}

function text(where: string, field: string, value: unknown, required: boolean): string | undefined {
  if (value === undefined || value === null || value === '') {
    if (required) throw bad(where, `${field} is required`);
    return undefined;
  }
  if (typeof value !== 'string') throw bad(where, `${field} must be a string`);
  return value;
}

/** Checks and completes one host. `where` names it in error messages. */
export function normalizeOssHost(name: string, input: Record<string, unknown>, where = JSON.stringify(name)): OssHostConfig {
  if (!HOST_NAME.test(name)) throw bad(where, 'the name must be a host name such as oss-cn-hangzhou.aliyuncs.com');
  const known = new Set(['endpoint', 'region', 'accessKeyId', 'secretAccessKey', 'sessionToken', 'addressing', 'partSize', 'concurrency',
    'maxAttempts', 'retryBaseMs', 'requestTimeoutMs', 'connectTimeoutMs', 'verifyEtag']);
  for (const key of Object.keys(input)) if (!known.has(key)) throw bad(where, `unknown setting "${key}"`);
  const endpointText = text(where, 'endpoint', input.endpoint, true)!;
  let url: URL;
  try {
    url = new URL(endpointText);
  } catch {
    throw bad(where, `endpoint ${JSON.stringify(endpointText)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(where, 'endpoint must be an http:// or https:// URL');
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw bad(where, 'endpoint must be scheme://host[:port] only (credentials and settings go in their own fields)');
  }
  const addressing = text(where, 'addressing', input.addressing, false) ?? OSS_HOST_DEFAULTS.addressing;
  if (addressing !== 'path' && addressing !== 'virtual') throw bad(where, 'addressing must be "path" or "virtual"');
  const verify = input.verifyEtag ?? OSS_HOST_DEFAULTS.verifyEtag;
  const verifyEtag = verify === 'true' ? true : verify === 'false' ? false : verify;
  if (typeof verifyEtag !== 'boolean') throw bad(where, 'verifyEtag must be true or false');
  const partSize = positiveInt(where, 'partSize', input.partSize ?? OSS_HOST_DEFAULTS.partSize, S3_MIN_PART, S3_MAX_PART);
  if (partSize % MIB !== 0) throw bad(where, 'partSize must be a multiple of 1 MiB (1048576)');
  const sessionToken = text(where, 'sessionToken', input.sessionToken, false);
  return {
    name,
    endpoint: `${url.protocol}//${url.host}`,
    region: text(where, 'region', input.region, false) ?? OSS_HOST_DEFAULTS.region,
    accessKeyId: text(where, 'accessKeyId', input.accessKeyId, true)!,
    secretAccessKey: text(where, 'secretAccessKey', input.secretAccessKey, true)!,
    ...(sessionToken !== undefined ? { sessionToken } : {}),
    addressing,
    partSize,
    concurrency: positiveInt(where, 'concurrency', input.concurrency ?? OSS_HOST_DEFAULTS.concurrency, 1, 64),
    maxAttempts: positiveInt(where, 'maxAttempts', input.maxAttempts ?? OSS_HOST_DEFAULTS.maxAttempts, 1, 100),
    retryBaseMs: positiveInt(where, 'retryBaseMs', input.retryBaseMs ?? OSS_HOST_DEFAULTS.retryBaseMs, 0, 60_000),
    requestTimeoutMs: positiveInt(where, 'requestTimeoutMs', input.requestTimeoutMs ?? OSS_HOST_DEFAULTS.requestTimeoutMs, 100, 3_600_000),
    connectTimeoutMs: positiveInt(where, 'connectTimeoutMs', input.connectTimeoutMs ?? OSS_HOST_DEFAULTS.connectTimeoutMs, 100, 600_000),
    verifyEtag,
  };
}

/**
 * One `--oss-host` spec: `NAME=URL`, the URL carrying the credentials as user info
 * (percent-encoded) and any other setting as a query parameter:
 * `minio.local=http://KEY:SECRET@127.0.0.1:9000?addressing=path&region=us-east-1`.
 */
export function parseOssHostSpec(spec: string): OssHostConfig {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new OssConfigError(`--oss-host ${JSON.stringify(redact(spec))}: expected NAME=URL`);
  const name = spec.slice(0, eq);
  const where = `--oss-host ${name}`;
  let url: URL;
  try {
    url = new URL(spec.slice(eq + 1));
  } catch {
    throw bad(where, 'the part after "=" is not a URL');
  }
  const input: Record<string, unknown> = {
    endpoint: `${url.protocol}//${url.host}`,
    accessKeyId: decodeURIComponent(url.username),
    secretAccessKey: decodeURIComponent(url.password),
  };
  if (url.pathname !== '/' && url.pathname !== '') throw bad(where, 'the URL must not have a path');
  for (const [key, value] of url.searchParams) {
    if (key === 'endpoint' || key === 'accessKeyId' || key === 'secretAccessKey') throw bad(where, `${key} comes from the URL itself`);
    input[key] = value;
  }
  return normalizeOssHost(name, input, where);
}

/** The hosts of a config file's text: `{"hosts": {"NAME": {...}, ...}}`. */
export function parseOssConfig(textValue: string, path: string): OssHostConfig[] {
  let json: unknown;
  try {
    json = JSON.parse(textValue);
  } catch (err) {
    throw new OssConfigError(`OSS config ${path}: not valid JSON (${(err as Error).message})`);
  }
  const hosts = (json as { hosts?: unknown } | null)?.hosts;
  if (typeof json !== 'object' || json === null || Array.isArray(json) || typeof hosts !== 'object' || hosts === null || Array.isArray(hosts)) {
    throw new OssConfigError(`OSS config ${path}: expected {"hosts": {"<OSSHost>": {"endpoint": ..., ...}}}`);
  }
  for (const key of Object.keys(json)) if (key !== 'hosts') throw new OssConfigError(`OSS config ${path}: unknown key "${key}"`);
  return Object.entries(hosts as Record<string, unknown>).map(([name, value]) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`${JSON.stringify(name)} in ${path}`, 'expected an object');
    return normalizeOssHost(name, value as Record<string, unknown>, `${JSON.stringify(name)} in ${path}`);
  });
}

export interface OssHostSources {
  /** Path of a JSON config file. */
  file?: string | undefined;
  /** `--oss-host` specs. */
  specs?: readonly string[] | undefined;
  /** Hosts given programmatically. */
  hosts?: Record<string, OssHostInput> | undefined;
}

/** Reads and checks every source; throws OssConfigError naming the bad one. */
export async function loadOssHosts(sources: OssHostSources): Promise<OssHosts> {
  const all: OssHostConfig[] = [];
  if (sources.file) {
    let content: string;
    try {
      content = await readFile(sources.file, 'utf8');
    } catch (err) {
      throw new OssConfigError(`OSS config ${sources.file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    all.push(...parseOssConfig(content, sources.file));
  }
  for (const spec of sources.specs ?? []) all.push(parseOssHostSpec(spec));
  for (const [name, input] of Object.entries(sources.hosts ?? {})) all.push(normalizeOssHost(name, input as unknown as Record<string, unknown>));
  return new OssHosts(all);
}

/** A spec with its secret replaced (for error messages). */
function redact(spec: string): string {
  return spec.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
