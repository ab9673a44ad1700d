// Backend-independent contract suites for MetadataStore and BlobStore. Each backend's test
// file calls these with a factory; the same assertions later run against PostgreSQL and S3.
// Only the interfaces are used here, and times are fixed numbers (no clocks, no sleeps).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MIB, newId } from '@oas/sdk';
import type {
  ArchiveRecord, JobRecord, MetadataStore, Page, PartRecord, UploadRecord, VaultRecord,
} from '../src/store/meta/types.js';
import type { BlobStore } from '../src/store/blob/types.js';

export interface OpenedMetadataStore {
  store: MetadataStore;
  /** Removes everything the backend created (the suite closes the stores itself). */
  cleanup(): Promise<void>;
  /** Another handle on the same data (a second node, or the next start); enables more tests. */
  reopen?(): Promise<MetadataStore>;
}

export interface OpenedBlobStore {
  store: BlobStore;
  cleanup(): Promise<void>;
  reopen?(): Promise<BlobStore>;
}

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Ids sharing a random prefix, ascending, with room between neighbours (see between()). */
function idSeries(count: number): string[] {
  const prefix = newId().slice(0, 16);
  return Array.from({ length: count }, (_, i) => prefix + (i * 2 + 2).toString(16).toUpperCase().padStart(16, '0'));
}

/** An id sorting just before `id` and after its idSeries predecessor. */
function justBefore(id: string): string {
  return id.slice(0, 16) + (parseInt(id.slice(16), 16) - 1).toString(16).toUpperCase().padStart(16, '0');
}

function vaultRec(accountId: string, name: string, over: Partial<VaultRecord> = {}): VaultRecord {
  return {
    id: newId(), accountId, name, createdAt: T0, archiveCount: 0, sizeBytes: 0, lastWriteAt: null,
    inventoryAt: null, inventoryArchiveCount: 0, inventorySizeBytes: 0, ...over,
  };
}

function archiveRec(vaultId: string, size: number, over: Partial<ArchiveRecord> = {}): ArchiveRecord {
  return {
    id: newId(), vaultId, description: 'desc', size, treeEtag: newId(), createdAt: T0, deletedAt: null, ...over,
  };
}

function uploadRec(vaultId: string, over: Partial<UploadRecord> = {}): UploadRecord {
  return {
    id: newId(), vaultId, description: 'mp', partSize: 4 * MIB, createdAt: T0, archiveId: null, completedAt: null,
    archiveSize: null, archiveTreeEtag: null, ...over,
  };
}

function partRec(uploadId: string, start: number, end: number, over: Partial<PartRecord> = {}): PartRecord {
  return {
    uploadId, start, end, contentEtag: newId(), treeEtag: newId(), blobKey: newId(), createdAt: T0, ...over,
  };
}

function jobRec(vaultId: string, over: Partial<JobRecord> = {}): JobRecord {
  return {
    id: newId(), vaultId, type: 'inventory-retrieval', description: '', createdAt: T0, status: 'InProgress',
    statusMessage: '', completedAt: null, archiveId: '', archiveSize: -1, archiveTreeEtag: '', treeEtag: '',
    retrievalRange: '', inventorySize: -1, ossHost: '', bucket: '', object: '', outputKey: '', runAfter: T0,
    expiresAt: null, leaseOwner: null, leaseUntil: null, attempts: 0, checkpoint: '', ...over,
  };
}

/**
 * Walks a listing with several page sizes and checks: every item once in order, full pages
 * before the last, `next` = the following item, and no empty trailing page when the count
 * is an exact multiple of the limit.
 */
