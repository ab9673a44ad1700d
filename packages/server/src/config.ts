// Server options: defaults, command-line flags and environment variables (flags win).
import { ConfigError } from './util/config-error.js';
import { parseArgs } from 'node:util';
import { formatDuration, parseDuration } from './util/duration.js';
import { formatReserve, parseReserve, type FreeReserve } from './util/reserve.js';
import { NO_TIER_DELAYS, formatTierDelays, parseTierDelays, type TierDelays } from './http/glacier/tiers.js';
import { parseNotifyMapping } from './http/glacier/notify.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ServerOptions {
  dataDir: string;
  host: string;
  port: number;
  /** Vaults per account. */
  maxVaults: number;
  /** Jobs do not start before creation + this. */
  jobDelayMs: number;
  /** Completed jobs (and their output) expire after this. */
  jobOutputTtlMs: number;
  /** null: vault statistics and inventories are live; else refreshed on this period. */
  inventoryIntervalMs: number | null;
  jobConcurrency: number;
  shutdownGraceMs: number;
  logLevel: LogLevel;
  /** Largest accepted |Date − now| of a signed request. */
  maxSkewMs: number;
  /** How long a looked-up access key is reused without asking the metadata store (0: never). */
  keyCacheMs: number;
  /** The first account's key (OAS_ROOT_ACCESS_KEY_ID / OAS_ROOT_ACCESS_KEY_SECRET). */
  rootAccessKeyId?: string | undefined;
  rootAccessKeySecret?: string | undefined;
  /** JSON file of the OSS hosts transfer jobs may use (oss-config.ts, docs/oss.md). */
  ossConfigFile?: string | undefined;
  /** `--oss-host NAME=URL` specs (repeatable; env OAS_OSS_HOSTS, separated by white space). */
  ossHostSpecs: string[];
  // Scale-out backends (store/open.ts, docs/scale-out.md).
  /** `sqlite:<path>` or `postgres://...`; unset: sqlite in the data directory. */
  metadataUri?: string | undefined;
  /** Connections in each node's PostgreSQL pool. */
  pgPoolSize: number;
  /** `file:<dir>` or `s3://<bucket>[/<prefix>]`; unset: files in the data directory. */
  blobsUri?: string | undefined;
  s3Endpoint?: string | undefined;
  s3Region?: string | undefined;
  /** Also from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; unset: the AWS SDK's default chain. */
  s3AccessKeyId?: string | undefined;
  s3SecretAccessKey?: string | undefined;
  /** Path-style addressing (`endpoint/bucket/key`), as most self-hosted S3 servers need. */
  s3ForcePathStyle: boolean;
  /** Key prefix inside the bucket (also the path part of an `s3://bucket/prefix` URI). */
  s3Prefix?: string | undefined;
  /** A job's lease; a node that dies loses its jobs to other nodes after this. */
  jobLeaseMs: number;
  /** Serve the web console at /console/ (http/console.ts). */
  console: boolean;
  /** Serve the Amazon Glacier vault API (http/glacier/); off: uploads store only the MD5 leaves OAS needs. */
  glacier: boolean;
  // Connections (http/connections.ts, docs/operations.md).
  /** A connection that moves no byte either way this long is closed (0: never). */
  idleTimeoutMs: number;
  /** A request's headers must be complete this long after they start (0: no limit). */
  headersTimeoutMs: number;
  /** An idle kept-alive connection is closed after this (0: after each response). */
  keepAliveTimeoutMs: number;
  /** Connections served at once; null: from the open-file limit. */
  maxConnections: number | null;
  /** Free space uploads must leave on the local disks the server writes (service/space.ts). */
  minFree: FreeReserve;
  /** Check stored archives in the background (scrub/). */
  scrub: boolean;
  /** Every archive is checked again once its last check is this old (a full pass). */
  scrubIntervalMs: number;
  /** Scrub read rate cap, MB/s (10^6 bytes; 0: none); also paces the SHA-256 backfill. */
  scrubRate: number;
  /** Give blobs stored before SHA-256 leaves existed their leaves, in the background (backfill/). */
  backfill: boolean;
  /** PEM certificate chain and private key: serve HTTPS (http/tls.ts); re-read on SIGHUP. */
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  /** The region the Glacier front end names in ARNs (docs/glacier.md). */
  glacierRegion: string;
  /** Extra delay of Glacier retrieval jobs per Tier, on top of jobDelayMs (http/glacier/tiers.ts). */
  glacierTierDelays: TierDelays;
  /** `--notify TOPIC_ARN=URL` mappings (repeatable; env OAS_NOTIFY, comma or newline separated). */
  notifySpecs: string[];
}

