// Self-signed certificates made at test time with openssl (for 127.0.0.1 and localhost),
// for the HTTPS tests of the server, the SDK and oascmd.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface TestCert {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  /** SHA-256 fingerprint, as a TLS socket's getPeerCertificate().fingerprint256 gives it. */
  fingerprint: string;
}

/** Writes `<name>.crt` and `<name>.key` into `dir`. */
export async function makeCert(dir: string, name: string): Promise<TestCert> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
    '-keyout', keyFile, '-out', certFile, '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
  const cert = await readFile(certFile);
  return { certFile, keyFile, cert, key: await readFile(keyFile), fingerprint: new X509Certificate(cert).fingerprint256 };
}
