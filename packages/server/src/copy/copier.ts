// The copier behind `oas-server copy-data` (its command: copy-data.ts): moves everything a
// server holds (access keys, vaults, archives with their leaf digests, open multipart
// uploads with their parts, unexpired jobs with their outputs, vault tags and the vault and
// account settings of the Glacier side operations) from one backend pair to
// another, e.g. from the embedded sqlite+file default to a PostgreSQL + S3 cluster, or back.
//
// - Blobs are streamed from the source store (verifying reader: every 1 MiB leaf checked
//   against the digest the source stored before it goes on) into the target store
//   (verifying writer: the leaves computed again must equal the source's, and an archive's
//   leaves must combine to its tree etag, a part's to the part's tree etag). Only then is
//   the blob committed, with the leaves just computed. Never buffered whole.
// - Everything goes through the MetadataStore and BlobStore interfaces, so any pair of
//   backends works. Ids (vaults, archives, uploads, jobs, keys) are kept; blob keys are new.
// - Resumable: each item is written to the target metadata only after its blobs are
//   committed and verified, and items already in the target are skipped, so a run that was
//   interrupted (even by kill -9) is simply run again. Blobs an interrupted run committed
//   without metadata are removed at the start of the next run.
// - No server may use the target while copying; the source should not be written to
//   (stop the servers, or accept that writes after an item was copied are not carried over).
import { MIB, TreeEtagBuilder } from '@oas/sdk';
import { removeOrphanBlobs } from '../maintenance.js';
import { hasSha256Leaves } from '../backfill/blob-leaves.js';
import { MD5_LEAVES, SHA256_LEAVES } from '../store/blob/leaf-families.js';
import type { BlobStore } from '../store/blob/types.js';
import { CorruptDataError, readVerified } from '../store/blob/verifying-reader.js';
import { BlobCheckError, writeBlob } from '../store/blob/verifying-writer.js';
import type { ArchiveRecord, JobRecord, MetadataStore, Segment, UploadRecord, VaultRecord } from '../store/meta/types.js';

export interface StorePair {
  meta: MetadataStore;
  blobs: BlobStore;
}

export interface CopyDataOptions {
  from: StorePair;
  to: StorePair;
  /** Archives copied at the same time (default 4). */
  parallel?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  now?: () => number;
  /** Stops the copy: blob reads and writes in progress are abandoned (what was committed stays resumable). */
  signal?: AbortSignal;
}

export interface CopyReport {
  accounts: { copied: number; skipped: number };
  vaults: { copied: number; skipped: number };
  archives: { copied: number; skipped: number; failed: number };
  uploads: { copied: number; skipped: number };
  parts: { copied: number; skipped: number };
  jobs: { copied: number; skipped: number };
  /** Vault tags, vault settings and account settings written (set again when already there). */
  settings: number;
  /** Blob bytes written to the target by this run. */
  bytes: number;
  /** Unreferenced blobs of an earlier, interrupted run removed from the target. */
  cleaned: number;
  /** What could not be copied (each also logged); the run exits non-zero when not empty. */
  errors: string[];
}

/** A copy that would be wrong (checksum or size mismatch, conflicting target data). */
export class CopyError extends Error {
  override readonly name = 'CopyError';
}

const PAGE = 1000;
const LEAF_BYTES = 16;

function treeOf(leaves: Buffer, builder = new TreeEtagBuilder()): TreeEtagBuilder {
  for (let i = 0; i < leaves.byteLength; i += LEAF_BYTES) builder.push(leaves.toString('hex', i, i + LEAF_BYTES));
  return builder;
}

/** Runs `fn` over the items with at most `limit` in flight; the first error is rethrown at the end. */
async function forEachLimit<T>(items: AsyncIterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const running = new Set<Promise<void>>();
  for await (const item of items) {
    const p: Promise<void> = fn(item).finally(() => running.delete(p));
    running.add(p);
    if (running.size >= limit) await Promise.race(running);
  }
  await Promise.all(running);
}

async function* pages<T>(fetch: (from: string | null) => Promise<{ items: T[]; next: string | null }>): AsyncGenerator<T> {
  let from: string | null = null;
  for (;;) {
    const page = await fetch(from);
    yield* page.items;
    if (page.next === null) return;
    from = page.next;
  }
}

