// The Debian packages the test suite needs, and making sure they are installed.
// To add one: append a line to SYSTEM_PACKAGES. `npm test` calls ensureSystemPackages():
// a machine that has them all runs one dpkg-query and nothing else; as root the missing
// ones are installed with apt-get; otherwise the run stops at once with the command to run.
import { spawnSync } from 'node:child_process';

/** Debian package → what needs it. */
export const SYSTEM_PACKAGES = {
  postgresql: 'private PostgreSQL clusters (initdb, pg_ctl) for the postgres metadata tests',
  'ceph-mon': 'the single-node Ceph cluster behind the radosgw (S3) tests',
  'ceph-osd': 'the single-node Ceph cluster behind the radosgw (S3) tests',
  radosgw: 'the radosgw (S3) tests: OSS transfers, the S3 blob store, postgres+rgw',
  chromium: 'browser tests of the console (playwright-core drives Debian\'s chromium)',
  strace: 'reliability tests (system call tracing)',
  openssl: 'reliability tests (certificates for TLS)',
  awscli: 'Glacier front end: the AWS CLI as a client (glacier-clients.test.ts)',
  'python3-boto3': 'Glacier front end: boto3 as a client (glacier-clients.test.ts)',
};

const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
// Wait for another apt/dpkg run (up to 10 min) instead of failing on its lock.
const APT_OPTIONS = ['-o', 'DPkg::Lock::Timeout=600', '-o', 'Acquire::Retries=3'];

/** The command a person would run to install `names`. */
export function installCommand(names) {
  return `apt-get update && apt-get install -y --no-install-recommends ${names.join(' ')}`;
}

/** The packages of `names` that are not installed (one dpkg-query call). */
export function missingPackages(names = Object.keys(SYSTEM_PACKAGES)) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...names], { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot check the Debian packages the tests need (dpkg-query: ${r.error.message}); install: ${names.join(' ')}`);
  const installed = new Set(r.stdout.split('\n')
    .map((line) => line.split(' '))
    .filter(([, status]) => status === 'installed')
    .map(([name]) => name));
  return names.filter((name) => !installed.has(name));
}

function apt(args) {
  const r = spawnSync('apt-get', [...APT_OPTIONS, ...args], { env: APT_ENV, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`);
}

/**
 * Installs the missing SYSTEM_PACKAGES (root) or throws with the command to run (anyone
 * else). `log` receives one line per step.
 */
export function ensureSystemPackages(log = (line) => process.stderr.write(`${line}\n`)) {
  const missing = missingPackages();
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`the tests need Debian packages that are missing: ${missing.join(' ')}\n`
      + `install them (as root) with:\n  ${installCommand(missing)}`);
  }
  log(`installing the Debian packages the tests need: ${missing.join(' ')}`);
  apt(['update', '-q']);
  apt(['install', '-y', '-q', '--no-install-recommends', ...missing]);
  const still = missingPackages(missing);
  if (still.length > 0) throw new Error(`apt-get did not install: ${still.join(' ')}`);
}
