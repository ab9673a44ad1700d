// Multipart uploads: initiate, upload part (streamed and verified like an archive), list,
// complete (the parts' blobs become the archive's segments, no byte is copied), abort.
import type { Readable } from 'node:stream';
import {
  MAX_ARCHIVE_SIZE, MAX_PARTS, MAX_PART_SIZE, TreeEtagBuilder, combineTreeEtags, isId, isPowerOfTwoMib, newId, type ByteRange,
} from '@oas/sdk/protocol';
import { KeyedMutex } from '../util/mutex.js';
import { createArchive } from './archives.js';
import { discardBlob } from './blobs.js';
import type { ServiceContext } from './context.js';
import { InvalidRequestError, NotFoundError } from './errors.js';
import { ingest, type BodyChecks } from './ingest.js';
import { OTHER_PAGE, checkMarkerFound, idMarker, nextMarker, pageLimit, partMarker, type ListQuery } from './pagination.js';
import type { ListPage, PartRecord, UploadRecord, VaultRecord } from './records.js';
import { checkBodySize, checkDescription, checkPartSize } from './validation.js';
import { inVault } from './vaults.js';

/** Serialises part replacement against complete/abort of the same upload (this process). */
const uploadLocks = new KeyedMutex();

function notExist(uploadId: string): NotFoundError {
  return new NotFoundError('upload', uploadId);
}

/** An open (not completed) upload of the vault. */
async function openUpload(ctx: ServiceContext, vault: VaultRecord, uploadId: string): Promise<UploadRecord> {
  const upload = isId(uploadId) ? await ctx.meta.getUpload(vault.id, uploadId) : null;
  if (!upload || upload.completedAt !== null) throw notExist(uploadId);
  return upload;
}

export async function initiateUpload(ctx: ServiceContext, vault: VaultRecord, partSizeBytes: number, descriptionText: string | undefined): Promise<UploadRecord> {
  const partSize = checkPartSize(partSizeBytes);
  const description = checkDescription(descriptionText);
  const upload: UploadRecord = {
    id: newId(), vaultId: vault.id, description, partSize, createdAt: ctx.now(),
    archiveId: null, completedAt: null, archiveSize: null, archiveTreeEtag: null,
  };
  await inVault(vault.id, () => ctx.meta.createUpload(upload));
  return upload;
}

export async function listUploads(ctx: ServiceContext, vault: VaultRecord, query: ListQuery): Promise<ListPage<UploadRecord>> {
  const limit = pageLimit(query.limit, OTHER_PAGE);
  const marker = idMarker(query.marker);
  const page = await ctx.meta.listUploads(vault.id, marker, limit);
  checkMarkerFound(page, marker, (u) => u.id);
  return { next: nextMarker(page), items: page.items };
}

export interface PartUpload {
  /** The body's length as the client announced it. */
  size: number;
  /** The archive bytes the part holds. */
  range: ByteRange;
  /** The checksums the client computed (its protocol's family). */
  checks: BodyChecks;
  body: Readable | AsyncIterable<Buffer>;
}

export async function uploadPart(ctx: ServiceContext, vault: VaultRecord, uploadId: string, req: PartUpload): Promise<PartRecord> {
  const upload = await openUpload(ctx, vault, uploadId);
  const { range } = req;
  const size = checkBodySize(req.size, MAX_PART_SIZE, 'a part');
  const length = range.end - range.start + 1;
  if (length !== size) throw new InvalidRequestError('argument', `the part's range covers ${length} bytes but its length is ${size}`);
  if (range.start % upload.partSize !== 0) {
    throw new InvalidRequestError('argument', `a part's range must start at a multiple of the part size ${upload.partSize}`);
  }
  if (length > upload.partSize) {
    throw new InvalidRequestError('argument', `a part is at most the part size ${upload.partSize} bytes (only the last part is shorter)`);
  }
  if (range.start / upload.partSize >= MAX_PARTS) throw new InvalidRequestError('argument', `an upload has at most ${MAX_PARTS} parts`);
  if (range.end >= MAX_ARCHIVE_SIZE) throw new InvalidRequestError('too-large', `an archive is at most ${MAX_ARCHIVE_SIZE} bytes`);
  await ctx.space?.checkUpload(size);
  const blob = await ingest(ctx.blobs, req.body, { size, ...req.checks }, ctx.leafFamilies);
  const part: PartRecord = {
    uploadId: upload.id, start: range.start, end: range.end, contentEtag: blob.etag, treeEtag: blob.treeEtag, blobKey: blob.key, createdAt: ctx.now(),
  };
  let result: Awaited<ReturnType<typeof ctx.meta.putPart>>;
  try {
    result = await uploadLocks.run(upload.id, () => ctx.meta.putPart(part));
  } catch (err) {
    await discardBlob(ctx.meta, ctx.blobs, blob.key);
    throw err;
  }
  if (result === 'missing') {
    await discardBlob(ctx.meta, ctx.blobs, blob.key);
    throw notExist(uploadId);
  }
  if (result.replaced && result.replaced.blobKey !== blob.key) await discardBlob(ctx.meta, ctx.blobs, result.replaced.blobKey);
  return part;
}