type Kind = 'string' | 'port' | 'count' | 'duration' | 'optional-duration' | 'level' | 'boolean' | 'switch' | 'reserve' | 'rate' | 'tier-delays';

interface OptionSpec {
  key: keyof ServerOptions;
  flag: string;
  env: string;
  kind: Kind;
  help: string;
}

export const OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'dataDir', flag: 'data-dir', env: 'OAS_DATA_DIR', kind: 'string', help: 'directory for metadata and blobs' },
  { key: 'host', flag: 'host', env: 'OAS_HOST', kind: 'string', help: 'address to listen on' },
  { key: 'port', flag: 'port', env: 'OAS_PORT', kind: 'port', help: 'port to listen on (0: any free port)' },
  { key: 'maxVaults', flag: 'max-vaults', env: 'OAS_MAX_VAULTS', kind: 'count', help: 'vaults per account' },
  { key: 'jobDelayMs', flag: 'job-delay', env: 'OAS_JOB_DELAY', kind: 'duration', help: 'time a job waits before it runs (emulates the service\'s hours)' },
  { key: 'jobOutputTtlMs', flag: 'job-output-ttl', env: 'OAS_JOB_OUTPUT_TTL', kind: 'duration', help: 'how long completed jobs and their output stay' },
  { key: 'inventoryIntervalMs', flag: 'inventory-interval', env: 'OAS_INVENTORY_INTERVAL', kind: 'optional-duration', help: 'refresh vault statistics and inventories on this period (unset: live)' },
  { key: 'jobConcurrency', flag: 'job-concurrency', env: 'OAS_JOB_CONCURRENCY', kind: 'count', help: 'jobs run at the same time' },
  { key: 'shutdownGraceMs', flag: 'shutdown-grace', env: 'OAS_SHUTDOWN_GRACE', kind: 'duration', help: 'on SIGTERM/SIGINT, time in-flight requests get to finish' },
  { key: 'logLevel', flag: 'log-level', env: 'OAS_LOG_LEVEL', kind: 'level', help: `log level (${LOG_LEVELS.join(', ')})` },
  { key: 'maxSkewMs', flag: 'max-skew', env: 'OAS_MAX_SKEW', kind: 'duration', help: 'largest accepted clock difference of a signed request' },
  { key: 'keyCacheMs', flag: 'key-cache', env: 'OAS_KEY_CACHE', kind: 'duration', help: 'reuse looked-up access keys this long: one metadata round trip less per request, but a deleted key works up to this much longer (0: off)' },
  { key: 'ossConfigFile', flag: 'oss-config', env: 'OAS_OSS_CONFIG', kind: 'string', help: 'JSON file of the OSS hosts pull/push jobs may use (docs/oss.md)' },
  { key: 'metadataUri', flag: 'metadata', env: 'OAS_METADATA', kind: 'string', help: 'metadata store: sqlite:<path> or postgres://user:password@host:port/db; unset: sqlite in the data directory' },
  { key: 'pgPoolSize', flag: 'pg-pool-size', env: 'OAS_PG_POOL_SIZE', kind: 'count', help: 'PostgreSQL connections per node' },
  { key: 'blobsUri', flag: 'blobs', env: 'OAS_BLOBS', kind: 'string', help: 'blob store: file:<dir> or s3://<bucket>[/<prefix>]; unset: files in the data directory' },
  { key: 's3Endpoint', flag: 's3-endpoint', env: 'OAS_S3_ENDPOINT', kind: 'string', help: 'S3 endpoint URL; unset: AWS' },
  { key: 's3Region', flag: 's3-region', env: 'OAS_S3_REGION', kind: 'string', help: 'S3 region (also AWS_REGION)' },
  { key: 's3AccessKeyId', flag: 's3-access-key-id', env: 'OAS_S3_ACCESS_KEY_ID', kind: 'string', help: 'S3 access key id (also AWS_ACCESS_KEY_ID)' },
  { key: 's3SecretAccessKey', flag: 's3-secret-access-key', env: 'OAS_S3_SECRET_ACCESS_KEY', kind: 'string', help: 'S3 secret key; prefer the environment (also AWS_SECRET_ACCESS_KEY)' },
  { key: 's3ForcePathStyle', flag: 's3-force-path-style', env: 'OAS_S3_FORCE_PATH_STYLE', kind: 'boolean', help: 'path-style S3 addressing (endpoint/bucket/key) instead of bucket.endpoint' },
  { key: 's3Prefix', flag: 's3-prefix', env: 'OAS_S3_PREFIX', kind: 'string', help: 'key prefix inside the bucket' },
  { key: 'console', flag: 'console', env: 'OAS_CONSOLE', kind: 'switch', help: 'serve the web console at /console/ (on or off)' },
  { key: 'glacier', flag: 'glacier', env: 'OAS_GLACIER', kind: 'switch', help: 'serve the Amazon Glacier vault API on the same port (on or off); off: Glacier requests are refused and uploads skip the SHA-256 checksums only Glacier needs' },
  { key: 'glacierRegion', flag: 'glacier-region', env: 'OAS_GLACIER_REGION', kind: 'string', help: 'region named in the Glacier API\'s ARNs (any region is accepted in signatures)' },
  { key: 'glacierTierDelays', flag: 'glacier-tier-delay', env: 'OAS_GLACIER_TIER_DELAY', kind: 'tier-delays', help: 'extra delay of Glacier retrieval jobs per Tier, e.g. Expedited=1m,Standard=5h,Bulk=12h (unnamed tiers: 0), added to --job-delay' },
  { key: 'jobLeaseMs', flag: 'job-lease', env: 'OAS_JOB_LEASE', kind: 'duration', help: 'job lease: a dead node\'s jobs move to another node after this' },
  { key: 'idleTimeoutMs', flag: 'idle-timeout', env: 'OAS_IDLE_TIMEOUT', kind: 'duration', help: 'close a connection that moves no byte either way this long, mid-body included (0: never)' },
  { key: 'headersTimeoutMs', flag: 'headers-timeout', env: 'OAS_HEADERS_TIMEOUT', kind: 'duration', help: 'answer 408 RequestTimeout when a request\'s headers take longer (0: no limit)' },
  { key: 'keepAliveTimeoutMs', flag: 'keep-alive-timeout', env: 'OAS_KEEP_ALIVE_TIMEOUT', kind: 'duration', help: 'close a kept-alive connection idle between requests this long' },
  { key: 'maxConnections', flag: 'max-connections', env: 'OAS_MAX_CONNECTIONS', kind: 'count', help: 'connections served at once; more are closed at once (unset: a third of the open-file limit less 64, so each one has room for its files)' },
  { key: 'minFree', flag: 'min-free', env: 'OAS_MIN_FREE', kind: 'reserve', help: 'free space an upload must leave on the data disk, a size (512M, 2G) or a share (5%); beyond it: 507 StorageFull (0: off)' },
  { key: 'scrub', flag: 'scrub', env: 'OAS_SCRUB', kind: 'switch', help: 're-check stored archives against their checksums in the background (on or off)' },
  { key: 'scrubIntervalMs', flag: 'scrub-interval', env: 'OAS_SCRUB_INTERVAL', kind: 'duration', help: 'time for a full scrub pass: each archive is checked again once its last check is this old' },
  { key: 'scrubRate', flag: 'scrub-rate', env: 'OAS_SCRUB_RATE', kind: 'rate', help: 'scrub read rate cap per node in MB/s (0: no cap)' },
  { key: 'backfill', flag: 'backfill', env: 'OAS_BACKFILL', kind: 'switch', help: 'add SHA-256 leaves to archives stored before they existed, in the background about a minute after start, paced by --scrub-rate (on or off)' },
  { key: 'tlsCert', flag: 'tls-cert', env: 'OAS_TLS_CERT', kind: 'string', help: 'PEM certificate (chain) file: serve HTTPS; re-read on SIGHUP' },
  { key: 'tlsKey', flag: 'tls-key', env: 'OAS_TLS_KEY', kind: 'string', help: 'PEM private key file of --tls-cert' },
];

