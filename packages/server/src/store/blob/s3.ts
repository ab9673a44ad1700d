// The scale-out blob store on any S3-compatible service; see s3/store.ts for its layout
// and rules, s3/writer.ts and s3/reader.ts for the data paths, s3/config.ts for options.
export { openS3BlobStore } from './s3/store.js';
export type { S3BlobStoreOptions } from './s3/config.js';
