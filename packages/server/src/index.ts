// @oas/server: the OAS-compatible server (bin oas-server).
export { createServer, type CreateServerOptions, type OasServer } from './app.js';
export { systemClock, type Clock } from './clock.js';
export { DEFAULT_OPTIONS, parseServeArgs, helpText, ConfigError, type ServerOptions } from './config.js';
export type { MetadataStore } from './store/meta/types.js';
export type { BlobStore, BlobWriter } from './store/blob/types.js';
export type { JobRunner, JobRunners, JobRunContext, JobResult } from './jobs/types.js';
export { OssConfigError, type OssHostInput, type OssHostConfig } from './oss-config.js';
export { openStores, parseMetadataUri, parseBlobsUri, type MetadataSpec, type BlobsSpec } from './store/open.js';
export { copyData, type CopyDataOptions, type CopyReport } from './copy/copier.js';