export const DEFAULT_OPTIONS: ServerOptions = {
  dataDir: './data',
  host: '127.0.0.1',
  port: 8080,
  maxVaults: 10,
  jobDelayMs: 0,
  jobOutputTtlMs: 24 * 3_600_000,
  inventoryIntervalMs: null,
  jobConcurrency: 4,
  shutdownGraceMs: 10_000,
  logLevel: 'info',
  maxSkewMs: 15 * 60_000,
  keyCacheMs: 0,
  ossConfigFile: undefined,
  ossHostSpecs: [],
  metadataUri: undefined,
  pgPoolSize: 10,
  blobsUri: undefined,
  s3Endpoint: undefined,
  s3Region: undefined,
  s3AccessKeyId: undefined,
  s3SecretAccessKey: undefined,
  s3ForcePathStyle: false,
  s3Prefix: undefined,
  jobLeaseMs: 30_000,
  console: true,
  glacier: true,
  idleTimeoutMs: 60_000,
  headersTimeoutMs: 30_000,
  keepAliveTimeoutMs: 15_000,
  maxConnections: null,
  // Room for the metadata (WAL, checkpoints), inventories and logs once uploads are refused; see docs/decisions.md.
  minFree: { bytes: 64 * 1024 * 1024 },
  scrub: true,
  scrubIntervalMs: 30 * 24 * 3_600_000,
  scrubRate: 50,
  backfill: true,
  tlsCert: undefined,
  tlsKey: undefined,
  glacierRegion: 'us-east-1',
  glacierTierDelays: NO_TIER_DELAYS,
  notifySpecs: [],
};

