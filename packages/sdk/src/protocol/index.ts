export * from './sign.js';
export * from './etag.js';
export * from './ranges.js';
export * from './ids.js';
export * from './dates.js';
export * from './errors.js';
export * from './hash-file.js';
export type * from './wire-types.js';
