// Archives: the one place an archive record is made (single upload, multipart complete and
// the OSS pull all come here), single upload (streamed, verified, then committed), delete,
// metadata.
import type { Readable } from 'node:stream';
import { MAX_SINGLE_UPLOAD, isId, newId } from '@oas/sdk/protocol';
import type { MetadataStore } from '../store/meta/types.js';
import { discardBlob } from './blobs.js';
import type { ServiceContext } from './context.js';
import { NotFoundError } from './errors.js';
import { ingest, type BodyChecks } from './ingest.js';
import type { ArchiveRecord, PartRecord, Segment, UploadRecord, VaultRecord } from './records.js';
import { checkBodySize, checkDescription } from './validation.js';
import { inVault } from './vaults.js';

export interface ArchiveUpload {
  /** The body's length as the client announced it. */
  size: number;
  /** The checksums the client computed (its protocol's family). */
  checks: BodyChecks;
  description: string | undefined;
  body: Readable | AsyncIterable<Buffer>;
  /** The description rule of the caller's protocol (default: OAS's). */
  checkDescription?: (text: string | undefined) => string;
}

/** What a new archive is; `id` when chosen beforehand (a job that may run again). */
export interface NewArchive {
  id?: string;
  vaultId: string;
  description: string;
  size: number;
  treeEtag: string;
}

/** The archive's bytes: committed segments, or the parts of the multipart upload it completes. */
export type ArchiveContent =
  | { segments: Segment[] }
  | { upload: UploadRecord; parts: PartRecord[]; acceptedTreeEtag: string };

/**
 * Records a new archive over stored, verified bytes and counts it in its vault, in one
 * transaction. Null when the archive completes an upload that vanished or was completed
 * meanwhile. A vault deleted meanwhile is NotFound.
 */
export async function createArchive(ctx: { meta: MetadataStore; now(): number }, spec: NewArchive, content: ArchiveContent): Promise<ArchiveRecord | null> {
  const now = ctx.now();
  const archive: ArchiveRecord = {
    id: spec.id ?? newId(), vaultId: spec.vaultId, description: spec.description, size: spec.size, treeEtag: spec.treeEtag,
    createdAt: now, deletedAt: null,
  };
  return inVault(spec.vaultId, async () => {
    if ('segments' in content) {
      await ctx.meta.insertArchive(archive, content.segments);
      return archive;
    }
    const upload: UploadRecord = {
      ...content.upload, archiveId: archive.id, completedAt: now, archiveSize: spec.size, archiveTreeEtag: content.acceptedTreeEtag,
    };
    const result = await ctx.meta.completeUpload({ upload, archive, parts: content.parts });
    return result === 'missing' ? null : archive;
  });
}

export async function uploadArchive(ctx: ServiceContext, vault: VaultRecord, req: ArchiveUpload): Promise<ArchiveRecord> {
  const size = checkBodySize(req.size, MAX_SINGLE_UPLOAD, 'a single-request archive');
  const description = (req.checkDescription ?? checkDescription)(req.description);
  await ctx.space?.checkUpload(size);
  const blob = await ingest(ctx.blobs, req.body, { size, ...req.checks }, ctx.leafFamilies);
  try {
    const archive = await createArchive(ctx, { vaultId: vault.id, description, size, treeEtag: blob.treeEtag }, { segments: [{ blobKey: blob.key, size }] });
    return archive!;
  } catch (err) {
    await discardBlob(ctx.meta, ctx.blobs, blob.key);
    throw err;
  }
}

export async function getArchive(ctx: ServiceContext, vault: VaultRecord, archiveId: string): Promise<ArchiveRecord> {
  const archive = isId(archiveId) ? await ctx.meta.getArchive(vault.id, archiveId) : null;
  if (!archive) throw new NotFoundError('archive', archiveId);
  return archive;
}

/** Soft delete: the bytes stay while an unexpired job still serves them. */
export async function deleteArchive(ctx: ServiceContext, vault: VaultRecord, archiveId: string): Promise<void> {
  const ok = isId(archiveId) && (await ctx.meta.deleteArchive(vault.id, archiveId, ctx.now()));
  if (!ok) throw new NotFoundError('archive', archiveId);
}