async function checkPaging<T>(
  list: (from: string | null, limit: number) => Promise<Page<T>>, key: (item: T) => string, expected: string[],
): Promise<void> {
  for (const limit of new Set([1, 2, 3, expected.length || 1, expected.length + 1])) {
    const seen: string[] = [];
    let from: string | null = null;
    let pages = 0;
    for (;;) {
      const page: Page<T> = await list(from, limit);
      pages++;
      assert.ok(pages <= expected.length + 1, 'listing does not end');
      seen.push(...page.items.map(key));
      if (page.next === null) break;
      assert.equal(page.items.length, limit, `a page before the last is full (limit ${limit})`);
      assert.equal(page.next, expected[seen.length], 'next is the first item of the following page');
      from = page.next;
    }
    assert.deepEqual(seen, expected, `limit ${limit}`);
    assert.equal(pages, Math.max(1, Math.ceil(expected.length / limit)), `page count for limit ${limit}`);
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

interface MetaCtx {
  store: MetadataStore;
  /** Closes the main store (the suite then does not close it again). */
  close(): Promise<void>;
  reopen: (() => Promise<MetadataStore>) | undefined;
}

export function metadataStoreContract(name: string, open: () => Promise<OpenedMetadataStore>): void {
  const run = (title: string, fn: (ctx: MetaCtx) => Promise<void>, needsReopen = false) => {
    test(title, async (t) => {
      const opened = await open();
      if (needsReopen && !opened.reopen) {
        await opened.store.close();
        await opened.cleanup();
        t.skip('backend cannot reopen');
        return;
      }
      const extra: MetadataStore[] = [];
      let closed = false;
      const ctx: MetaCtx = {
        store: opened.store,
        close: async () => { closed = true; await opened.store.close(); },
        reopen: opened.reopen && (async () => { const s = await opened.reopen!(); extra.push(s); return s; }),
      };
      try {
        await fn(ctx);
      } finally {
        for (const s of extra) await s.close();
        if (!closed) await opened.store.close();
        await opened.cleanup();
      }
    });
  };

  /** A vault with an account of its own. */
  const newVault = async (store: MetadataStore, over: Partial<VaultRecord> = {}): Promise<VaultRecord> => {
    const r = await store.createVault(vaultRec(newId(), 'v-' + newId().toLowerCase(), over), 10);
    assert.equal(r.kind, 'created');
    return (r as { vault: VaultRecord }).vault;
  };

  describe(`MetadataStore contract: ${name}`, () => {
    run('accounts: create, look up by key id, list, delete the key', async ({ store }) => {
      const a = { id: newId(), accessKeyId: 'AK' + newId(), accessKeySecret: 'secret-a', createdAt: T0 };
      const b = { id: newId(), accessKeyId: 'AK' + newId(), accessKeySecret: 'secret-b', createdAt: T0 + 1 };
      await store.createAccount(a);
      await store.createAccount(b);
      await assert.rejects(store.createAccount({ ...a, id: newId() }), 'a key id is unique');
      assert.deepEqual(await store.getAccountByKeyId(a.accessKeyId), a);
      assert.equal(await store.getAccountByKeyId('AKnope'), null);
      assert.deepEqual(await store.listAccounts(), [a, b]);
      assert.equal(await store.deleteAccountByKeyId(a.accessKeyId), true);
      assert.equal(await store.deleteAccountByKeyId(a.accessKeyId), false);
      assert.equal(await store.getAccountByKeyId(a.accessKeyId), null);
      assert.deepEqual(await store.listAccounts(), [b]);
      if (store.updateAccountSecret) {
        assert.equal(await store.updateAccountSecret(b.accessKeyId, 'rotated'), true);
        assert.deepEqual(await store.getAccountByKeyId(b.accessKeyId), { ...b, accessKeySecret: 'rotated' });
        assert.equal(await store.updateAccountSecret(a.accessKeyId, 'x'), false);
      }
    });

    run('createVault: created, idempotent by name, limited per account, names per account', async ({ store }) => {
      const acct = newId();
      const first = vaultRec(acct, 'alpha');
      const created = await store.createVault(first, 2);
      assert.deepEqual(created, { kind: 'created', vault: first });
      const again = await store.createVault(vaultRec(acct, 'alpha'), 2);
      assert.equal(again.kind, 'exists');
      assert.equal((again as { vault: VaultRecord }).vault.id, first.id, 'the existing vault, not the new id');
      assert.equal((await store.createVault(vaultRec(acct, 'beta'), 2)).kind, 'created');
      assert.deepEqual(await store.createVault(vaultRec(acct, 'gamma'), 2), { kind: 'limit' });
      assert.equal((await store.createVault(vaultRec(acct, 'beta'), 2)).kind, 'exists', 'exists wins over limit');
      // Another account has its own names and its own limit.
      const other = await store.createVault(vaultRec(newId(), 'alpha'), 2);
      assert.equal(other.kind, 'created');
      assert.notEqual((other as { vault: VaultRecord }).vault.id, first.id);
      assert.equal((await store.listVaults(acct, null, 10)).items.length, 2);
    });

    run('getVault is scoped to the account', async ({ store }) => {
      const v = await newVault(store);
      assert.deepEqual(await store.getVault(v.accountId, v.id), v);
      assert.equal(await store.getVault(newId(), v.id), null, "another account's id is unknown");
      assert.equal(await store.getVault(v.accountId, newId()), null);
    });

    run('listVaults pages by id within the account', async ({ store }) => {
      const acct = newId();
      const ids = idSeries(6);
      for (const [i, id] of [...ids].reverse().entries()) {
        await store.createVault(vaultRec(acct, `vault-${i}`, { id }), 100);
        await store.createVault(vaultRec(newId(), `vault-${i}`), 100); // noise in other accounts
      }
      await checkPaging((from, limit) => store.listVaults(acct, from, limit), (v) => v.id, ids);
      // A marker between two ids starts at the next one; past the end is an empty last page.
      const mid = await store.listVaults(acct, justBefore(ids[2]!), 2);
      assert.deepEqual(mid.items.map((v) => v.id), ids.slice(2, 4));
      assert.equal(mid.next, ids[4]);
      assert.deepEqual(await store.listVaults(acct, ids[5] + 'Z', 2), { items: [], next: null });
      assert.deepEqual(await store.listVaults(newId(), null, 10), { items: [], next: null });
    });

    run('getVaultByName and listVaultsByName: scoped to the account, byte order of the name', async ({ store }) => {
      const acct = newId();
      // Byte order: '-' < '.' < digits < upper case < '_' < lower case.
      const names = ['Zeta', 'a.b', 'a-b', 'A_c', 'b', '0x'];
      for (const n of names) await store.createVault(vaultRec(acct, n), 100);
      await store.createVault(vaultRec(newId(), 'a-b'), 100); // another account's namesake
      const byName = await store.getVaultByName(acct, 'a.b');
      assert.equal(byName?.name, 'a.b');
      assert.equal(byName?.accountId, acct);
      assert.equal(await store.getVaultByName(acct, 'A.B'), null, 'names are case-sensitive');
      assert.equal(await store.getVaultByName(newId(), 'a.b'), null);
      const sorted = [...names].sort((x, y) => (Buffer.compare(Buffer.from(x), Buffer.from(y))));
      await checkPaging((from, limit) => store.listVaultsByName(acct, from, limit), (v) => v.name, sorted);
      const mid = await store.listVaultsByName(acct, 'a-', 2);
      assert.deepEqual(mid.items.map((v) => v.name), sorted.slice(sorted.indexOf('a-b'), sorted.indexOf('a-b') + 2));
    });

    run('deleteVault: missing, not-empty with a live archive or an open upload, then deleted', async ({ store }) => {
      const v = await newVault(store);
      assert.equal(await store.deleteVault(v.accountId, newId()), 'missing');
      assert.equal(await store.deleteVault(newId(), v.id), 'missing', "another account cannot delete it");

      const a = archiveRec(v.id, 10);
      const aSeg = newId();
      await store.insertArchive(a, [{ blobKey: aSeg, size: 10 }]);
      assert.equal(await store.deleteVault(v.accountId, v.id), 'not-empty');
      assert.equal(await store.deleteArchive(v.id, a.id, T0 + 1), true);

      const u = uploadRec(v.id);
      await store.createUpload(u);
      assert.equal(await store.deleteVault(v.accountId, v.id), 'not-empty');
      assert.ok(Array.isArray(await store.deleteUpload(v.id, u.id)));

      // A completed upload does not keep the vault alive once its archive is deleted.
      const u2 = uploadRec(v.id);
      await store.createUpload(u2);
      const p = partRec(u2.id, 0, 99);
      await store.putPart(p);
      const a2 = archiveRec(v.id, 100);
      assert.equal(await store.completeUpload({ upload: u2, archive: a2, parts: [p] }), 'ok');
      assert.equal(await store.deleteVault(v.accountId, v.id), 'not-empty');
      await store.deleteArchive(v.id, a2.id, T0 + 2);

      assert.equal(await store.deleteVault(v.accountId, v.id), 'deleted');
      assert.equal(await store.getVault(v.accountId, v.id), null);
      assert.equal(await store.deleteVault(v.accountId, v.id), 'missing');
      // The deleted archives' bytes are still accounted for until purge.
      assert.ok(await store.getArchiveAnyState(a2.id));
      assert.equal(await store.isBlobReferenced(p.blobKey), true);
      assert.deepEqual((await store.purge(T0 + 3)).sort(), [aSeg, p.blobKey].sort());
    });

    run('archives: counters follow insert and delete; a deleted archive stays readable until purge', async ({ store }) => {
      const v = await newVault(store);
      const segs = [{ blobKey: newId(), size: 3 * MIB }, { blobKey: newId(), size: 5 }];
      const a = archiveRec(v.id, 3 * MIB + 5, { createdAt: T0 + 10 });
      const b = archiveRec(v.id, 7, { createdAt: T0 + 20 });
      await store.insertArchive(a, segs);
      await store.insertArchive(b, [{ blobKey: newId(), size: 7 }]);
      let now = await store.getVault(v.accountId, v.id);
      assert.equal(now!.archiveCount, 2);
      assert.equal(now!.sizeBytes, 3 * MIB + 12);
      assert.equal(now!.lastWriteAt, T0 + 20);

      assert.deepEqual(await store.getArchive(v.id, a.id), a);
      assert.equal(await store.getArchive(newId(), a.id), null, 'scoped to the vault');
      assert.deepEqual(await store.getSegments(a.id), segs);

      assert.equal(await store.deleteArchive(v.id, a.id, T0 + 30), true);
      assert.equal(await store.deleteArchive(v.id, a.id, T0 + 31), false, 'already deleted');
      assert.equal(await store.deleteArchive(v.id, newId(), T0 + 31), false);
      now = await store.getVault(v.accountId, v.id);
      assert.equal(now!.archiveCount, 1);
      assert.equal(now!.sizeBytes, 7);
      assert.equal(now!.lastWriteAt, T0 + 30);

      assert.equal(await store.getArchive(v.id, a.id), null);
      assert.deepEqual(await store.getArchiveAnyState(a.id), { ...a, deletedAt: T0 + 30 });
      assert.deepEqual(await store.getSegments(a.id), segs, 'segments stay until purge');
      assert.equal(await store.isBlobReferenced(segs[0]!.blobKey), true);

      assert.deepEqual((await store.purge(T0 + 40)).sort(), segs.map((s) => s.blobKey).sort());
      assert.equal(await store.getArchiveAnyState(a.id), null);
      assert.deepEqual(await store.getSegments(a.id), []);
      assert.equal(await store.isBlobReferenced(segs[0]!.blobKey), false);
      assert.deepEqual(await store.purge(T0 + 50), [], 'purge is idempotent');
      assert.deepEqual(await store.getArchive(v.id, b.id), b, 'other archives untouched');
    });

    run('insertArchive refuses a missing vault and segments that do not add up', async ({ store }) => {
      const ghost = archiveRec(newId(), 5);
      await assert.rejects(store.insertArchive(ghost, [{ blobKey: newId(), size: 5 }]));
      assert.equal(await store.getArchiveAnyState(ghost.id), null, 'rolled back');
      const v = await newVault(store);
      const bad = archiveRec(v.id, 5);
      await assert.rejects(store.insertArchive(bad, [{ blobKey: newId(), size: 4 }]));
      assert.equal(await store.getArchiveAnyState(bad.id), null);
      assert.equal((await store.getVault(v.accountId, v.id))!.archiveCount, 0);
    });

    run('purge keeps a deleted archive while an unexpired job references it', async ({ store }) => {
      const v = await newVault(store);
      const seg = { blobKey: newId(), size: 9 };
      const a = archiveRec(v.id, 9);
      await store.insertArchive(a, [seg]);
      const finished = jobRec(v.id, {
        type: 'archive-retrieval', archiveId: a.id, status: 'Succeeded', completedAt: T0 + 5, expiresAt: T0 + DAY,
      });
      const running = jobRec(v.id, { type: 'push-to-oss', archiveId: a.id });
      await store.createJob(finished);
      await store.createJob(running);
      await store.deleteArchive(v.id, a.id, T0 + 10);

      assert.deepEqual(await store.purge(T0 + DAY - 1), []);
      assert.ok(await store.getArchiveAnyState(a.id));
      assert.deepEqual(await store.purge(T0 + DAY), [], 'the finished job expired, the running one still reads it');
      assert.equal(await store.getJob(v.id, finished.id, T0), null, 'an expired job is gone');
      assert.deepEqual(await store.getSegments(a.id), [seg]);

      const [claimed] = await store.claimJobs('node-a', T0 + DAY, T0 + DAY + 100, 1);
      assert.equal(claimed!.id, running.id);
      assert.equal(await store.finishJob(running.id, 'node-a', {
        status: 'Failed', statusMessage: 'archive deleted', completedAt: T0 + DAY + 1, expiresAt: T0 + 2 * DAY,
      }), true);
      assert.deepEqual(await store.purge(T0 + 2 * DAY - 1), []);
      assert.deepEqual(await store.purge(T0 + 2 * DAY), [seg.blobKey]);
      assert.equal(await store.getArchiveAnyState(a.id), null);
    });

    run('purge returns expired jobs\' output blobs', async ({ store }) => {
      const v = await newVault(store);
      const out = newId();
      const job = jobRec(v.id, { status: 'Succeeded', completedAt: T0 + 1, expiresAt: T0 + 100, outputKey: out, inventorySize: 10 });
      await store.createJob(job);
      assert.equal(await store.isBlobReferenced(out), true);
      assert.deepEqual(await store.purge(T0 + 99), []);
      assert.deepEqual(await store.getJob(v.id, job.id, T0 + 99), job);
      assert.deepEqual(await store.purge(T0 + 100), [out]);
      assert.equal(await store.isBlobReferenced(out), false);
      assert.equal(await store.getJob(v.id, job.id, T0), null, 'deleted, not just hidden');
      assert.deepEqual(await store.countJobsByStatus(), { InProgress: 0, Succeeded: 0, Failed: 0 });
    });

    run('snapshotInventories copies the live counters of every vault', async ({ store }) => {
      const v1 = await newVault(store);
      const v2 = await newVault(store);
      await store.insertArchive(archiveRec(v1.id, 5), [{ blobKey: newId(), size: 5 }]);
      await store.insertArchive(archiveRec(v1.id, 6), [{ blobKey: newId(), size: 6 }]);
      await store.snapshotInventories(T0 + 100);
      await store.insertArchive(archiveRec(v1.id, 7), [{ blobKey: newId(), size: 7 }]);
      const got1 = await store.getVault(v1.accountId, v1.id);
      assert.deepEqual([got1!.inventoryAt, got1!.inventoryArchiveCount, got1!.inventorySizeBytes], [T0 + 100, 2, 11]);
      assert.deepEqual([got1!.archiveCount, got1!.sizeBytes], [3, 18]);
      const got2 = await store.getVault(v2.accountId, v2.id);
      assert.deepEqual([got2!.inventoryAt, got2!.inventoryArchiveCount, got2!.inventorySizeBytes], [T0 + 100, 0, 0]);
    });

    run('iterateArchives yields 2,500 live archives in id order; createdBefore filters', async ({ store }) => {
      const v = await newVault(store);
      const other = await newVault(store);
      const ids = Array.from({ length: 2500 }, () => newId());
      for (const [i, id] of ids.entries()) {
        await store.insertArchive(archiveRec(v.id, 1, { id, createdAt: T0 + i }), [{ blobKey: newId(), size: 1 }]);
      }
      await store.insertArchive(archiveRec(other.id, 1), [{ blobKey: newId(), size: 1 }]);
      await store.deleteArchive(v.id, ids[7]!, T0 + 5000);
      const live = ids.filter((_, i) => i !== 7);
      const all = await collect(store.iterateArchives(v.id));
      assert.deepEqual(all.map((a) => a.id), [...live].sort());
      assert.ok(all.every((a) => a.vaultId === v.id && a.deletedAt === null));
      const early = await collect(store.iterateArchives(v.id, T0 + 1500));
      assert.deepEqual(early.map((a) => a.id), ids.slice(0, 1500).filter((_, i) => i !== 7).sort());
      assert.deepEqual(await collect(store.iterateArchives(newId())), []);
    });

    run('uploads: create, get within the vault, list only open ones', async ({ store }) => {
      const v = await newVault(store);
      const ids = idSeries(5);
      for (const id of [...ids].reverse()) await store.createUpload(uploadRec(v.id, { id }));
      const other = await newVault(store);
      await store.createUpload(uploadRec(other.id));
      await assert.rejects(store.createUpload(uploadRec(newId())), 'no such vault');

      const u = await store.getUpload(v.id, ids[0]!);
      assert.deepEqual(u, uploadRec(v.id, { id: ids[0]! }));
      assert.equal(await store.getUpload(other.id, ids[0]!), null, 'scoped to the vault');
      await checkPaging((from, limit) => store.listUploads(v.id, from, limit), (x) => x.id, ids);

      // Complete the second one: it disappears from the listing but getUpload still finds it.
      const p = partRec(ids[1]!, 0, 9);
      await store.putPart(p);
      const archive = archiveRec(v.id, 10, { createdAt: T0 + 50 });
      assert.equal(await store.completeUpload({ upload: (await store.getUpload(v.id, ids[1]!))!, archive, parts: [p] }), 'ok');
      const open = ids.filter((_, i) => i !== 1);
      await checkPaging((from, limit) => store.listUploads(v.id, from, limit), (x) => x.id, open);
      const mid = await store.listUploads(v.id, justBefore(ids[1]!), 1);
      assert.deepEqual([mid.items.map((x) => x.id), mid.next], [[ids[2]], ids[3]]);
      assert.deepEqual(await store.listUploads(newId(), null, 5), { items: [], next: null });
    });

    run('putPart replaces the same range and returns the replaced part', async ({ store }) => {
      const v = await newVault(store);
      const u = uploadRec(v.id);
      await store.createUpload(u);
      const first = partRec(u.id, 0, 4 * MIB - 1);
      assert.deepEqual(await store.putPart(first), { replaced: null });
      const tail = partRec(u.id, 4 * MIB, 5 * MIB);
      assert.deepEqual(await store.putPart(tail), { replaced: null });
      const again = partRec(u.id, 0, 4 * MIB - 1, { createdAt: T0 + 9 });
      assert.deepEqual(await store.putPart(again), { replaced: first });
      assert.deepEqual(await store.allParts(u.id), [again, tail]);
      assert.equal(await store.isBlobReferenced(first.blobKey), false, 'the replaced blob is free');
      assert.equal(await store.isBlobReferenced(again.blobKey), true);
      assert.equal(await store.putPart(partRec(newId(), 0, 9)), 'missing');
    });

    run('listParts pages by start; next is the start as text', async ({ store }) => {
      const v = await newVault(store);
      const u = uploadRec(v.id, { partSize: 100 });
      await store.createUpload(u);
      const parts = [0, 100, 200, 300, 400, 500].map((s) => partRec(u.id, s, s + 99));
      for (const p of [...parts].reverse()) await store.putPart(p);
      await checkPaging((from, limit) => store.listParts(u.id, from === null ? null : Number(from), limit),
        (p) => String(p.start), parts.map((p) => String(p.start)));
      const page = await store.listParts(u.id, 150, 2);
      assert.deepEqual(page, { items: parts.slice(2, 4), next: '400' });
      assert.deepEqual(await store.listParts(u.id, 600, 2), { items: [], next: null });
      assert.deepEqual(await store.listParts(newId(), null, 2), { items: [], next: null });
      assert.deepEqual(await store.allParts(u.id), parts);
    });

    run('completeUpload turns parts into segments once; the second time is missing', async ({ store }) => {
      const v = await newVault(store);
      const u = uploadRec(v.id, { partSize: 4 * MIB });
      await store.createUpload(u);
      const parts = [partRec(u.id, 0, 4 * MIB - 1), partRec(u.id, 4 * MIB, 8 * MIB - 1), partRec(u.id, 8 * MIB, 8 * MIB + 6)];
      for (const p of parts) await store.putPart(p);
      const archive = archiveRec(v.id, 8 * MIB + 7, { createdAt: T0 + 100 });
      const upload = { ...u, archiveId: archive.id, completedAt: T0 + 100, archiveSize: archive.size, archiveTreeEtag: archive.treeEtag };
      assert.equal(await store.completeUpload({ upload, archive, parts }), 'ok');

      assert.deepEqual(await store.getArchive(v.id, archive.id), archive);
      assert.deepEqual(await store.getSegments(archive.id),
        parts.map((p) => ({ blobKey: p.blobKey, size: p.end - p.start + 1 })), 'same blobs, no copy');
      assert.deepEqual(await store.getUpload(v.id, u.id), upload);
      assert.deepEqual(await store.allParts(u.id), [], 'parts no longer listed');
      const vault = await store.getVault(v.accountId, v.id);
      assert.deepEqual([vault!.archiveCount, vault!.sizeBytes, vault!.lastWriteAt], [1, 8 * MIB + 7, T0 + 100]);
      for (const p of parts) assert.equal(await store.isBlobReferenced(p.blobKey), true);

      const second = archiveRec(v.id, 8 * MIB + 7);
      assert.equal(await store.completeUpload({ upload, archive: second, parts }), 'missing');
      assert.equal(await store.getArchiveAnyState(second.id), null);
      assert.equal(await store.putPart(partRec(u.id, 0, 4 * MIB - 1)), 'missing', 'no parts after complete');
      assert.equal(await store.deleteUpload(v.id, u.id), 'missing', 'a completed upload cannot be aborted');
      assert.equal(await store.completeUpload({ upload: uploadRec(v.id), archive: archiveRec(v.id, 1), parts: [] }), 'missing');
    });

    run('completeUpload refuses parts that changed since they were read', async ({ store }) => {
      const v = await newVault(store);
      const u = uploadRec(v.id);
      await store.createUpload(u);
      const p0 = partRec(u.id, 0, 9);
      await store.putPart(p0);
      const read = await store.allParts(u.id);
      await store.putPart(partRec(u.id, 0, 9)); // replaced meanwhile: p0's blob is about to go
      const archive = archiveRec(v.id, 10);
      await assert.rejects(store.completeUpload({ upload: u, archive, parts: read }));
      assert.equal(await store.getArchiveAnyState(archive.id), null);
      assert.equal((await store.getUpload(v.id, u.id))!.completedAt, null, 'still open');
      assert.equal((await store.allParts(u.id)).length, 1);
    });

    run('deleteUpload returns the parts; missing for unknown, foreign or completed uploads', async ({ store }) => {
      const v = await newVault(store);
      const u = uploadRec(v.id, { partSize: 10 });
      await store.createUpload(u);
      const parts = [partRec(u.id, 0, 9), partRec(u.id, 10, 14)];
      for (const p of parts) await store.putPart(p);
      assert.equal(await store.deleteUpload(newId(), u.id), 'missing');
      assert.equal(await store.deleteUpload(v.id, newId()), 'missing');
      assert.deepEqual(await store.deleteUpload(v.id, u.id), parts);
      assert.equal(await store.getUpload(v.id, u.id), null);
      assert.deepEqual(await store.allParts(u.id), []);
      for (const p of parts) assert.equal(await store.isBlobReferenced(p.blobKey), false);
      assert.equal(await store.deleteUpload(v.id, u.id), 'missing');
      assert.equal(await store.putPart(partRec(u.id, 0, 9)), 'missing');
    });

    run('purge forgets completed uploads only after a while', async ({ store }) => {
      const v = await newVault(store);
      const u = uploadRec(v.id);
      await store.createUpload(u);
      const p = partRec(u.id, 0, 9);
      await store.putPart(p);
      const archive = archiveRec(v.id, 10, { createdAt: T0 });
      await store.completeUpload({ upload: { ...u, completedAt: T0 }, archive, parts: [p] });
      await store.purge(T0 + 60_000);
      assert.equal((await store.getUpload(v.id, u.id))?.archiveId, archive.id, 'kept for repeated completes');
      assert.deepEqual(await store.purge(T0 + 7 * DAY), []);
      assert.equal(await store.getUpload(v.id, u.id), null);
      assert.deepEqual(await store.getArchive(v.id, archive.id), archive, 'the archive stays');
    });

    run('jobs: create, get and list within the vault; expired jobs are hidden', async ({ store }) => {
      const v = await newVault(store);
      const ids = idSeries(5);
      for (const id of [...ids].reverse()) await store.createJob(jobRec(v.id, { id }));
      const expired = jobRec(v.id, { id: justBefore(ids[3]!), status: 'Succeeded', completedAt: T0, expiresAt: T0 + 10 });
      await store.createJob(expired);
      await assert.rejects(store.createJob(jobRec(newId())), 'no such vault');
      const other = await newVault(store);

      assert.deepEqual(await store.getJob(v.id, ids[0]!, T0), jobRec(v.id, { id: ids[0]! }));
      assert.equal(await store.getJob(other.id, ids[0]!, T0), null, 'scoped to the vault');
      assert.deepEqual(await store.getJob(v.id, expired.id, T0 + 9), expired);
      assert.equal(await store.getJob(v.id, expired.id, T0 + 10), null);
      await checkPaging((from, limit) => store.listJobs(v.id, from, limit, T0 + 10), (j) => j.id, ids);
      const withExpired = await store.listJobs(v.id, ids[2]!, 2, T0 + 9);
      assert.deepEqual([withExpired.items.map((j) => j.id), withExpired.next], [[ids[2], expired.id], ids[3]]);
      assert.deepEqual(await store.listJobs(other.id, null, 3, T0), { items: [], next: null });
      assert.deepEqual(await store.countJobsByStatus(), { InProgress: 5, Succeeded: 1, Failed: 0 });
    });

    run('claimJobs: due jobs first, at most max, runAfter respected, leases block others until they expire', async ({ store }) => {
      const v = await newVault(store);
      const late = jobRec(v.id, { runAfter: T0 + 500 });
      const a = jobRec(v.id, { runAfter: T0 + 2 });
      const b = jobRec(v.id, { runAfter: T0 + 1 });
      const done = jobRec(v.id, { status: 'Succeeded', completedAt: T0, expiresAt: T0 + DAY });
      for (const j of [late, a, b, done]) await store.createJob(j);

      assert.deepEqual(await store.claimJobs('n1', T0, T0 + 100, 10), [], 'nothing due yet');
      const got = await store.claimJobs('n1', T0 + 10, T0 + 100, 1);
      assert.deepEqual(got.map((j) => j.id), [b.id], 'earliest runAfter first, max respected');
      assert.deepEqual([got[0]!.leaseOwner, got[0]!.leaseUntil, got[0]!.attempts], ['n1', T0 + 100, 1]);
      assert.deepEqual((await store.claimJobs('n2', T0 + 10, T0 + 100, 10)).map((j) => j.id), [a.id]);
      assert.deepEqual(await store.claimJobs('n3', T0 + 99, T0 + 200, 10), [], 'leases still held');

      // n1's lease ran out: anyone may take b over; late is due now too.
      const over = await store.claimJobs('n3', T0 + 500, T0 + 900, 10);
      assert.deepEqual(over.map((j) => j.id).sort(), [a.id, b.id, late.id].sort());
      const b2 = over.find((j) => j.id === b.id)!;
      assert.deepEqual([b2.leaseOwner, b2.attempts], ['n3', 2]);
      assert.deepEqual(await store.getJob(v.id, b.id, T0 + 500), b2);
      assert.equal(await store.renewLease(b.id, 'n1', T0 + 2000), false, 'the old owner lost it');
    });

    run('renewLease, saveCheckpoint and finishJob only work for the lease owner', async ({ store }) => {
      const v = await newVault(store);
      const job = jobRec(v.id, { type: 'archive-retrieval', archiveId: newId(), retrievalRange: '0-9' });
      await store.createJob(job);
      assert.equal(await store.renewLease(job.id, 'n1', T0 + 50), false, 'not claimed yet');
      await store.claimJobs('n1', T0, T0 + 100, 5);

      assert.equal(await store.renewLease(job.id, 'n2', T0 + 500), false);
      assert.equal(await store.saveCheckpoint(job.id, 'n2', '{"x":1}'), false);
      assert.equal(await store.finishJob(job.id, 'n2', { status: 'Failed' }), false);
      assert.equal(await store.renewLease(job.id, 'n1', T0 + 300), true);
      assert.equal(await store.saveCheckpoint(job.id, 'n1', '{"done":5}'), true);
      let cur = await store.getJob(v.id, job.id, T0);
      assert.deepEqual([cur!.leaseUntil, cur!.checkpoint, cur!.status], [T0 + 300, '{"done":5}', 'InProgress']);
      assert.deepEqual(await store.claimJobs('n2', T0 + 299, T0 + 900, 5), [], 'renewed lease holds');

      assert.equal(await store.finishJob(job.id, 'n1', {
        status: 'Succeeded', statusMessage: 'ok', completedAt: T0 + 200, expiresAt: T0 + DAY,
        archiveSize: 10, archiveTreeEtag: 'ABC', treeEtag: 'DEF',
      }), true);
      cur = await store.getJob(v.id, job.id, T0);
      assert.deepEqual(cur, {
        ...job, status: 'Succeeded', statusMessage: 'ok', completedAt: T0 + 200, expiresAt: T0 + DAY, archiveSize: 10,
        archiveTreeEtag: 'ABC', treeEtag: 'DEF', checkpoint: '{"done":5}', attempts: 1, leaseOwner: null, leaseUntil: null,
      });
      assert.equal(await store.finishJob(job.id, 'n1', { status: 'Failed' }), false, 'finished: no lease any more');
      assert.equal(await store.renewLease(job.id, 'n1', T0 + 900), false);
      assert.deepEqual(await store.claimJobs('n2', T0 + 1000, T0 + 2000, 5), [], 'a finished job is never claimed');
      assert.deepEqual(await store.countJobsByStatus(), { InProgress: 0, Succeeded: 1, Failed: 0 });
    });

    run('finishJob may put a job back for a later retry', async ({ store }) => {
      const v = await newVault(store);
      const job = jobRec(v.id);
      await store.createJob(job);
      await store.claimJobs('n1', T0, T0 + 100, 1);
      assert.equal(await store.finishJob(job.id, 'n1', { runAfter: T0 + 1000, statusMessage: 'retrying' }), true);
      assert.deepEqual(await store.claimJobs('n2', T0 + 999, T0 + 5000, 1), []);
      const [again] = await store.claimJobs('n2', T0 + 1000, T0 + 5000, 1);
      assert.deepEqual([again!.id, again!.attempts, again!.leaseOwner, again!.statusMessage], [job.id, 2, 'n2', 'retrying']);
    });

    run('concurrent claimers never get the same job', async ({ store, reopen }) => {
      const v = await newVault(store);
      const jobs = Array.from({ length: 60 }, (_, i) => jobRec(v.id, { runAfter: T0 + (i % 7) }));
      for (const j of jobs) await store.createJob(j);
      const second = reopen ? await reopen() : store;
      const seen = new Map<string, string>();
      const claimer = async (s: MetadataStore, owner: string) => {
        for (let round = 0; round <= jobs.length; round++) { // bounded: a broken lease check must fail, not hang
          const got = await s.claimJobs(owner, T0 + 10, T0 + 1000, 4);
          if (got.length === 0) return;
          for (const j of got) {
            assert.equal(seen.get(j.id), undefined, `job ${j.id} claimed by ${seen.get(j.id)} and ${owner}`);
            seen.set(j.id, owner);
          }
        }
        assert.fail('claims never ran out');
      };
      await Promise.all([claimer(store, 'a'), claimer(second, 'b'), claimer(store, 'c'), claimer(second, 'd')]);
      assert.equal(seen.size, jobs.length);
    });

    run('isBlobReferenced covers segments, parts and job outputs', async ({ store }) => {
      const v = await newVault(store);
      const seg = newId();
      await store.insertArchive(archiveRec(v.id, 1), [{ blobKey: seg, size: 1 }]);
      const u = uploadRec(v.id);
      await store.createUpload(u);
      const part = partRec(u.id, 0, 0);
      await store.putPart(part);
      const out = newId();
      await store.createJob(jobRec(v.id, { outputKey: out }));
      for (const key of [seg, part.blobKey, out]) assert.equal(await store.isBlobReferenced(key), true, key);
      assert.equal(await store.isBlobReferenced(newId()), false);
    });

    run('vault tags: add replaces by key, the limit counts only new keys, remove ignores absent keys, byte order', async ({ store }) => {
      const v = await newVault(store);
      const other = await newVault(store);
      assert.deepEqual(await store.settings.listTags(v.id), []);
      assert.equal(await store.settings.addTags(v.id, [{ key: 'b', value: '1' }, { key: 'B', value: '' }, { key: 'é', value: 'x' }], 4), 'ok');
      assert.deepEqual(await store.settings.listTags(v.id), [{ key: 'B', value: '' }, { key: 'b', value: '1' }, { key: 'é', value: 'x' }]);
      // Replacing an existing key needs no room; a fourth and fifth key exceed 4 and change nothing.
      assert.equal(await store.settings.addTags(v.id, [{ key: 'b', value: '2' }, { key: 'c', value: '3' }], 4), 'ok');
      assert.equal(await store.settings.addTags(v.id, [{ key: 'b', value: '9' }, { key: 'd', value: '4' }], 4), 'limit');
      assert.deepEqual((await store.settings.listTags(v.id)).map((t) => `${t.key}=${t.value}`), ['B=', 'b=2', 'c=3', 'é=x']);
      assert.equal(await store.settings.addTags(newId(), [{ key: 'k', value: 'v' }], 4), 'missing');
      await store.settings.removeTags(v.id, ['B', 'nope', 'é']);
      assert.deepEqual((await store.settings.listTags(v.id)).map((t) => t.key), ['b', 'c']);
      assert.deepEqual(await store.settings.listTags(other.id), [], 'tags belong to one vault');
    });

    run('vault and account settings: set, replace, clear; a deleted vault takes its tags and settings along', async ({ store }) => {
      const v = await newVault(store);
      assert.equal(await store.settings.vaultSetting(v.id, 'notifications'), null);
      assert.equal(await store.settings.putVaultSetting(v.id, 'notifications', '{"a":1}'), true);
      assert.equal(await store.settings.putVaultSetting(v.id, 'notifications', '{"a":2}'), true);
      assert.equal(await store.settings.putVaultSetting(v.id, 'access-policy', '{"p":1}'), true);
      assert.equal(await store.settings.vaultSetting(v.id, 'notifications'), '{"a":2}');
      assert.deepEqual(await store.settings.vaultSettings(v.id), [{ name: 'access-policy', value: '{"p":1}' }, { name: 'notifications', value: '{"a":2}' }]);
      assert.equal(await store.settings.putVaultSetting(v.id, 'access-policy', null), true);
      assert.equal(await store.settings.vaultSetting(v.id, 'access-policy'), null);
      assert.equal(await store.settings.putVaultSetting(newId(), 'notifications', '{}'), false, 'no such vault');

      const account = newId();
      assert.equal(await store.settings.accountSetting(account, 'data-retrieval-policy'), null);
      await store.settings.putAccountSetting(account, 'data-retrieval-policy', '{"r":1}');
      await store.settings.putAccountSetting(account, 'data-retrieval-policy', '{"r":2}');
      assert.equal(await store.settings.accountSetting(account, 'data-retrieval-policy'), '{"r":2}');
      assert.deepEqual(await store.settings.accountSettings(account), [{ name: 'data-retrieval-policy', value: '{"r":2}' }]);
      assert.equal(await store.settings.accountSetting(newId(), 'data-retrieval-policy'), null, 'settings belong to one account');
      await store.settings.putAccountSetting(account, 'data-retrieval-policy', null);
      assert.deepEqual(await store.settings.accountSettings(account), []);

      await store.settings.addTags(v.id, [{ key: 'k', value: 'v' }], 50);
      assert.equal(await store.deleteVault(v.accountId, v.id), 'deleted');
      assert.deepEqual(await store.settings.listTags(v.id), []);
      assert.deepEqual(await store.settings.vaultSettings(v.id), []);
      // A new vault (even of the same name) starts bare.
      const again = await store.createVault(vaultRec(v.accountId, v.name), 10);
      assert.equal(again.kind, 'created');
      const id = (again as { vault: VaultRecord }).vault.id;
      assert.deepEqual(await store.settings.listTags(id), []);
      assert.equal(await store.settings.vaultSetting(id, 'notifications'), null);
    });

    run('concurrent tag adds never exceed the limit', async ({ store, reopen }) => {
      const v = await newVault(store);
      const second = reopen ? await reopen() : store;
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) =>
        (i % 2 ? second : store).settings.addTags(v.id, [{ key: `k${i}`, value: String(i) }], 5)));
      assert.equal(results.filter((r) => r === 'ok').length, 5);
      assert.equal((await store.settings.listTags(v.id)).length, 5);
    });

    run('data survives close and reopen; migrations run once', async ({ store, close, reopen }) => {
      const v = await newVault(store);
      const a = archiveRec(v.id, 3);
      await store.insertArchive(a, [{ blobKey: newId(), size: 3 }]);
      await close();
      const again = await reopen!();
      const third = await reopen!();
      assert.deepEqual(await again.getArchive(v.id, a.id), a);
      assert.equal((await third.getVault(v.accountId, v.id))!.archiveCount, 1);
    }, true);
  });
}

