// Vaults: create (idempotent, at most maxVaults per account), describe, list, delete.
import { isId, newId } from '@oas/sdk/protocol';
import { MissingParentError } from '../store/errors.js';
import type { ServiceContext } from './context.js';
import { NotFoundError, StateError } from './errors.js';
import { VAULT_PAGE, checkMarkerFound, idMarker, nextMarker, pageLimit, type ListQuery } from './pagination.js';
import type { ListPage, VaultInfo, VaultRecord } from './records.js';
import { checkVaultName } from './validation.js';

/** `checkName` is the caller's protocol's name rule (default: OAS's). */
export async function createVault(ctx: ServiceContext, accountId: string, name: string, checkName: (name: string) => void = checkVaultName): Promise<VaultRecord> {
  checkName(name);
  const vault: VaultRecord = {
    id: newId(), accountId, name, createdAt: ctx.now(), archiveCount: 0, sizeBytes: 0,
    lastWriteAt: null, inventoryAt: null, inventoryArchiveCount: 0, inventorySizeBytes: 0,
  };
  const result = await ctx.meta.createVault(vault, ctx.limits.maxVaults);
  if (result.kind === 'limit') {
    throw new StateError('vault-limit', `an account can have at most ${ctx.limits.maxVaults} vaults`);
  }
  return result.vault;
}

/** The caller's vault; an id of another account, or no id at all, is VaultNotExist. */
export async function getVault(ctx: ServiceContext, accountId: string, vaultId: string): Promise<VaultRecord> {
  const vault = isId(vaultId) ? await ctx.meta.getVault(accountId, vaultId) : null;
  if (!vault) throw new NotFoundError('vault', vaultId);
  return vault;
}

/**
 * What a client is told about a vault. Live mode: the counters as of now, LastInventoryDate = now once the vault was written
 * to. Periodic mode: the latest snapshot.
 */
export function vaultInfo(ctx: ServiceContext, vault: VaultRecord): VaultInfo {
  const live = ctx.limits.inventoryIntervalMs === null;
  return {
    id: vault.id,
    accountId: vault.accountId,
    name: vault.name,
    createdAt: vault.createdAt,
    archiveCount: live ? vault.archiveCount : vault.inventoryArchiveCount,
    sizeBytes: live ? vault.sizeBytes : vault.inventorySizeBytes,
    inventoryAt: live ? (vault.lastWriteAt === null ? null : ctx.now()) : vault.inventoryAt,
  };
}

export async function listVaults(ctx: ServiceContext, accountId: string, query: ListQuery): Promise<ListPage<VaultInfo>> {
  const limit = pageLimit(query.limit, VAULT_PAGE);
  const marker = idMarker(query.marker);
  const page = await ctx.meta.listVaults(accountId, marker, limit);
  checkMarkerFound(page, marker, (v) => v.id);
  return { next: nextMarker(page), items: page.items.map((v) => vaultInfo(ctx, v)) };
}

/**
 * Only an empty vault can be deleted. Live mode: no archives (and no open uploads).
 * Periodic mode (protocol.md §4.2): the last inventory shows no archives and nothing was written since.
 */
export async function deleteVault(ctx: ServiceContext, accountId: string, vaultId: string): Promise<void> {
  const vault = await getVault(ctx, accountId, vaultId);
  const notEmpty = (why: string) => new StateError('vault-not-empty', `vault ${vault.name} is not empty: ${why}`);
  if (ctx.limits.inventoryIntervalMs !== null && vault.lastWriteAt !== null) {
    if (vault.inventoryAt === null || vault.lastWriteAt > vault.inventoryAt) {
      throw notEmpty('it was written to after its last inventory');
    }
    if (vault.inventoryArchiveCount > 0) throw notEmpty('its last inventory lists archives');
  }
  const result = await ctx.meta.deleteVault(accountId, vault.id);
  if (result === 'missing') throw new NotFoundError('vault', vaultId);
  if (result === 'not-empty') throw notEmpty('it holds archives or multipart uploads in progress');
}

/** Runs `fn`; a vault deleted meanwhile (the store's missing parent) is the vault's NotFound. */
export async function inVault<T>(vaultId: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof MissingParentError && err.parent === 'vault') throw new NotFoundError('vault', vaultId);
    throw err;
  }
}
