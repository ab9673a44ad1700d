// oascmd and the SDK over HTTPS: `https://host[:port]` hosts with --ca-file or OAS_CA_FILE
// (a self-signed certificate made at test time), a clear one-line error without the CA or
// with an unreadable CA file, and port 443 meaning HTTPS (an https:// host without a port,
// `--port 443`, and the SDK's port option) against a server on 127.0.0.1:443 when the test
// may bind it (root, as in CI).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type OasServer } from '@oas/server';
import { OASAPI } from '@oas/sdk';
import { makeCert, type TestCert } from '../../server/test/helpers/tls.js';
import { ACCESS_ID, ACCESS_KEY, oneLine, startHarness, type Harness } from './helpers/cli.js';

let h: Harness;
let cert: TestCert;
let other: TestCert;
let host: string;

before(async () => {
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const certDir = await mkdtemp(join(tmpdir(), 'oascmd-tls-'));
  [cert, other] = await Promise.all([makeCert(certDir, 'server'), makeCert(certDir, 'other')]);
  h = await startHarness({ tlsCert: cert.certFile, tlsKey: cert.keyFile });
  host = `https://127.0.0.1:${h.server.port}`;
});

after(() => h?.close());

test('oascmd speaks HTTPS to an https:// host with --ca-file or OAS_CA_FILE', async () => {
  const made = await h.run(['--host', host, '--ca-file', cert.certFile, 'cv', 'oas://tls-cli']);
  assert.equal(made.code, 0, made.stderr);
  const listed = await h.run(['--host', host, 'ls'], { env: { OAS_CA_FILE: cert.certFile } });
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /tls-cli/);
});

test('without the right CA, or with an unusable CA file, oascmd fails in one line', async () => {
  for (const extra of [[], ['--ca-file', other.certFile]]) {
    const r = await h.run(['--host', host, ...extra, 'ls']);
    assert.notEqual(r.code, 0);
    assert.ok(oneLine(r.stderr), r.stderr);
    assert.match(r.stderr, /self[- ]signed certificate/);
  }
  const missing = await h.run(['--host', host, '--ca-file', `${h.dir}/none.pem`, 'ls']);
  assert.equal(missing.code, 1);
  assert.ok(oneLine(missing.stderr), missing.stderr);
  assert.match(missing.stderr, /cannot read the CA file .*none\.pem/);
  const notPem = await h.run(['--host', host, '--ca-file', h.configFile, 'ls']);
  assert.equal(notPem.code, 2);
  assert.match(notPem.stderr, /^oascmd: the CA file .* holds no PEM certificate\n$/);
});

test('port 443 means HTTPS in oascmd and the SDK', async (t) => {
  let server: OasServer;
  try {
    server = await createServer({
      dataDir: `${h.dir}/data443`, host: '127.0.0.1', port: 443, logLevel: 'silent', scrub: false,
      rootAccessKeyId: ACCESS_ID, rootAccessKeySecret: ACCESS_KEY, tlsCert: cert.certFile, tlsKey: cert.keyFile,
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EADDRINUSE') {
      t.skip(`cannot listen on 127.0.0.1:443 here (${code})`);
      return;
    }
    throw err;
  }
  try {
    const api = new OASAPI('127.0.0.1', ACCESS_ID, ACCESS_KEY, { port: 443, ca: cert.cert });
    try {
      assert.equal(api.protocol, 'https:');
      assert.equal((await api.createVault('on-443')).status, 201);
    } finally {
      api.close();
    }
    // No credentials file: its port would win over the one https:// implies.
    const creds = ['--config-file', `${h.dir}/none.ini`, '-i', ACCESS_ID, '-k', ACCESS_KEY, '--ca-file', cert.certFile];
    for (const args of [['--host', 'https://127.0.0.1'], ['--host', '127.0.0.1', '--port', '443']]) {
      const r = await h.run([...args, ...creds, 'ls']);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /on-443/);
    }
  } finally {
    await server.close(0);
  }
});
