// Chooses and opens the storage backends from their URIs: `--metadata sqlite:<path>` (the
// embedded default, in the data directory) or `--metadata postgres://...`, and `--blobs
// file:<dir>` (default, in the data directory) or `--blobs s3://<bucket>[/<prefix>]`. Any
// combination works. The server (app.ts), `oas-server migrate`, `keys` and `copy-data`
// all open their stores through here.
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../util/config-error.js';
import { openFileBlobStore } from './blob/file.js';
import { openS3BlobStore } from './blob/s3.js';
import type { BlobStore } from './blob/types.js';
import { migratePostgres, openPostgresStore } from './meta/postgres.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from './meta/sqlite-schema.js';
import { openSqliteStore } from './meta/sqlite.js';
import type { MetadataStore } from './meta/types.js';

export type MetadataSpec =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string; poolSize: number };

export interface S3BlobsSpec {
  kind: 's3';
  bucket: string;
  /** '' or a prefix ending in '/'. */
  prefix: string;
  endpoint?: string | undefined;
  region?: string | undefined;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  forcePathStyle: boolean;
}

export type BlobsSpec = { kind: 'file'; dir: string } | S3BlobsSpec;

/** Where the stores are and how to reach them (the server's options have these fields; copy-data gives them per side). */
export interface BackendOptions {
  dataDir: string;
  metadataUri?: string | undefined;
  blobsUri?: string | undefined;
  pgPoolSize: number;
  s3Endpoint?: string | undefined;
  s3Region?: string | undefined;
  s3AccessKeyId?: string | undefined;
  s3SecretAccessKey?: string | undefined;
  s3ForcePathStyle: boolean;
  s3Prefix?: string | undefined;
}

/** The region signed for when none is configured (what S3-compatible servers accept). */
const DEFAULT_S3_REGION = 'us-east-1';
const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off)$/i;

/** `sqlite:<path>` or `postgres://...` (`postgresql://` too); unset: `<dataDir>/meta.sqlite`. */
export function parseMetadataUri(uri: string | undefined, opts: Pick<BackendOptions, 'dataDir' | 'pgPoolSize'>): MetadataSpec {
  if (uri === undefined || uri === '') return { kind: 'sqlite', path: resolve(join(opts.dataDir, 'meta.sqlite')) };
  if (/^postgres(ql)?:\/\//i.test(uri)) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new ConfigError(`invalid metadata URI ${redactUri(uri)} (not a URL)`);
    }
    if (!url.hostname && !url.searchParams.get('host')) throw new ConfigError(`invalid metadata URI ${redactUri(uri)} (no host)`);
    return { kind: 'postgres', url: uri, poolSize: opts.pgPoolSize };
  }
  const m = /^sqlite:(.*)$/i.exec(uri);
  if (m) {
    // sqlite:relative/path, sqlite:/abs/path and sqlite:///abs/path all mean the file path.
    const path = m[1]!.startsWith('//') ? m[1]!.slice(2) : m[1]!;
    if (path === '') throw new ConfigError(`invalid metadata URI ${JSON.stringify(uri)} (no file path after sqlite:)`);
    return { kind: 'sqlite', path: resolve(path) };
  }
  throw new ConfigError(`invalid metadata URI ${redactUri(uri)} (expected sqlite:<path> or postgres://user:password@host:port/database)`);
}

/** A bucket name S3 (and radosgw, OSS) would accept: 3-63 of a-z 0-9 . - (and _ for old buckets). */
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

function normalizePrefix(prefix: string): string {
  const p = prefix.replace(/^\/+/, '');
  if (p === '') return '';
  if (p.split('/').some((seg, i, all) => seg === '..' || seg === '.' || (seg === '' && i < all.length - 1))) {
    throw new ConfigError(`invalid S3 prefix ${JSON.stringify(prefix)}`);
  }
  return p.endsWith('/') ? p : `${p}/`;
}

/**
 * `file:<dir>` or `s3://<bucket>[/<prefix>][?endpoint=URL&region=R&path-style=true]`; unset:
 * `<dataDir>/blobs`. The query parameters override the --s3-* options for this URI only (so
 * copy-data can read one S3 server and write another); credentials always come from the
 * options or the environment, never from the URI.
 */
