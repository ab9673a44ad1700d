// Where the service and the credentials come from: flag > environment > credentials file
// > defaults. The file is the official tool's `~/.oascredentials` INI file.
import { readFile, writeFile, rename, chmod } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, dirname, basename } from 'node:path';
import { formatIni, parseIni, type IniSections } from './ini.js';
import { UsageError, CliError } from './errors.js';

export const SECTION = 'OASCredentials';
export const DEFAULT_HOST = 'cn-hangzhou.oas.aliyuncs.com';
export const DEFAULT_PORT = 80;

/** The connection flags every command accepts. */
export interface ConnectionFlags {
  host?: string;
  port?: string;
  id?: string;
  key?: string;
  configFile?: string;
  /** PEM file of the certificate authorities HTTPS servers are checked against. */
  caFile?: string;
}

export interface Credentials {
  host: string;
  port: number;
  /** HTTPS: asked for with an https:// host, or implied by port 443 (as the Python SDK does). */
  secure: boolean;
  accessId: string;
  accessKey: string;
  /** `osshost` of the file, for `cp`. */
  ossHost?: string;
  configFile: string;
  /** Trusted certificate authorities (PEM) from --ca-file / OAS_CA_FILE, for HTTPS. */
  ca?: Buffer;
}

type Env = Record<string, string | undefined>;

/** The credentials file: --config-file, else OAS_CONFIG_FILE, else ~/.oascredentials. */
export function configFilePath(flags: ConnectionFlags, env: Env = process.env): string {
  const given = flags.configFile || env.OAS_CONFIG_FILE;
  if (given) return given.startsWith('~/') ? join(homeOf(env), given.slice(2)) : given;
  return join(homeOf(env), '.oascredentials');
}

function homeOf(env: Env): string {
  return env.HOME || homedir();
}

/** The [OASCredentials] options of the file, or undefined when there is no file. */
export async function readConfigFile(path: string): Promise<Map<string, string> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new CliError(`cannot read the credentials file ${path}: ${(e as Error).message}`);
  }
  return parseIni(text).get(SECTION) ?? new Map();
}

export function parsePort(text: string, where: string): number {
  const port = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new UsageError(`bad port '${text}' (${where}): expected 1-65535`);
  return port;
}

interface HostParts {
  host: string;
  port?: number;
  secure?: boolean;
}

/** `host`, `host:port`, `http://host[:port]` or `https://host[:port]`. */
export function parseHost(text: string, where: string): HostParts {
  const m = /^(?:(https?):\/\/)?(\[[^\]]+\]|[^:/\s]+)(?::(\d+))?\/?$/i.exec(text.trim());
  if (!m) throw new UsageError(`bad host '${text}' (${where}): expected host, host:port or http(s)://host[:port]`);
  const parts: HostParts = { host: m[2]!.replace(/^\[|\]$/g, '') };
  if (m[3] !== undefined) parts.port = parsePort(m[3], where);
  if (m[1] !== undefined) parts.secure = m[1].toLowerCase() === 'https';
  return parts;
}

/**
 * Resolves the connection. Each value is taken from the first of flag, environment
 * (OAS_HOST, OAS_PORT, OAS_ACCESS_KEY_ID, OAS_ACCESS_KEY_SECRET), file, default. Unlike the
 * official tool, the file's port is used when no --port is given. A port written in the
 * host (`host:8080`) is used unless a port is given at the same or a higher level.
 */
export async function resolveCredentials(flags: ConnectionFlags, env: Env = process.env): Promise<Credentials> {
  const configFile = configFilePath(flags, env);
  const file = await readConfigFile(configFile);
  const pick = (flag: string | undefined, envName: string, fileKey: string): { value: string; level: number; where: string } | undefined => {
    if (flag !== undefined && flag !== '') return { value: flag, level: 3, where: 'command line' };
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, level: 2, where: envName };
    const fromFile = file?.get(fileKey);
    if (fromFile !== undefined && fromFile !== '') return { value: fromFile, level: 1, where: configFile };
    return undefined;
  };

  const hostPick = pick(flags.host, 'OAS_HOST', 'host');
  const host = hostPick ? parseHost(hostPick.value, hostPick.where) : { host: DEFAULT_HOST };
  const portPick = pick(flags.port, 'OAS_PORT', 'port');
  // https:// without a port means 443, as http:// (or no scheme) means 80.
  let port = portPick ? parsePort(portPick.value, portPick.where) : host.secure ? 443 : DEFAULT_PORT;
  if (host.port !== undefined && (hostPick?.level ?? 0) > (portPick?.level ?? 0)) port = host.port;

  const id = pick(flags.id, 'OAS_ACCESS_KEY_ID', 'accessid');
  const key = pick(flags.key, 'OAS_ACCESS_KEY_SECRET', 'accesskey');
  if (!id || !key) {
    const missing = !id && !key ? 'access key id and secret' : !id ? 'access key id' : 'access key secret';
    throw new UsageError(`no ${missing}: pass -i/--id and -k/--key, set OAS_ACCESS_KEY_ID and OAS_ACCESS_KEY_SECRET, `
      + `or run \`oascmd config\` (credentials file: ${configFile}${file ? '' : ', not found'})`);
  }
  const ossHost = file?.get('osshost') || undefined;
  const ca = await readCaFile(flags.caFile || env.OAS_CA_FILE || undefined);
  return {
    host: host.host,
    port,
    secure: host.secure ?? port === 443,
    accessId: id.value,
    accessKey: key.value,
    ...(ossHost ? { ossHost } : {}),
    configFile,
    ...(ca ? { ca } : {}),
  };
}

/** The PEM certificates of --ca-file / OAS_CA_FILE (checked to hold at least one). */
async function readCaFile(path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (e) {
    throw new CliError(`cannot read the CA file ${path}: ${(e as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`the CA file ${path} holds no PEM certificate`);
  return pem;
}

export interface ConfigValues {
  host: string;
  port: number;
  accessId: string;
  accessKey: string;
  ossHost?: string;
}

/**
 * Writes the credentials file in the official format, mode 0600, through a temporary
 * file renamed into place. Other sections of an existing file, and its osshost when none
 * is given, are kept.
 */
export async function writeConfigFile(path: string, values: ConfigValues): Promise<void> {
  let sections: IniSections = new Map();
  let previous: string | undefined;
  try {
    sections = parseIni(await readFile(path, 'utf8'));
    previous = sections.get(SECTION)?.get('osshost');
  } catch {
    // No readable file yet: start empty.
  }
  const options = new Map<string, string>([
    ['host', values.host],
    ['port', String(values.port)],
    ['accessid', values.accessId],
    ['accesskey', values.accessKey],
  ]);
  const ossHost = values.ossHost ?? previous;
  if (ossHost) options.set('osshost', ossHost);
  // The official section first, as the official tool writes it.
  sections.delete(SECTION);
  const ordered: IniSections = new Map([[SECTION, options], ...sections]);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await writeFile(tmp, formatIni(ordered), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** The OSS host of ~/.osscredentials ([OSSCredentials] host), the official cp's last resort. */
export async function readOssHostFallback(env: Env = process.env): Promise<string | undefined> {
  try {
    const text = await readFile(join(homeOf(env), '.osscredentials'), 'utf8');
    return parseIni(text).get('OSSCredentials')?.get('host') || undefined;
  } catch {
    return undefined;
  }
}
