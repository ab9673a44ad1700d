// The high-level layer (protocol.md §7.2 and beyond): Vault, Uploader, Job.
export { Vault, type CallOptions, type JobOptions } from './vault.js';
export { Uploader, planParts, type PartTransferOptions, type UploadResult } from './uploader.js';
export { uploadArchive, type UploadOptions } from './upload.js';
export { Job, type JobAction, type WaitOptions } from './job.js';
export { downloadJobOutput, downloadTempPaths, type DownloadOptions, type DownloadResult } from './download.js';
export { parseInventory, type Inventory, type InventoryArchive } from './inventory.js';
export { callOk, callJson, callHeaders, paged, listAllVaults, listAllUploads, listAllParts, listAllJobs, type ListOptions } from './call.js';
export { withRetry, isRetryable, backoffDelay, type RetryOptions } from './retry.js';
export { sleep, isAbortError } from './abort.js';
export { ChecksumMismatchError, PartMismatchError, JobFailedError, JobStateError, TransferError } from './errors.js';
export { TreeEtagHasher, SubtreeFolder, treeEtagOfSubtrees, type Subtree } from './hashing.js';
export { toDate, type UploadInfo, type PartInfo, type ArchiveInfo } from './model.js';
export type { TransferProgress, ProgressCallback } from './progress.js';
export type { UploadSource } from './sources.js';
export type { VaultJson, UploadJson, PartJson, JobJson, ArchiveJson, InventoryJson } from '../protocol/wire-types.js';
export {
  calcPartSize, calcPieceSize, splitRanges, rangeLength, isPowerOfTwoMib, isValidPartSize, formatSize,
  GIB, MAX_PARTS, MAX_ARCHIVE_SIZE, MAX_PART_SIZE, DEFAULT_PART_SIZE, DEFAULT_SINGLE_UPLOAD_THRESHOLD,
  MAX_SINGLE_UPLOAD, MAX_PIECES, DEFAULT_PIECE_SIZE,
} from './sizes.js';