class Copier {
  readonly report: CopyReport = {
    accounts: { copied: 0, skipped: 0 }, vaults: { copied: 0, skipped: 0 },
    archives: { copied: 0, skipped: 0, failed: 0 }, uploads: { copied: 0, skipped: 0 },
    parts: { copied: 0, skipped: 0 }, jobs: { copied: 0, skipped: 0 }, settings: 0, bytes: 0, cleaned: 0, errors: [],
  };
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  private readonly parallel: number;
  private readonly signal: AbortSignal | undefined;

  constructor(private readonly from: StorePair, private readonly to: StorePair, opts: CopyDataOptions) {
    this.log = opts.log ?? (() => undefined);
    this.now = opts.now ?? Date.now;
    this.parallel = opts.parallel ?? 4;
    this.signal = opts.signal;
    if (!Number.isSafeInteger(this.parallel) || this.parallel < 1) throw new RangeError(`parallel must be at least 1, got ${this.parallel}`);
  }

  private fail(what: string, err: unknown): void {
    const message = `${what}: ${(err as Error).message}`;
    this.report.errors.push(message);
    this.log(`error: ${message}`);
  }

  /**
   * Streams one blob into a new target blob through the verifying writer: committed only
   * when the size and every leaf match the source's stored digests. The copy gets the leaf
   * families the source has (SHA-256 leaves only where the source had them). Returns the
   * new key and leaves.
   */
  private async copyBlob(key: string, size: number): Promise<{ key: string; leaves: Buffer }> {
    const expected = await this.from.blobs.readLeaves(key);
    const families = await hasSha256Leaves(this.from.blobs, key) ? [MD5_LEAVES, SHA256_LEAVES] : [MD5_LEAVES];
    try {
      const { signal } = this;
      const source = readVerified(this.from.blobs, [{ blobKey: key, size }], 0, size - 1, { label: `blob ${key}`, signal });
      const blob = await writeBlob(this.to.blobs, source, { expect: { size, md5Leaves: expected }, signal, families });
      this.report.bytes += size;
      return { key: blob.key, leaves: blob.leaves.md5! };
    } catch (caught) {
      // A source that failed its check part way shows as incomplete data to the writer.
      const err = caught instanceof BlobCheckError && caught.cause instanceof CorruptDataError ? caught.cause : caught;
      if (err instanceof CorruptDataError || (err instanceof BlobCheckError && err.check === 'leaves')) {
        const bytes = err instanceof CorruptDataError ? `bytes ${err.start}-${err.end}` : err.message.replace(/ do not match.*$/, '');
        throw new CopyError(`blob ${key}: ${bytes} do not match their stored checksum (source data corrupt)`);
      }
      if (err instanceof BlobCheckError) throw new CopyError(`blob ${key} has ${err.actual} bytes, expected ${size}`);
      throw err;
    }
  }

  /** Deletes target blobs this run created for an item that did not make it into the metadata. */
  private async drop(keys: string[]): Promise<void> {
    for (const key of keys) await this.to.blobs.delete(key).catch(() => undefined);
  }

  async run(): Promise<CopyReport> {
    // Pieces of an interrupted earlier run: blobs committed whose metadata never followed.
    this.report.cleaned = (await this.to.blobs.removeLeftovers()) + (await removeOrphanBlobs(this.to.meta, this.to.blobs));
    if (this.report.cleaned > 0) this.log(`removed ${this.report.cleaned} unreferenced blobs of an earlier run from the target`);

    const accountIds: string[] = [];
    for (const account of await this.from.meta.listAccounts()) {
      if (!accountIds.includes(account.id)) accountIds.push(account.id);
      const there = await this.to.meta.getAccountByKeyId(account.accessKeyId);
      if (!there) {
        await this.to.meta.createAccount(account);
        this.report.accounts.copied++;
      } else if (there.id !== account.id) {
        this.fail(`access key ${account.accessKeyId}`, new CopyError('the target has this key for another account'));
      } else {
        if (there.accessKeySecret !== account.accessKeySecret) {
          if (this.to.meta.updateAccountSecret) await this.to.meta.updateAccountSecret(account.accessKeyId, account.accessKeySecret);
          else {
            await this.to.meta.deleteAccountByKeyId(account.accessKeyId);
            await this.to.meta.createAccount(account);
          }
        }
        this.report.accounts.skipped++;
      }
    }
    for (const accountId of accountIds) {
      for (const s of await this.from.meta.settings.accountSettings(accountId)) {
        await this.to.meta.settings.putAccountSetting(accountId, s.name, s.value);
        this.report.settings++;
      }
      for await (const vault of pages((from) => this.from.meta.listVaults(accountId, from, PAGE))) {
        await this.copyVault(vault);
      }
    }
    return this.report;
  }