/** A bad option value: main prints the message on one line and exits 2. */
export { ConfigError };

function convert(spec: OptionSpec, text: string, from: string): ServerOptions[keyof ServerOptions] {
  const bad = (what: string) => new ConfigError(`invalid ${from}: ${JSON.stringify(text)} (${what})`);
  switch (spec.kind) {
    case 'string':
      if (text === '') throw bad('must not be empty');
      return text;
    case 'port': {
      if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw bad('expected a port number 0-65535');
      return Number(text);
    }
    case 'count': {
      if (!/^\d{1,6}$/.test(text) || Number(text) < 1) throw bad('expected a whole number of at least 1');
      return Number(text);
    }
    case 'duration':
    case 'optional-duration': {
      if (spec.kind === 'optional-duration' && text === '') return null;
      const ms = parseDuration(text);
      if (ms === null) throw bad('expected a duration such as 0, 500ms, 30s, 5m, 4h, 1d');
      if (spec.kind === 'optional-duration' && ms < 100) throw bad('must be at least 100ms');
      return ms;
    }
    case 'boolean':
    case 'switch':
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw bad(spec.kind === 'switch' ? 'expected on or off' : 'expected true or false');
    case 'reserve': {
      const reserve = parseReserve(text);
      if (reserve === null) throw bad('expected a size such as 0, 512M, 2G or a percentage below 100 such as 5%');
      return reserve;
    }
    case 'rate':
      if (!/^\d{1,6}(\.\d{1,3})?$/.test(text)) throw bad('expected MB/s such as 50 or 0.5 (0: no limit)');
      return Number(text);
    case 'tier-delays':
      try {
        return parseTierDelays(text);
      } catch (err) {
        throw bad((err as Error).message);
      }
    case 'level':
      if (!(LOG_LEVELS as readonly string[]).includes(text)) throw bad(`expected one of ${LOG_LEVELS.join(', ')}`);
      return text as LogLevel;
  }
}

