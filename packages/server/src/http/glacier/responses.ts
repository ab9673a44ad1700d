// Status codes and headers of Glacier's successful responses (glacier.md, "Design"). Pure:
// the front end sends what these return, plus `x-amzn-RequestId` on every response.
import type { ByteRange } from '@oas/sdk';
import { archiveDescriptionHeader, glacierLocation, type GlacierContext, type GlacierInventoryFormat } from './wire.js';

export const REQUEST_ID_HEADER = 'x-amzn-RequestId';

export interface GlacierReply {
  status: number;
  headers: Record<string, string>;
}

export function createVaultReply(ctx: GlacierContext, vault: string): GlacierReply {
  return { status: 201, headers: { Location: glacierLocation.vault(ctx, vault) } };
}

/** UploadArchive and CompleteMultipartUpload. */
export function archiveCreatedReply(ctx: GlacierContext, vault: string, archiveId: string, treeHash: string): GlacierReply {
  return {
    status: 201,
    headers: { Location: glacierLocation.archive(ctx, vault, archiveId), 'x-amz-archive-id': archiveId, 'x-amz-sha256-tree-hash': treeHash },
  };
}

export function uploadInitiatedReply(ctx: GlacierContext, vault: string, uploadId: string): GlacierReply {
  return { status: 201, headers: { Location: glacierLocation.upload(ctx, vault, uploadId), 'x-amz-multipart-upload-id': uploadId } };
}

export function partUploadedReply(treeHash: string): GlacierReply {
  return { status: 204, headers: { 'x-amz-sha256-tree-hash': treeHash } };
}

export function jobInitiatedReply(ctx: GlacierContext, vault: string, jobId: string): GlacierReply {
  return { status: 202, headers: { Location: glacierLocation.job(ctx, vault, jobId), 'x-amz-job-id': jobId } };
}

/** Deletes, aborts, and the side operations' setters. */
export const NO_CONTENT: GlacierReply = { status: 204, headers: {} };

export type JobOutputKind =
  | { type: 'archive-retrieval'; description: string }
  | { type: 'inventory-retrieval'; format: GlacierInventoryFormat };

/**
 * GetJobOutput's status and headers. `range` is the parsed Range (relative to the output),
 * `treeHash` the hash of the sent bytes when outputTreeHashRange allowed one, else null.
 */
export function jobOutputReply(kind: JobOutputKind, outputSize: number, range: ByteRange | undefined, treeHash: string | null): GlacierReply {
  const headers: Record<string, string> = {
    'Content-Type': kind.type === 'inventory-retrieval' ? (kind.format === 'CSV' ? 'text/csv' : 'application/json') : 'application/octet-stream',
    'Content-Length': String(range ? range.end - range.start + 1 : outputSize),
    'Accept-Ranges': 'bytes',
  };
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${outputSize}`;
  if (kind.type === 'archive-retrieval') {
    if (treeHash !== null) headers['x-amz-sha256-tree-hash'] = treeHash;
    const description = archiveDescriptionHeader(kind.description);
    if (description !== null) headers['x-amz-archive-description'] = description;
  }
  return { status: range ? 206 : 200, headers };
}
