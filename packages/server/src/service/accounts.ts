// Accounts: one access key pair per account. The root account (the first one) has a fixed
// internal id, so its key can come from the environment or be generated on first start
// and later be replaced without losing its vaults.
import { randomInt } from 'node:crypto';
import { newId } from '@oas/sdk/protocol';
import type { AccountRecord, MetadataStore } from '../store/meta/types.js';
import { ConfigError } from '../util/config-error.js';

export const ROOT_ACCOUNT_ID = '00000000000000000000000000000000';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomText(length: number, alphabet = ALNUM): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/**
 * `aws`: the shape of an AWS long-term key id, `AKIA` and 16 characters of base32 (A-Z, 2-7),
 * for tools that check it (mt-aws-glacier); `oas`: `OAS` and 17 upper-case letters and digits.
 */
export type KeyShape = 'oas' | 'aws';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A fresh key pair: a 20-character id (upper-case letters and digits) and a 40-character secret. */
export function generateKeyPair(shape: KeyShape = 'oas'): { accessKeyId: string; accessKeySecret: string } {
  const accessKeyId = shape === 'aws' ? `AKIA${randomText(16, BASE32)}` : `OAS${randomText(17, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')}`;
  return { accessKeyId, accessKeySecret: randomText(40) };
}

/** A new account with a generated key (`oas-server keys create [--aws]`). */
export async function createAccount(meta: MetadataStore, now = Date.now(), shape: KeyShape = 'oas'): Promise<AccountRecord> {
  const account: AccountRecord = { id: newId(), ...generateKeyPair(shape), createdAt: now };
  await meta.createAccount(account);
  return account;
}

/** Gives an existing key a new secret; the old secret stops working at once. */
async function replaceSecret(meta: MetadataStore, account: AccountRecord, accessKeySecret: string): Promise<void> {
  if (meta.updateAccountSecret) {
    await meta.updateAccountSecret(account.accessKeyId, accessKeySecret);
  } else {
    await meta.deleteAccountByKeyId(account.accessKeyId);
    await meta.createAccount({ ...account, accessKeySecret });
  }
}

/**
 * `oas-server keys rotate`: a new secret for an existing key (the AccessKeyId stays, see
 * docs/decisions.md); null when there is no such key.
 */
export async function rotateKey(meta: MetadataStore, accessKeyId: string): Promise<AccountRecord | null> {
  const account = await meta.getAccountByKeyId(accessKeyId);
  if (!account) return null;
  // Only the secret changes: the id keeps its shape, and the secret is 40 characters either way.
  const { accessKeySecret } = generateKeyPair();
  await replaceSecret(meta, account, accessKeySecret);
  return { ...account, accessKeySecret };
}

export type RootKeyResult =
  /** `updated`: the secret changed; `retired`: the root account's other keys, deleted. */
  | { kind: 'configured'; accessKeyId: string; created: boolean; updated: boolean; retired: string[] }
  | { kind: 'generated'; account: AccountRecord }
  | { kind: 'existing' };

/**
 * With OAS_ROOT_ACCESS_KEY_ID/SECRET: make that key the root account's only key (created if
 * absent, its secret replaced if it differs, any other root key deleted), so changing the
 * environment rotates the root key. Without: on the very first start (no account at all)
 * generate the root key, which the caller prints once.
 */
export async function ensureRootKey(meta: MetadataStore, accessKeyId: string | undefined, accessKeySecret: string | undefined, now = Date.now()): Promise<RootKeyResult> {
  if (accessKeyId !== undefined && accessKeySecret !== undefined) {
    let existing = await meta.getAccountByKeyId(accessKeyId);
    let created = false;
    if (!existing) {
      try {
        await meta.createAccount({ id: ROOT_ACCOUNT_ID, accessKeyId, accessKeySecret, createdAt: now });
        created = true;
      } catch (err) {
        // Several nodes of a cluster starting at once on a fresh database: another one
        // inserted the same key first (primary key violation). Continue with its row.
        existing = await meta.getAccountByKeyId(accessKeyId);
        if (!existing) throw err;
      }
    }
    if (existing && existing.id !== ROOT_ACCOUNT_ID) {
      throw new ConfigError(`OAS_ROOT_ACCESS_KEY_ID ${accessKeyId} is another account's key (see oas-server keys list); choose another id for the root key`);
    }
    const updated = existing !== null && existing.accessKeySecret !== accessKeySecret;
    if (updated) await replaceSecret(meta, existing!, accessKeySecret);
    // The new key is in place before the old ones go: the root account is never without one.
    const retired: string[] = [];
    for (const other of await meta.listAccounts()) {
      if (other.id === ROOT_ACCOUNT_ID && other.accessKeyId !== accessKeyId && await meta.deleteAccountByKeyId(other.accessKeyId)) retired.push(other.accessKeyId);
    }
    return { kind: 'configured', accessKeyId, created, updated, retired };
  }
  if ((await meta.listAccounts()).length > 0) return { kind: 'existing' };
  const account: AccountRecord = { id: ROOT_ACCOUNT_ID, ...generateKeyPair(), createdAt: now };
  await meta.createAccount(account);
  // Nodes sharing one fresh database may each have generated a root key at the same moment.
  // They all keep the first one (oldest, then smallest id; every node sees the same order)
  // and withdraw their own otherwise, so the cluster ends up with one root key, printed by
  // the node that made it. (With clocks far apart two nodes can both believe they won;
  // both keys then stay valid for the root account. Clusters should set the key in the
  // environment of every node: docs/scale-out.md.)
  const roots = (await meta.listAccounts()).filter((a) => a.id === ROOT_ACCOUNT_ID);
  const first = roots[0];
  if (first && first.accessKeyId !== account.accessKeyId && roots.some((a) => a.accessKeyId === account.accessKeyId)) {
    await meta.deleteAccountByKeyId(account.accessKeyId);
    return { kind: 'existing' };
  }
  return { kind: 'generated', account };
}

/** Finds the account of an access key id (null: no such key). */
export type KeyLookup = (accessKeyId: string) => Promise<AccountRecord | null>;

/**
 * With `ttlMs` > 0, found keys are reused for that long, so a request costs one metadata
 * round trip instead of two (it matters on PostgreSQL). Unknown keys are never cached.
 * Keys change only through `oas-server keys` in another process, so a deleted key is
 * refused at most `ttlMs` later.
 */
export function keyLookup(meta: Pick<MetadataStore, 'getAccountByKeyId'>, ttlMs: number, now: () => number = Date.now): KeyLookup {
  if (ttlMs <= 0) return (id) => meta.getAccountByKeyId(id);
  const maxEntries = 10_000;
  const cache = new Map<string, { account: AccountRecord; until: number }>();
  return async (id) => {
    const hit = cache.get(id);
    if (hit && hit.until > now()) return hit.account;
    const account = await meta.getAccountByKeyId(id);
    cache.delete(id);
    if (account) {
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
      cache.set(id, { account, until: now() + ttlMs });
    }
    return account;
  };
}