/** Options from environment variables and flags over the defaults. */
export function resolveOptions(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv): ServerOptions {
  const options: ServerOptions = { ...DEFAULT_OPTIONS };
  const target = options as unknown as Record<string, unknown>;
  for (const spec of OPTION_SPECS) {
    const fromEnv = env[spec.env];
    if (fromEnv !== undefined && (fromEnv !== '' || spec.kind === 'optional-duration')) {
      target[spec.key] = convert(spec, fromEnv, spec.env);
    }
    const fromFlag = flags[spec.flag];
    if (fromFlag !== undefined) target[spec.key] = convert(spec, fromFlag, `--${spec.flag}`);
  }
  const id = env.OAS_ROOT_ACCESS_KEY_ID || undefined;
  const secret = env.OAS_ROOT_ACCESS_KEY_SECRET || undefined;
  if ((id === undefined) !== (secret === undefined)) {
    throw new ConfigError('OAS_ROOT_ACCESS_KEY_ID and OAS_ROOT_ACCESS_KEY_SECRET must be set together');
  }
  if (id !== undefined && !/^[\x21-\x39\x3b-\x7e]{1,128}$/.test(id)) {
    throw new ConfigError('invalid OAS_ROOT_ACCESS_KEY_ID (printable ASCII without spaces or ":", at most 128 characters)');
  }
  if (secret !== undefined && !/^[\x21-\x7e]{1,256}$/.test(secret)) {
    throw new ConfigError('invalid OAS_ROOT_ACCESS_KEY_SECRET (printable ASCII without spaces, at most 256 characters)');
  }
  options.rootAccessKeyId = id;
  options.rootAccessKeySecret = secret;
  // The AWS SDK's usual variables, when the OAS_S3_* ones are not set.
  options.s3AccessKeyId ??= env.AWS_ACCESS_KEY_ID || undefined;
  options.s3SecretAccessKey ??= env.AWS_SECRET_ACCESS_KEY || undefined;
  options.s3Region ??= env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) throw new ConfigError('--tls-cert and --tls-key must be given together');
  if (options.scrubIntervalMs < 1000) throw new ConfigError(`invalid scrub interval ${options.scrubIntervalMs}ms (must be at least 1s)`);
  if (options.jobLeaseMs < 1000) throw new ConfigError(`invalid job lease ${options.jobLeaseMs}ms (must be at least 1s)`);
  options.ossHostSpecs = (env.OAS_OSS_HOSTS ?? '').split(/\s+/).filter((spec) => spec !== '');
  options.notifySpecs = checkNotifySpecs((env.OAS_NOTIFY ?? '').split(/[,\n]/).map((s) => s.trim()).filter((s) => s !== ''), 'OAS_NOTIFY');
  return options;
}

/** Each `TOPIC_ARN=URL` parses, and no topic is mapped twice; a ConfigError otherwise. */
function checkNotifySpecs(specs: string[], from: string): string[] {
  const topics = new Set<string>();
  for (const spec of specs) {
    let topic: string;
    try {
      topic = parseNotifyMapping(spec).topicArn;
    } catch (err) {
      throw new ConfigError(`invalid ${from}: ${(err as Error).message}`);
    }
    if (topics.has(topic)) throw new ConfigError(`invalid ${from}: topic ${topic} is mapped twice`);
    topics.add(topic);
  }
  return specs;
}

export interface ParsedServe {
  help: boolean;
  options: ServerOptions;
}

/** Parses `serve` arguments (without the command word). Throws ConfigError. */
export function parseServeArgs(args: string[], env: NodeJS.ProcessEnv): ParsedServe {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(OPTION_SPECS.map((s) => [s.flag, { type: s.kind === 'boolean' ? 'boolean' as const : 'string' as const }])),
        'oss-host': { type: 'string', multiple: true },
        notify: { type: 'string', multiple: true },
      },
    });
  } catch (err) {
    throw new ConfigError((err as Error).message.split('\n')[0]!);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) return { help: true, options: { ...DEFAULT_OPTIONS } };
  const flags: Record<string, string | undefined> = {};
  for (const spec of OPTION_SPECS) {
    const value = values[spec.flag];
    flags[spec.flag] = value === true ? 'true' : value as string | undefined;
  }
  const options = resolveOptions(flags, env);
  const ossHosts = values['oss-host'] as unknown as string[] | undefined;
  if (ossHosts !== undefined) options.ossHostSpecs = ossHosts;
  const notify = values.notify as unknown as string[] | undefined;
  if (notify !== undefined) options.notifySpecs = checkNotifySpecs(notify, '--notify');
  return { help: false, options };
}

