// HTTPS: --tls-cert/--tls-key serve TLS; the SDK trusts a given CA (and nothing self-signed
// without it); a bad pair stops the start with a clear message; SIGHUP re-reads the files
// for new connections while an open keep-alive connection goes on with the old certificate,
// and a pair that fails to load on SIGHUP leaves the old one in place.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { OASAPI } from '@oas/sdk';
import { createServer } from '../src/app.js';
import { MAIN } from './helpers/cli.js';
import { makeCert, type TestCert } from './helpers/tls.js';
import { ROOT_ID, ROOT_SECRET, startServer, tempDir, type TestServer } from './helpers/server.js';

let dir: string;
let a: TestCert;
let b: TestCert;
let t: TestServer;

before(async () => {
  dir = await tempDir('oas-tls-test-');
  [a, b] = await Promise.all([makeCert(dir, 'a'), makeCert(dir, 'b')]);
  t = await startServer({ tlsCert: a.certFile, tlsKey: a.keyFile });
});

after(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

test('the SDK speaks HTTPS to the server with the CA it is given, and refuses an unknown certificate', async () => {
  assert.match(t.server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const api = new OASAPI('127.0.0.1', ROOT_ID, ROOT_SECRET, { port: t.port, secure: true, ca: a.cert });
  try {
    assert.equal(api.protocol, 'https:');
    assert.equal((await api.createVault('tls-vault')).status, 201);
    const listed = await api.listVault();
    assert.equal(listed.status, 200);
    assert.match(await listed.text(), /tls-vault/);
  } finally {
    api.close();
  }
  for (const ca of [undefined, b.cert]) {
    const untrusting = new OASAPI('127.0.0.1', ROOT_ID, ROOT_SECRET, { port: t.port, secure: true, ...(ca ? { ca } : {}) });
    try {
      await assert.rejects(untrusting.listVault(), /self[- ]signed certificate/);
    } finally {
      untrusting.close();
    }
  }
  // Plain HTTP to the HTTPS port gets nowhere, and the server goes on.
  const plain = new OASAPI('127.0.0.1', ROOT_ID, ROOT_SECRET, { port: t.port, timeoutMs: 5000 });
  try {
    await assert.rejects(plain.listVault());
  } finally {
    plain.close();
  }
  const again = new OASAPI('127.0.0.1', ROOT_ID, ROOT_SECRET, { port: t.port, secure: true, ca: a.cert });
  assert.equal((await again.listVault()).status, 200);
  again.close();
});

test('a TLS pair that does not load stops the start with a clear message', async () => {
  const data = await tempDir();
  try {
    await assert.rejects(createServer({ dataDir: data, port: 0, logLevel: 'silent', tlsCert: a.certFile, tlsKey: b.keyFile }),
      /unusable TLS certificate .*a\.crt \/ key .*b\.key/);
    await assert.rejects(createServer({ dataDir: data, port: 0, logLevel: 'silent', tlsCert: `${dir}/none.crt`, tlsKey: a.keyFile }),
      /cannot read the TLS certificate .*none\.crt: ENOENT/);
  } finally {
    await rm(data, { recursive: true, force: true });
  }
});

/** GET /health on `agent`: the certificate the server showed and whether the socket was reused. */
function health(port: number, agent: https.Agent): Promise<{ status: number; fingerprint: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/health', agent }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, fingerprint, reused: req.reusedSocket }));
    });
    req.on('error', reject);
  });
}

/** Resolves with the first match of `re` in the child's output. */
function waitFor(child: ChildProcess, re: RegExp, seen: { text: string }): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(seen.text);
      if (m) {
        child.stdout!.off('data', check);
        child.off('exit', onExit);
        resolve(m);
      }
    };
    const onExit = () => reject(new Error(`the server exited before printing ${re}:\n${seen.text}`));
    child.stdout!.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

test('SIGHUP serves a renewed certificate to new connections; an open keep-alive connection survives', async () => {
  const certFile = `${dir}/live.crt`;
  const keyFile = `${dir}/live.key`;
  await copyFile(a.certFile, certFile);
  await copyFile(a.keyFile, keyFile);
  const data = await tempDir();
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN, '--data-dir', data, '--port', '0',
    '--tls-cert', certFile, '--tls-key', keyFile, '--log-level', 'info', '--scrub', 'off'], {
    env: { ...process.env, OAS_ROOT_ACCESS_KEY_ID: ROOT_ID, OAS_ROOT_ACCESS_KEY_SECRET: ROOT_SECRET, OAS_DATA_DIR: '', OAS_PORT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const seen = { text: '' };
  child.stdout!.on('data', (d: Buffer) => { seen.text += d.toString(); });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const kept = new https.Agent({ keepAlive: true, maxSockets: 1, ca: [a.cert, b.cert] });
  try {
    const port = Number((await waitFor(child, /"url":"https:\/\/127\.0\.0\.1:(\d+)"/, seen))[1]);
    const first = await health(port, kept);
    assert.deepEqual([first.status, first.fingerprint], [200, a.fingerprint]);

    await copyFile(b.certFile, certFile);
    await copyFile(b.keyFile, keyFile);
    child.kill('SIGHUP');
    await waitFor(child, /TLS certificate reloaded/, seen);
    const onOpen = await health(port, kept);
    assert.deepEqual(onOpen, { status: 200, fingerprint: a.fingerprint, reused: true }, 'the open connection goes on');
    const fresh = new https.Agent({ ca: [a.cert, b.cert] });
    assert.equal((await health(port, fresh)).fingerprint, b.fingerprint, 'a new connection gets the new certificate');

    await writeFile(certFile, 'not a certificate\n');
    child.kill('SIGHUP');
    await waitFor(child, /TLS certificate not reloaded \(the old one stays\)/, seen);
    assert.equal((await health(port, new https.Agent({ ca: [a.cert, b.cert] }))).fingerprint, b.fingerprint);
    assert.equal(child.exitCode, null, 'still running');
  } finally {
    kept.destroy();
    child.kill('SIGTERM');
    await exited;
    await rm(data, { recursive: true, force: true });
  }
});
