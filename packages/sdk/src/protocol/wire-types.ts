// The JSON bodies of protocol.md §4, as the server sends them (the server builds them with these types).

/** Get vault / an entry of list vaults (§4.3). */
export interface VaultJson {
  VaultId: string;
  VaultName: string;
  CreationDate: string;
  LastInventoryDate: string;
  NumberOfArchives: number;
  SizeInBytes: number;
}

/** An entry of list multipart uploads; also the top-level fields of list parts (§4.9, §4.11). */
export interface UploadJson {
  MultipartUploadId: string;
  CreationDate: string;
  PartSizeInBytes: number;
  ArchiveDescription: string;
}

/** An entry of list parts (§4.11). */
export interface PartJson {
  RangeInBytes: string;
  ContentEtag: string;
  TreeEtag: string;
}

/** Describe job / an entry of list jobs (§4.15). */
export interface JobJson {
  JobId: string;
  Action: string;
  StatusCode: string;
  StatusMessage: string;
  Completed: boolean;
  CreationDate: string;
  CompletionDate: string;
  ArchiveId: string;
  ArchiveSizeInBytes: number;
  TreeEtag: string;
  ArchiveTreeEtag: string;
  RetrievalByteRange: string;
  InventorySizeInBytes: number;
  JobDescription: string;
}

/** Archive metadata (§4.7). */
export interface ArchiveJson {
  ArchiveId: string;
  ArchiveDescription: string;
  CreationDate: string;
  ArchiveSizeInBytes: number;
  ArchiveTreeEtag: string;
}

/** Inventory job output (§4.16). */
export interface InventoryJson {
  VaultId: string;
  InventoryDate: string;
  ArchiveList: Array<{ ArchiveId: string; ArchiveDescription: string; CreationDate: string; Size: number; TreeEtag: string }>;
}