// Blob store -----------------------------------------------------------------------------

/** Deterministic bytes that differ at every offset within a few MiB. */
function pattern(size: number, seed = 1): Buffer {
  const buf = Buffer.alloc(size);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    buf[i] = x >>> 24;
  }
  return buf;
}

/** The 16 raw MD5 bytes of each 1 MiB of data. */
export function leavesOf(data: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += MIB) out.push(createHash('md5').update(data.subarray(off, off + MIB)).digest());
  return Buffer.concat(out);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Streams `data` into a new blob in 256 KiB chunks and commits it. */
export async function writeBlob(store: BlobStore, data: Buffer): Promise<string> {
  const w = await store.create();
  await pipeline(Readable.from(chunked(data)), w.stream);
  await w.commit(leavesOf(data));
  return w.key;
}

function* chunked(data: Buffer): Generator<Buffer> {
  for (let off = 0; off < data.length; off += 256 * 1024) yield data.subarray(off, off + 256 * 1024);
}

/** Sync throw or async rejection or stream error: any is a refusal. */
async function refuses(fn: () => unknown): Promise<void> {
  let result: unknown;
  try {
    result = fn();
  } catch {
    return;
  }
  if (result instanceof Readable) {
    await assert.rejects(readAll(result));
  } else {
    await assert.rejects(Promise.resolve(result));
  }
}

