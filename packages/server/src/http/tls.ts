// HTTPS (--tls-cert, --tls-key): the PEM files are read at start-up and again on SIGHUP,
// when the new pair replaces the old one for new connections (server.setSecureContext);
// open connections keep theirs. A pair that fails to load is refused and the old one stays.
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { Server as HttpsServer } from 'node:https';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
}

/** Reads and checks the pair (the key must match the certificate); a clear error otherwise. */
export async function loadTlsPair(files: TlsFiles): Promise<TlsPair> {
  const read = async (path: string, what: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const pair = { cert: await read(files.certFile, 'certificate'), key: await read(files.keyFile, 'key') };
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new Error(`unusable TLS certificate ${files.certFile} / key ${files.keyFile}: ${(err as Error).message}`);
  }
  return pair;
}

/** Loads the pair again and serves it to new connections. */
export async function reloadTls(server: HttpsServer, files: TlsFiles): Promise<void> {
  server.setSecureContext(await loadTlsPair(files));
}
