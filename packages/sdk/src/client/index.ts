export { OASAPI, OAS_API_VERSION, DEFAULT_USER_AGENT } from './api.js';
export type { OASAPIOptions, RequestOptions, OASJobType, BodyContent } from './api.js';
export { OASResponse, type OASResponseOptions } from './response.js';
export { MAX_BUFFERED_BODY } from './buffered-body.js';
export type { BodyReader } from './body.js';
export type { BodyTarget, DirectResponse } from './direct-receive.js';
export { OASTransportError, OASAbortError } from './errors.js';
export { NotBytesError, type ByteSource, type BinaryData, type ByteStream } from './byte-source.js';