interface BlobCtx {
  store: BlobStore;
  reopen: (() => Promise<BlobStore>) | undefined;
}

export function blobStoreContract(name: string, open: () => Promise<OpenedBlobStore>): void {
  const run = (title: string, fn: (ctx: BlobCtx) => Promise<void>, needsReopen = false) => {
    test(title, async (t) => {
      const opened = await open();
      if (needsReopen && !opened.reopen) {
        await opened.store.close();
        await opened.cleanup();
        t.skip('backend cannot reopen');
        return;
      }
      const extra: BlobStore[] = [];
      try {
        await fn({
          store: opened.store,
          reopen: opened.reopen && (async () => { const s = await opened.reopen!(); extra.push(s); return s; }),
        });
      } finally {
        for (const s of extra) await s.close();
        await opened.store.close();
        await opened.cleanup();
      }
    });
  };

  describe(`BlobStore contract: ${name}`, () => {
    run('write, commit, then read whole and by ranges; size', async ({ store }) => {
      const data = pattern(3 * MIB + 5);
      const key = await writeBlob(store, data);
      assert.match(key, /^[0-9A-F]{32}$/);
      assert.equal(await store.size(key), data.length);
      assert.ok((await readAll(store.read(key))).equals(data));
      for (const [s, e] of [[0, 0], [MIB - 1, MIB], [MIB, 2 * MIB - 1], [2 * MIB + 3, data.length - 1], [17, 17]] as const) {
        assert.ok((await readAll(store.read(key, s, e))).equals(data.subarray(s, e + 1)), `${s}-${e}`);
      }
      assert.ok((await readAll(store.read(key, 5))).equals(data.subarray(5)), 'from start to the end');
    });

    run('readLeaves returns all leaves or an exact slice', async ({ store }) => {
      const data = pattern(4 * MIB + 1, 7);
      const key = await writeBlob(store, data);
      const leaves = leavesOf(data);
      assert.equal(leaves.length, 5 * 16);
      assert.ok((await store.readLeaves(key)).equals(leaves));
      assert.ok((await store.readLeaves(key, 0, 1)).equals(leaves.subarray(0, 16)));
      assert.ok((await store.readLeaves(key, 2, 2)).equals(leaves.subarray(32, 64)));
      assert.ok((await store.readLeaves(key, 4, 1)).equals(leaves.subarray(64, 80)));
      assert.ok((await store.readLeaves(key, 3)).equals(leaves.subarray(48)));
      assert.equal((await store.readLeaves(key, 1, 0)).length, 0);
      await assert.rejects(store.readLeaves(key, 4, 2), 'past the last leaf');
      await assert.rejects(store.readLeaves(newId()), 'missing blob');
    });

    run('nothing is visible before commit', async ({ store }) => {
      const data = pattern(MIB + 3, 3);
      const w = await store.create();
      await pipeline(Readable.from(chunked(data)), w.stream);
      assert.equal(await store.size(w.key), null);
      assert.ok(!(await collect(store.keys())).includes(w.key));
      await refuses(() => store.read(w.key));
      await w.commit(leavesOf(data));
      assert.equal(await store.size(w.key), data.length);
      assert.ok((await collect(store.keys())).includes(w.key));
    });

    run('abort discards the write, is idempotent, and is a no-op after commit', async ({ store }) => {
      const w = await store.create();
      await pipeline(Readable.from(chunked(pattern(MIB))), w.stream);
      await w.abort();
      await w.abort();
      assert.equal(await store.size(w.key), null);
      assert.deepEqual(await collect(store.keys()), []);
      await assert.rejects(w.commit(leavesOf(pattern(MIB))), 'no commit after abort');
      assert.equal(await store.size(w.key), null);

      // Abort before the stream was even ended.
      const half = await store.create();
      half.stream.write(pattern(1000));
      await half.abort();
      assert.equal(await store.size(half.key), null);

      const key = await writeBlob(store, pattern(10));
      const kept = await store.create();
      await pipeline(Readable.from([pattern(10)]), kept.stream);
      await kept.commit(leavesOf(pattern(10)));
      await kept.abort();
      assert.equal(await store.size(kept.key), 10, 'a committed blob is not aborted');
      assert.deepEqual((await collect(store.keys())).sort(), [key, kept.key].sort());
      assert.equal(await store.removeLeftovers(), 0, 'nothing left behind');
    });

    run('delete removes a blob and its leaves; deleting a missing blob is fine', async ({ store }) => {
      const keep = await writeBlob(store, pattern(100, 1));
      const gone = await writeBlob(store, pattern(200, 2));
      await store.delete(gone);
      await store.delete(gone);
      await store.delete(newId());
      assert.equal(await store.size(gone), null);
      await refuses(() => store.read(gone));
      await assert.rejects(store.readLeaves(gone));
      assert.deepEqual(await collect(store.keys()), [keep]);
      assert.equal(await store.size(keep), 100);
    });

    run('keys lists every committed blob once', async ({ store }) => {
      const keys = await Promise.all(Array.from({ length: 12 }, (_, i) => writeBlob(store, pattern(1000 + i, i))));
      const listed = await collect(store.keys());
      assert.deepEqual([...listed].sort(), [...keys].sort());
      for (const [i, key] of keys.entries()) assert.ok((await readAll(store.read(key))).equals(pattern(1000 + i, i)));
    });

    run('invalid keys are refused', async ({ store }) => {
      for (const bad of ['../x', '..', '', 'abcdef0123456789abcdef0123456789', '0'.repeat(31), '0'.repeat(33),
        '../' + '0'.repeat(29), '0'.repeat(31) + '/', 'AA/' + '0'.repeat(29), '0'.repeat(32) + '.leaves']) {
        await refuses(() => store.read(bad));
        await refuses(() => store.readLeaves(bad));
        await refuses(() => store.size(bad));
        await refuses(() => store.delete(bad));
      }
    });

    run('reading a missing blob errors', async ({ store }) => {
      const key = newId();
      const stream = store.read(key);
      await assert.rejects(readAll(stream), (err: Error) => err.message.includes(key));
      await assert.rejects(store.readLeaves(key));
      assert.equal(await store.size(key), null);
    });

    run('addLeaves attaches another family to a committed blob, replaces it, and refuses bad input', async ({ store }) => {
      const data = pattern(2 * MIB + 9, 4);
      const key = await writeBlob(store, data); // MD5 leaves only: a blob stored before SHA-256 leaves
      await assert.rejects(store.readLeaves(key, 0, undefined, 'sha256'), 'no sha256 leaves yet');
      const sha = (d: Buffer) => Buffer.concat([0, MIB, 2 * MIB].map((o) => createHash('sha256').update(d.subarray(o, o + MIB)).digest()));
      await store.addLeaves(key, 'sha256', Buffer.alloc(96, 7));
      await store.addLeaves(key, 'sha256', sha(data)); // replaces
      assert.ok((await store.readLeaves(key, 0, undefined, 'sha256')).equals(sha(data)));
      assert.ok((await store.readLeaves(key, 1, 1, 'sha256')).equals(sha(data).subarray(32, 64)));
      assert.ok((await store.readLeaves(key)).equals(leavesOf(data)), 'the md5 leaves are untouched');
      await assert.rejects(store.addLeaves(key, 'sha256', Buffer.alloc(64)), RangeError, 'one digest per started MiB');
      await assert.rejects(store.addLeaves(key, 'md5', leavesOf(data)), RangeError, 'md5 leaves are the commit\'s');
      await assert.rejects(store.addLeaves(newId(), 'sha256', Buffer.alloc(32)), (err: Error) => (err as { code?: string }).code === 'ENOENT');
      await refuses(() => store.addLeaves('../x', 'sha256', Buffer.alloc(32)));
      assert.ok((await store.readLeaves(key, 0, undefined, 'sha256')).equals(sha(data)), 'refused calls changed nothing');
      await store.delete(key);
      await assert.rejects(store.readLeaves(key, 0, undefined, 'sha256'), 'delete removes the added leaves');
      assert.deepEqual(await collect(store.keys()), []);
      assert.equal(await store.removeLeftovers(), 0, 'addLeaves leaves nothing behind');
    });

    run('a writer dropped without commit or abort is removed by removeLeftovers on restart', async ({ store, reopen }) => {
      const committed = await writeBlob(store, pattern(50));
      const dropped = await store.create();
      await pipeline(Readable.from([pattern(MIB + 1)]), dropped.stream);
      const unfinished = await store.create();
      unfinished.stream.write(pattern(10));
      // "Crash": no commit, no abort; a fresh handle plays the restarted process.
      const restarted = await reopen!();
      assert.ok((await restarted.removeLeftovers()) >= 2);
      assert.equal(await restarted.removeLeftovers(), 0);
      assert.equal(await restarted.size(dropped.key), null);
      assert.equal(await restarted.size(unfinished.key), null);
      assert.deepEqual(await collect(restarted.keys()), [committed]);
      assert.equal(await restarted.size(committed), 50);
      // Release what the "crashed" writers still hold (the test process lives on).
      await dropped.abort();
      await unfinished.abort();
    }, true);
  });
}
