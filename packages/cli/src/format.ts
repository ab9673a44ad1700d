// Dates and field lists shared by the commands that print vaults, uploads and jobs.

/** `YYYY-MM-DD HH:MM:SS` in local time from an RFC 1123 date; '' for ''. Unparseable text is kept. */
export function localDate(rfc1123: string | undefined | null): string {
  if (!rfc1123) return '';
  const d = new Date(rfc1123);
  if (Number.isNaN(d.getTime())) return rfc1123;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The 14 job fields the official getjobdesc/listjob print, in its order. */
export const JOB_FIELDS = [
  'JobId', 'Action', 'StatusCode', 'StatusMessage', 'ArchiveId', 'ArchiveSizeInBytes', 'TreeEtag',
  'ArchiveTreeEtag', 'RetrievalByteRange', 'Completed', 'CompletionDate', 'CreationDate',
  'InventorySizeInBytes', 'JobDescription',
] as const;

export const VAULT_FIELDS = ['VaultId', 'VaultName', 'CreationDate', 'NumberOfArchives', 'SizeInBytes', 'LastInventoryDate'] as const;

/** Python's str() of a JSON value, so booleans print as the official tool prints them. */
export function pyString(value: unknown): string {
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (value === undefined || value === null) return '';
  return String(value);
}

/** A Job of the SDK back in the wire's shape (protocol.md §4.15), for --json and the field lists. */
export function jobToWire(job: {
  id: string; action: string; statusCode: string; statusMessage: string | null; completed: boolean; creationDate: Date | null;
  completionDate: Date | null; archiveId: string | null; archiveSizeInBytes: number | null; treeEtag: string | null;
  archiveTreeEtag: string | null; retrievalByteRange: string | null; inventorySizeInBytes: number | null; description: string | null;
}): Record<(typeof JOB_FIELDS)[number], string | number | boolean> {
  const date = (d: Date | null): string => (d ? d.toUTCString() : '');
  return {
    JobId: job.id,
    Action: job.action,
    StatusCode: job.statusCode,
    StatusMessage: job.statusMessage ?? '',
    ArchiveId: job.archiveId ?? '',
    ArchiveSizeInBytes: job.archiveSizeInBytes ?? -1,
    TreeEtag: job.treeEtag ?? '',
    ArchiveTreeEtag: job.archiveTreeEtag ?? '',
    RetrievalByteRange: job.retrievalByteRange ?? '',
    Completed: job.completed,
    CompletionDate: date(job.completionDate),
    CreationDate: date(job.creationDate),
    InventorySizeInBytes: job.inventorySizeInBytes ?? -1,
    JobDescription: job.description ?? '',
  };
}