export function parseBlobsUri(uri: string | undefined, opts: BackendOptions): BlobsSpec {
  if (uri === undefined || uri === '') return { kind: 'file', dir: resolve(join(opts.dataDir, 'blobs')) };
  const f = /^file:(.*)$/i.exec(uri);
  if (f) {
    const dir = f[1]!.startsWith('//') ? f[1]!.slice(2) : f[1]!;
    if (dir === '') throw new ConfigError(`invalid blobs URI ${JSON.stringify(uri)} (no directory after file:)`);
    return { kind: 'file', dir: resolve(dir) };
  }
  const s = /^s3:\/\/([^/?]*)(\/[^?]*)?(?:\?(.*))?$/i.exec(uri);
  if (s) {
    const bucket = s[1]!;
    if (!BUCKET.test(bucket)) throw new ConfigError(`invalid blobs URI ${JSON.stringify(uri)} (bad bucket name ${JSON.stringify(bucket)})`);
    const query = new URLSearchParams(s[3] ?? '');
    for (const key of query.keys()) {
      if (!['endpoint', 'region', 'path-style'].includes(key)) {
        throw new ConfigError(`invalid blobs URI ${JSON.stringify(uri)} (unknown parameter ${JSON.stringify(key)}; known: endpoint, region, path-style)`);
      }
    }
    const pathStyle = query.get('path-style');
    let forcePathStyle = opts.s3ForcePathStyle;
    if (pathStyle !== null) {
      if (TRUE.test(pathStyle)) forcePathStyle = true;
      else if (FALSE.test(pathStyle)) forcePathStyle = false;
      else throw new ConfigError(`invalid blobs URI ${JSON.stringify(uri)} (path-style must be true or false)`);
    }
    const endpoint = query.get('endpoint') ?? opts.s3Endpoint;
    if (endpoint !== undefined && !/^https?:\/\/[^/]+/i.test(endpoint)) {
      throw new ConfigError(`invalid S3 endpoint ${JSON.stringify(endpoint)} (expected http(s)://host[:port])`);
    }
    const uriPrefix = s[2] && s[2] !== '/' ? decodeURIComponent(s[2]) : undefined;
    if (uriPrefix !== undefined && opts.s3Prefix !== undefined && normalizePrefix(uriPrefix) !== normalizePrefix(opts.s3Prefix)) {
      throw new ConfigError(`the blobs URI's prefix ${JSON.stringify(uriPrefix)} and --s3-prefix ${JSON.stringify(opts.s3Prefix)} differ`);
    }
    if ((opts.s3AccessKeyId === undefined) !== (opts.s3SecretAccessKey === undefined)) {
      throw new ConfigError('give both the S3 access key id and secret (OAS_S3_ACCESS_KEY_ID / OAS_S3_SECRET_ACCESS_KEY), or neither for the AWS default credential chain');
    }
    return {
      kind: 's3', bucket, prefix: normalizePrefix(uriPrefix ?? opts.s3Prefix ?? ''),
      endpoint, region: query.get('region') ?? opts.s3Region, forcePathStyle,
      accessKeyId: opts.s3AccessKeyId, secretAccessKey: opts.s3SecretAccessKey,
    };
  }
  throw new ConfigError(`invalid blobs URI ${JSON.stringify(uri)} (expected file:<dir> or s3://<bucket>[/<prefix>])`);
}

/** The URI without its password, for logs and messages. */
export function redactUri(uri: string): string {
  return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

export function describeMetadata(spec: MetadataSpec): string {
  return spec.kind === 'sqlite' ? `sqlite:${spec.path}` : redactUri(spec.url);
}

export function describeBlobs(spec: BlobsSpec): string {
  if (spec.kind === 'file') return `file:${spec.dir}`;
  return `s3://${spec.bucket}/${spec.prefix}${spec.endpoint ? ` at ${spec.endpoint}` : ''}`;
}

/**
 * Whether several server nodes may share this metadata store. PostgreSQL is the scale-out
 * store: a node must then assume other nodes write at the same time (no start-up sweep of
 * "unreferenced" blobs another node may be about to reference; see maintenance.ts).
 */
export function isSharedMetadata(spec: MetadataSpec): boolean {
  return spec.kind === 'postgres';
}

/**
 * Whether the blob store's removeLeftovers is safe while other nodes write: the S3 store
 * only removes writes whose heartbeat marker is older than an hour; the file store removes
 * every temporary file, so it only runs when nothing else can write (not shared).
 */
export function leftoversSafeWhenShared(spec: BlobsSpec): boolean {
  return spec.kind === 's3';
}

/** Opens (and migrates) the metadata store. */
export async function openMetadata(spec: MetadataSpec): Promise<MetadataStore> {
  if (spec.kind === 'postgres') return openPostgresStore(spec.url, { poolSize: spec.poolSize });
  await mkdir(dirname(spec.path), { recursive: true });
  return openSqliteStore(spec.path);
}

export async function openBlobs(spec: BlobsSpec): Promise<BlobStore> {
  if (spec.kind === 'file') return openFileBlobStore(spec.dir);
  return openS3BlobStore({
    bucket: spec.bucket, prefix: spec.prefix, region: spec.region ?? DEFAULT_S3_REGION,
    ...(spec.endpoint !== undefined ? { endpoint: spec.endpoint } : {}),
    ...(spec.accessKeyId !== undefined && spec.secretAccessKey !== undefined
      ? { accessKeyId: spec.accessKeyId, secretAccessKey: spec.secretAccessKey } : {}),
    forcePathStyle: spec.forcePathStyle,
  });
}

/** Applies the metadata schema migrations and returns the resulting version (`oas-server migrate`). */
export async function migrateMetadata(spec: MetadataSpec): Promise<number> {
  if (spec.kind === 'postgres') return migratePostgres(spec.url);
  const store = await openMetadata(spec); // opening a SQLite store migrates it
  await store.close();
  return SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]!.version;
}

export interface OpenedStores {
  meta: MetadataStore;
  blobs: BlobStore;
  metaSpec: MetadataSpec;
  blobsSpec: BlobsSpec;
}

/** Opens both stores of a backend pair; nothing stays open when either fails. */
export async function openStores(opts: BackendOptions): Promise<OpenedStores> {
  const metaSpec = parseMetadataUri(opts.metadataUri, opts);
  const blobsSpec = parseBlobsUri(opts.blobsUri, opts);
  const meta = await openMetadata(metaSpec);
  try {
    const blobs = await openBlobs(blobsSpec);
    return { meta, blobs, metaSpec, blobsSpec };
  } catch (err) {
    await meta.close().catch(() => undefined);
    throw err;
  }
}