function defaultText(spec: OptionSpec): string {
  const value = DEFAULT_OPTIONS[spec.key];
  if (value === null || value === undefined) return 'unset';
  if (spec.kind === 'switch') return value ? 'on' : 'off';
  if (spec.kind === 'duration' || spec.kind === 'optional-duration') return formatDuration(value as number);
  if (spec.kind === 'reserve') return formatReserve(value as FreeReserve);
  if (spec.kind === 'tier-delays') return formatTierDelays(value as TierDelays);
  return String(value);
}

export function helpText(): string {
  const rows = OPTION_SPECS.map((s) => [`  --${s.flag}${s.kind === 'boolean' ? '' : ` <${s.kind === 'duration' || s.kind === 'optional-duration' ? 'duration' : s.kind === 'reserve' ? 'size|%' : 'value'}>`}`, s.help, `default ${defaultText(s)}, env ${s.env}`]);
  const width = Math.max(...rows.map((r) => r[0]!.length)) + 2;
  return [
    'Usage: oas-server [serve] [options]',
    '       oas-server keys create|list|delete|rotate [<AccessKeyId>] [--aws] [--data-dir <dir>] [--metadata <uri>]',
    '       oas-server migrate [--metadata <uri>]          apply schema migrations and exit',
    '       oas-server scrub [--vault <name>] [--now] [store options]   check stored archives now (exit 3: damage found)',
    '       oas-server backfill [--vault <name>] [store options]   add SHA-256 leaves to archives stored before they existed (exit 1: some failed)',
    '       oas-server copy-data --from <meta,blobs> --to <meta,blobs>   move everything to other stores',
    '',
    'A server speaking the Aliyun Open Archive Service (OAS) protocol and, on the same port,',
    'the Amazon Glacier vault API (docs/glacier.md).',
    '',
    'Options (flags win over environment variables):',
    ...rows.map(([flag, help, def]) => `${flag!.padEnd(width)}${help} (${def})`),
    `${'  --oss-host <NAME=URL>'.padEnd(width)}an OSS host pull/push jobs may use, repeatable (env OAS_OSS_HOSTS)`,
    `${'  --notify <TOPIC_ARN=URL>'.padEnd(width)}POST a finished Glacier job's DescribeJob JSON to URL when the job or its vault names the topic; repeatable, best effort (env OAS_NOTIFY, comma or newline separated)`,
    `  ${'-h, --help'.padEnd(width - 2)}show this help`,
    `  ${'-V, --version'.padEnd(width - 2)}print the version`,
    '',
    'Durations: 0, 500ms, 30s, 5m, 4h, 1d (a bare number is seconds).',
    '',
    'Credentials: OAS_ROOT_ACCESS_KEY_ID and OAS_ROOT_ACCESS_KEY_SECRET define the first',
    'account\'s key. Without them, the first start generates a key pair, stores it in the',
    'metadata store and prints it once. In a cluster, give every node the same pair.',
    'Changing the pair rotates the root key: the next start replaces the stored root key',
    'with it (logged), and the old one stops working. `keys rotate` does that for any key.',
    '',
    'OSS transfers: a job\'s OSSHost must be configured, e.g.',
    '  --oss-host \'oss-cn-hangzhou.aliyuncs.com=https://KEYID:SECRET@oss-cn-hangzhou.aliyuncs.com?region=oss-cn-hangzhou\'',
    'or in the --oss-config file (see docs/oss.md for both formats and every setting).',
    '',
  ].join('\n');
}
