// Lint: promises that are neither awaited nor handled, and the layers of the code base as
// import rules (docs/architecture.md). Type-aware, over tsconfig.check.json (and the
// console's own tsconfig for its browser code).
import tseslint from 'typescript-eslint';

/** `no-restricted-imports` with one message per forbidden pattern (regular expressions on the import path). */
const forbid = (...rules) => ({ 'no-restricted-imports': ['error', { patterns: rules.map(([regex, message]) => ({ regex, message })) }] });

const layers = {
  store: ['(^|/)(service|http|jobs|copy)/|^(\\.\\./)+(app|config|main|housekeeping|maintenance|copy-data|oss-config)\\.js$',
    'the stores are the bottom layer: they import nothing of the service, jobs, HTTP or configuration'],
  service: ['(^|/)(http|jobs|copy)/|^(\\.\\./)+(app|config|main|housekeeping|copy-data)\\.js$',
    'the service imports only the stores (and util): never HTTP, jobs or configuration'],
  jobs: ['(^|/)http/|^(\\.\\./)+(app|main|housekeeping)\\.js$', 'jobs go through the service; they never import HTTP'],
  http: ['(^|/)(store|jobs)/', 'HTTP front ends call the service; they never reach the stores or the job runners'],
  plumbing: ['(^|/)oas/', 'the shared HTTP plumbing knows no wire protocol: http/<protocol>/ plugs in through frontend.ts'],
  util: ['(^|/)(service|http|jobs|copy)/|^(\\.\\./)+[^/]+\\.js$', 'util sits beside the stores: it imports nothing above them'],
};

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { project: ['./tsconfig.check.json', './packages/console/tsconfig.json'], tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // node:test's test() and describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      'no-control-regex': 'error',
    },
  },
  {
    files: ['packages/sdk/src/**/*.ts'],
    rules: forbid(['^(?!node:|\\.)', '@oas/sdk has no runtime dependencies: node: built-ins and its own modules only']),
  },
  {
    files: ['packages/cli/src/**/*.ts'],
    rules: forbid(['^(?!node:|\\.|@oas/sdk(/protocol)?$|commander$|cli-progress$)', 'the CLI imports the SDK, commander and cli-progress only'],
      ['(^|/)(server|sdk)/src/', 'the CLI imports the SDK by its package name']),
  },
  { files: ['packages/server/src/store/**/*.ts'], rules: forbid(layers.store) },
  { files: ['packages/server/src/service/**/*.ts'], rules: forbid(layers.service) },
  { files: ['packages/server/src/jobs/**/*.ts'], rules: forbid(layers.jobs) },
  { files: ['packages/server/src/http/**/*.ts'], rules: forbid(layers.http) },
  { files: ['packages/server/src/http/*.ts'], rules: forbid(layers.http, layers.plumbing) },
  { files: ['packages/server/src/util/**/*.ts'], rules: forbid(layers.util) },
);