  /** Tags and settings are small and set idempotently: written again on every run. */
  private async copyVaultSettings(vault: VaultRecord): Promise<void> {
    const tags = await this.from.meta.settings.listTags(vault.id);
    if (tags.length > 0) {
      if ((await this.to.meta.settings.addTags(vault.id, tags, Number.MAX_SAFE_INTEGER)) !== 'ok') {
        this.fail(`tags of vault ${vault.name} (${vault.id})`, new CopyError('the vault is missing in the target'));
        return;
      }
      this.report.settings += tags.length;
    }
    for (const s of await this.from.meta.settings.vaultSettings(vault.id)) {
      await this.to.meta.settings.putVaultSetting(vault.id, s.name, s.value);
      this.report.settings++;
    }
  }

  private async copyVault(vault: VaultRecord): Promise<void> {
    const there = await this.to.meta.getVault(vault.accountId, vault.id);
    if (there) {
      this.report.vaults.skipped++;
    } else {
      // Counters start at zero: inserting the archives counts them in again.
      const result = await this.to.meta.createVault({ ...vault, archiveCount: 0, sizeBytes: 0, lastWriteAt: null }, Number.MAX_SAFE_INTEGER);
      if (result.kind !== 'created') {
        const why = result.kind === 'exists' ? `the target has another vault of this name (${result.vault.id})` : 'vault limit';
        this.fail(`vault ${vault.name} (${vault.id})`, new CopyError(why));
        return;
      }
      this.report.vaults.copied++;
    }
    await this.copyVaultSettings(vault);
    const before = { ...this.report.archives };
    await forEachLimit(this.from.meta.iterateArchives(vault.id), this.parallel, (archive) => this.copyArchive(archive));
    for await (const upload of pages((from) => this.from.meta.listUploads(vault.id, from, PAGE))) await this.copyUpload(upload);
    for await (const job of pages((from) => this.from.meta.listJobs(vault.id, from, PAGE, this.now()))) await this.copyJob(job);
    const a = this.report.archives;
    this.log(`vault ${vault.name} (${vault.id}): ${a.copied - before.copied} archives copied, ${a.skipped - before.skipped} already there`
      + `${a.failed > before.failed ? `, ${a.failed - before.failed} FAILED` : ''}`);
  }

  /** Copies an archive (live, or deleted but still read by a job) unless the target has it. */
  private async copyArchive(archive: ArchiveRecord): Promise<void> {
    try {
      const there = await this.to.meta.getArchiveAnyState(archive.id);
      if (there) {
        if (there.size !== archive.size || there.treeEtag !== archive.treeEtag || there.vaultId !== archive.vaultId) {
          throw new CopyError(`the target has a different archive with this id (size ${there.size}, tree etag ${there.treeEtag})`);
        }
        if (archive.deletedAt !== null && there.deletedAt === null) await this.to.meta.deleteArchive(there.vaultId, there.id, archive.deletedAt);
        this.report.archives.skipped++;
        return;
      }
      const segments = await this.from.meta.getSegments(archive.id);
      const copied: Segment[] = [];
      const tree = new TreeEtagBuilder();
      try {
        let offset = 0;
        for (const segment of segments) {
          if (offset % MIB !== 0) throw new CopyError(`segment at byte ${offset} does not start on a MiB boundary`);
          const blob = await this.copyBlob(segment.blobKey, segment.size);
          copied.push({ blobKey: blob.key, size: segment.size });
          treeOf(blob.leaves, tree);
          offset += segment.size;
        }
        if (offset !== archive.size) throw new CopyError(`its segments hold ${offset} bytes, expected ${archive.size}`);
        const treeEtag = tree.digest();
        if (treeEtag !== archive.treeEtag) {
          throw new CopyError(`the copied data has tree etag ${treeEtag}, the archive says ${archive.treeEtag}`);
        }
        await this.to.meta.insertArchive({ ...archive, deletedAt: null }, copied);
      } catch (err) {
        await this.drop(copied.map((s) => s.blobKey));
        throw err;
      }
      if (archive.deletedAt !== null) await this.to.meta.deleteArchive(archive.vaultId, archive.id, archive.deletedAt);
      this.report.archives.copied++;
    } catch (err) {
      this.report.archives.failed++;
      this.fail(`archive ${archive.id} of vault ${archive.vaultId}`, err);
    }
  }

