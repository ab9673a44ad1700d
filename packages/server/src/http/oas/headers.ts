// The OAS header names the server reads and writes (protocol.md §2, §4).
export const REQUEST_ID = 'x-oas-request-id';
export const CONTENT_ETAG = 'x-oas-content-etag';
export const TREE_ETAG = 'x-oas-tree-etag';
export const ARCHIVE_DESCRIPTION = 'x-oas-archive-description';
export const ARCHIVE_ID = 'x-oas-archive-id';
export const ARCHIVE_SIZE = 'x-oas-archive-size';
export const PART_SIZE = 'x-oas-part-size';
export const VAULT_ID = 'x-oas-vault-id';
export const UPLOAD_ID = 'x-oas-multipart-upload-id';
export const JOB_ID = 'x-oas-job-id';
/** The prefix of the headers that are signed. */
export const SIGNED_PREFIX = 'x-oas-';
