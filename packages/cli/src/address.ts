// `oas://vault[/archive_id]` and `oss://bucket/object` arguments.
import { UsageError } from './errors.js';

export interface VaultAddress {
  vault: string;
  /** The archive id of `oas://vault/archive_id`, where a command accepts one. */
  archiveId?: string;
}

export interface OssAddress {
  bucket: string;
  object: string;
}

const OAS = 'oas://';
const OSS = 'oss://';

export function isOasAddress(text: string): boolean {
  return text.toLowerCase().startsWith(OAS);
}

export function isOssAddress(text: string): boolean {
  return text.toLowerCase().startsWith(OSS);
}

/** `oas://vault` (prefix case-insensitive, like the official tool); a trailing `/` is fine. */
export function parseVaultAddress(text: string, options: { archive?: 'forbidden' | 'optional' | 'required' } = {}): VaultAddress {
  const archive = options.archive ?? 'forbidden';
  if (!isOasAddress(text)) throw new UsageError(`bad vault '${text}': vaults are written oas://vault-name`);
  const rest = text.slice(OAS.length);
  const slash = rest.indexOf('/');
  const vault = slash < 0 ? rest : rest.slice(0, slash);
  const archiveId = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/$/, '');
  if (!vault) throw new UsageError(`bad vault '${text}': no vault name after oas://`);
  if (archiveId.includes('/')) throw new UsageError(`bad address '${text}': expected oas://vault-name/archive-id`);
  if (archiveId && archive === 'forbidden') throw new UsageError(`bad vault '${text}': expected oas://vault-name without a path`);
  if (!archiveId && archive === 'required') throw new UsageError(`bad address '${text}': expected oas://vault-name/archive-id`);
  return archiveId ? { vault, archiveId } : { vault };
}

/** `oss://bucket/object` (the object key may contain `/`). */
export function parseOssAddress(text: string): OssAddress {
  if (!isOssAddress(text)) throw new UsageError(`bad OSS address '${text}': expected oss://bucket/object`);
  const rest = text.slice(OSS.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) throw new UsageError(`bad OSS address '${text}': expected oss://bucket/object`);
  return { bucket: rest.slice(0, slash), object: rest.slice(slash + 1) };
}