  private async copyUpload(upload: UploadRecord): Promise<void> {
    try {
      const there = await this.to.meta.getUpload(upload.vaultId, upload.id);
      if (there?.completedAt != null) {
        this.report.uploads.skipped++;
        return;
      }
      if (!there) {
        await this.to.meta.createUpload(upload);
        this.report.uploads.copied++;
      } else {
        this.report.uploads.skipped++;
      }
      const have = new Map((await this.to.meta.allParts(upload.id)).map((p) => [p.start, p]));
      for (const part of await this.from.meta.allParts(upload.id)) {
        const t = have.get(part.start);
        if (t && t.end === part.end && t.treeEtag === part.treeEtag && t.contentEtag === part.contentEtag) {
          this.report.parts.skipped++;
          continue;
        }
        const blob = await this.copyBlob(part.blobKey, part.end - part.start + 1);
        const treeEtag = treeOf(blob.leaves).digest();
        if (treeEtag !== part.treeEtag) {
          await this.drop([blob.key]);
          throw new CopyError(`part ${part.start}-${part.end}: the copied data has tree etag ${treeEtag}, the part says ${part.treeEtag}`);
        }
        const put = await this.to.meta.putPart({ ...part, blobKey: blob.key }).catch(async (err: unknown) => {
          await this.drop([blob.key]);
          throw err;
        });
        if (put === 'missing') {
          await this.drop([blob.key]);
          throw new CopyError('the upload vanished from the target');
        }
        if (put.replaced) await this.drop([put.replaced.blobKey]);
        this.report.parts.copied++;
      }
    } catch (err) {
      this.fail(`multipart upload ${upload.id} of vault ${upload.vaultId}`, err);
    }
  }

  private async copyJob(job: JobRecord): Promise<void> {
    try {
      if (await this.to.meta.getJob(job.vaultId, job.id, this.now())) {
        this.report.jobs.skipped++;
        return;
      }
      // The archive the job reads (retrieval, push) or made (pull) must be there first; a
      // deleted one is copied too, as deleted, since the job still serves its bytes.
      if (job.archiveId !== '') {
        const archive = await this.from.meta.getArchiveAnyState(job.archiveId);
        const there = archive && await this.to.meta.getArchiveAnyState(archive.id);
        if (archive && there) {
          if (archive.deletedAt !== null && there.deletedAt === null) await this.to.meta.deleteArchive(there.vaultId, there.id, archive.deletedAt);
        } else if (archive) {
          const failedBefore = this.report.archives.failed;
          await this.copyArchive(archive);
          if (this.report.archives.failed > failedBefore) throw new CopyError(`its archive ${archive.id} could not be copied`);
        }
      }
      let outputKey = '';
      if (job.outputKey !== '') {
        const size = await this.from.blobs.size(job.outputKey);
        if (size === null) throw new CopyError(`its output blob ${job.outputKey} is missing in the source`);
        outputKey = (await this.copyBlob(job.outputKey, size)).key;
      }
      try {
        // The lease belonged to a node of the source; a target node claims the job afresh
        // and resumes it from its checkpoint (which never names blob keys).
        await this.to.meta.createJob({ ...job, outputKey, leaseOwner: null, leaseUntil: null });
      } catch (err) {
        if (outputKey) await this.drop([outputKey]);
        throw err;
      }
      this.report.jobs.copied++;
    } catch (err) {
      this.fail(`job ${job.id} of vault ${job.vaultId}`, err);
    }
  }
}

/** Copies everything from one store pair to another (see the top of this file). */
export async function copyData(opts: CopyDataOptions): Promise<CopyReport> {
  return new Copier(opts.from, opts.to, opts).run();
}
