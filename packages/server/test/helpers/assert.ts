import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isId } from '@oas/sdk';
import type { Resp } from './client.js';
import { s3BlobObjects } from './backends.js';

/** An OAS JSON error with its request id in header and body. */
export function assertError(res: Resp, status: number, code: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers['content-type'], 'application/json', res.text);
  assert.equal(res.json?.code, code, res.text);
  assert.equal(res.json.type, status >= 500 ? 'server' : 'client');
  assert.equal(typeof res.json.message, 'string');
  assert.ok(isId(res.headers['x-oas-request-id']));
  assert.equal(res.json.request_id, res.headers['x-oas-request-id']);
}

/** Every file under a directory (relative paths), recursively. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string) => {
    let entries;
    try { entries = await readdir(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(d, e.name), `${prefix}${e.name}/`);
      else out.push(`${prefix}${e.name}`);
    }
  };
  await walk(dir, '');
  return out.sort();
}

/**
 * Blob files (committed and temporary) of a test server's data directory; for a server on
 * S3 (OAS_TEST_BACKEND), the objects under its prefix (committed blobs and markers of
 * writes in progress), which count the same way: two per committed blob.
 */
export async function blobFiles(dataDir: string): Promise<string[]> {
  return (await s3BlobObjects(dataDir)) ?? listFiles(join(dataDir, 'blobs'));
}

export async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
