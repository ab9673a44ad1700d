// Archives: single upload (streamed, verified, then committed), delete, metadata.
import type { Readable } from 'node:stream';
import { MAX_SINGLE_UPLOAD, OASError, formatRfc1123, isId, newId, type ArchiveJson } from '@oas/sdk/protocol';
import type { ArchiveRecord, VaultRecord } from '../store/meta/types.js';
import type { ServiceContext } from './context.js';
import { discardBlob, ingest } from './ingest.js';
import { checkDescription, checkEtag, parseDecimal } from './validation.js';

export interface UploadRequest {
  /** The Content-Length header (undefined when absent). */
  contentLength: string | undefined;
  contentEtag: string | undefined;
  treeEtag: string | undefined;
  description: string | undefined;
  body: Readable;
}

/** Content-Length of an upload: required (411), a positive number (no zero-byte archives). */
export function checkContentLength(text: string | undefined, max: number, what: string): number {
  if (text === undefined) throw OASError.of('MissingContentLength', `Content-Length is required to upload ${what}`);
  const size = parseDecimal(text);
  if (size === null) throw OASError.of('InvalidArgument', 'Content-Length is not a number');
  if (size === 0) throw OASError.of('InvalidArgument', `${what} must not be empty (zero-byte archives are not supported)`);
  if (size > max) throw OASError.of('EntityTooLarge', `${what} is larger than ${max} bytes`);
  return size;
}

export async function uploadArchive(ctx: ServiceContext, vault: VaultRecord, req: UploadRequest): Promise<ArchiveRecord> {
  const size = checkContentLength(req.contentLength, MAX_SINGLE_UPLOAD, 'a single-request archive');
  const etag = checkEtag(req.contentEtag, 'x-oas-content-etag');
  const treeEtag = checkEtag(req.treeEtag, 'x-oas-tree-etag');
  const description = checkDescription(req.description);
  const blob = await ingest(ctx.blobs, req.body, { size, etag, treeEtag });
  const archive: ArchiveRecord = {
    id: newId(), vaultId: vault.id, description, size, treeEtag, createdAt: ctx.now(), deletedAt: null,
  };
  try {
    await ctx.meta.insertArchive(archive, [{ blobKey: blob.key, size }]);
  } catch (err) {
    await discardBlob(ctx.meta, ctx.blobs, blob.key);
    if (!(await ctx.meta.getVault(vault.accountId, vault.id))) throw OASError.of('VaultNotExist', `vault ${vault.id} does not exist`);
    throw err;
  }
  return archive;
}

export async function getArchive(ctx: ServiceContext, vault: VaultRecord, archiveId: string): Promise<ArchiveRecord> {
  const archive = isId(archiveId) ? await ctx.meta.getArchive(vault.id, archiveId) : null;
  if (!archive) throw OASError.of('ArchiveNotExist', `archive ${archiveId} does not exist`);
  return archive;
}

export function archiveMetaJson(archive: ArchiveRecord): ArchiveJson {
  return {
    ArchiveId: archive.id,
    ArchiveDescription: archive.description,
    CreationDate: formatRfc1123(archive.createdAt),
    ArchiveSizeInBytes: archive.size,
    ArchiveTreeEtag: archive.treeEtag,
  };
}

/** Soft delete: the bytes stay while an unexpired job still serves them. */
export async function deleteArchive(ctx: ServiceContext, vault: VaultRecord, archiveId: string): Promise<void> {
  const ok = isId(archiveId) && (await ctx.meta.deleteArchive(vault.id, archiveId, ctx.now()));
  if (!ok) throw OASError.of('ArchiveNotExist', `archive ${archiveId} does not exist`);
}
