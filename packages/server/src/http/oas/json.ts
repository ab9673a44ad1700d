// The OAS JSON shapes (protocol.md §4) of the service's records.
import { formatRange, formatRfc1123, type ArchiveJson, type JobJson, type PartJson, type UploadJson, type VaultJson } from '@oas/sdk/protocol';
import type { ArchiveRecord, JobRecord, JobType, ListPage, PartRecord, UploadRecord, VaultInfo } from '../../service/records.js';

export const JOB_ACTIONS: Record<JobType, string> = {
  'archive-retrieval': 'ArchiveRetrieval',
  'inventory-retrieval': 'InventoryRetrieval',
  'pull-from-oss': 'PullFromOSS',
  'push-to-oss': 'PushToOSS',
};

export function vaultJson(vault: VaultInfo): VaultJson {
  return {
    CreationDate: formatRfc1123(vault.createdAt),
    LastInventoryDate: vault.inventoryAt === null ? '' : formatRfc1123(vault.inventoryAt),
    NumberOfArchives: vault.archiveCount,
    SizeInBytes: vault.sizeBytes,
    VaultId: vault.id,
    VaultName: vault.name,
  };
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

export function uploadJson(upload: UploadRecord): UploadJson {
  return {
    MultipartUploadId: upload.id,
    CreationDate: formatRfc1123(upload.createdAt),
    PartSizeInBytes: upload.partSize,
    ArchiveDescription: upload.description,
  };
}

export function partJson(part: PartRecord): PartJson {
  return { RangeInBytes: formatRange(part), ContentEtag: part.contentEtag, TreeEtag: part.treeEtag };
}

export function jobJson(job: JobRecord): JobJson {
  const done = job.status !== 'InProgress';
  return {
    JobId: job.id,
    Action: JOB_ACTIONS[job.type],
    StatusCode: job.status,
    StatusMessage: job.statusMessage,
    Completed: done,
    CreationDate: formatRfc1123(job.createdAt),
    CompletionDate: done && job.completedAt !== null ? formatRfc1123(job.completedAt) : '',
    ArchiveId: job.archiveId,
    ArchiveSizeInBytes: done ? job.archiveSize : -1,
    TreeEtag: done ? job.treeEtag : '',
    ArchiveTreeEtag: done ? job.archiveTreeEtag : '',
    RetrievalByteRange: job.retrievalRange,
    InventorySizeInBytes: done ? job.inventorySize : -1,
    JobDescription: job.description,
  };
}

export const vaultListJson = (page: ListPage<VaultInfo>) => ({ Marker: page.next, VaultList: page.items.map(vaultJson) });
export const uploadListJson = (page: ListPage<UploadRecord>) => ({ Marker: page.next, UploadsList: page.items.map(uploadJson) });
export const jobListJson = (page: ListPage<JobRecord>) => ({ Marker: page.next, JobList: page.items.map(jobJson) });
export const partListJson = (upload: UploadRecord, page: ListPage<PartRecord>) => ({ ...uploadJson(upload), Marker: page.next, Parts: page.items.map(partJson) });
