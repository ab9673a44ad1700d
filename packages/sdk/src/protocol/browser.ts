// The isomorphic part of the protocol core: everything here runs in a browser (no node:
// imports anywhere on this path; a unit test walks the imports to keep it so). The web
// console bundles it; Node code reaches the same functions through index.ts.
export * from './sign-core.js';
export * from './md5.js';
export * from './tree-etag.js';
export * from './ranges.js';
export * from './dates.js';
export * from './errors.js';
export type * from './wire-types.js';