export async function listParts(ctx: ServiceContext, vault: VaultRecord, uploadId: string, query: ListQuery): Promise<{ upload: UploadRecord; parts: ListPage<PartRecord> }> {
  const upload = await openUpload(ctx, vault, uploadId);
  const limit = pageLimit(query.limit, OTHER_PAGE);
  const marker = partMarker(query.marker);
  const page = await ctx.meta.listParts(upload.id, marker, limit);
  checkMarkerFound(page, marker, (p) => p.start);
  return { upload, parts: { next: nextMarker(page), items: page.items } };
}

/** Checks that the parts (in range order) cover 0..size-1 exactly once. */
function checkCoverage(parts: PartRecord[], size: number): void {
  let expected = 0;
  for (const part of parts) {
    if (part.start > expected) throw new InvalidRequestError('parts-incomplete', `no part covers bytes ${expected}-${part.start - 1}`);
    if (part.start < expected) throw new InvalidRequestError('parts-incomplete', `parts overlap at byte ${part.start}`);
    expected = part.end + 1;
  }
  if (expected < size) throw new InvalidRequestError('parts-incomplete', `the parts cover ${expected} bytes, the archive size is ${size} (missing ${expected}-${size - 1})`);
  if (expected > size) throw new InvalidRequestError('parts-incomplete', `the parts cover ${expected} bytes, more than the archive size ${size}`);
}

/**
 * The whole-data tree etag (ArchiveTreeEtag). For 2^k MiB parts it equals the combined part
 * tree etags; otherwise it is rebuilt from the parts' stored leaf digests.
 */
async function wholeTreeEtag(ctx: ServiceContext, upload: UploadRecord, parts: PartRecord[], combined: string): Promise<string> {
  if (isPowerOfTwoMib(upload.partSize)) return combined;
  const builder = new TreeEtagBuilder();
  for (const part of parts) {
    const leaves = await ctx.blobs.readLeaves(part.blobKey);
    for (let i = 0; i < leaves.byteLength; i += 16) builder.push(leaves.toString('hex', i, i + 16));
  }
  return builder.digest();
}

/** Completes an upload of `size` bytes whose combined part tree etag is `treeEtag`; returns the archive id. */
export async function completeUpload(ctx: ServiceContext, vault: VaultRecord, uploadId: string, size: number, treeEtag: string): Promise<string> {
  if (size === 0) throw new InvalidRequestError('argument', 'the archive size must be a positive number of bytes');
  if (size > MAX_ARCHIVE_SIZE) throw new InvalidRequestError('too-large', `an archive is at most ${MAX_ARCHIVE_SIZE} bytes`);
  const found = isId(uploadId) ? await ctx.meta.getUpload(vault.id, uploadId) : null;
  if (!found) throw notExist(uploadId);

  return uploadLocks.run(found.id, async () => {
    const upload = await ctx.meta.getUpload(vault.id, found.id);
    if (!upload) throw notExist(uploadId);
    if (upload.completedAt !== null) return repeatComplete(upload, size, treeEtag);
    const parts = (await ctx.meta.allParts(upload.id)).sort((a, b) => a.start - b.start);
    checkCoverage(parts, size);
    const combined = combineTreeEtags(parts.map((p) => p.treeEtag));
    if (combined !== treeEtag) {
      throw new InvalidRequestError('digest', `the tree etag ${treeEtag} does not match the parts (their combined tree etag is ${combined})`);
    }
    const archive = await createArchive(ctx, {
      vaultId: vault.id, description: upload.description, size, treeEtag: await wholeTreeEtag(ctx, upload, parts, combined),
    }, { upload, parts, acceptedTreeEtag: treeEtag });
    if (!archive) {
      const again = await ctx.meta.getUpload(vault.id, upload.id);
      if (again && again.completedAt !== null) return repeatComplete(again, size, treeEtag);
      throw notExist(uploadId);
    }
    return archive.id;
  });
}

/**
 * A repeated complete returns the same archive id when it asks for the same archive. The
 * store keeps the archive's whole-data tree etag; for part sizes that are not 2^k MiB the
 * request carries the combined part value instead (the parts are gone), so only the size
 * is compared then.
 */
function repeatComplete(upload: UploadRecord, size: number, treeEtag: string): string {
  const sameEtag = upload.archiveTreeEtag === treeEtag || !isPowerOfTwoMib(upload.partSize);
  if (upload.archiveId && upload.archiveSize === size && sameEtag) return upload.archiveId;
  throw new NotFoundError('upload', upload.id, `multipart upload ${upload.id} was already completed with a different size or tree etag`);
}

export async function abortUpload(ctx: ServiceContext, vault: VaultRecord, uploadId: string): Promise<void> {
  const upload = await openUpload(ctx, vault, uploadId);
  const parts = await uploadLocks.run(upload.id, () => ctx.meta.deleteUpload(vault.id, upload.id));
  if (parts === 'missing') throw notExist(uploadId);
  for (const part of parts) await discardBlob(ctx.meta, ctx.blobs, part.blobKey);
}
