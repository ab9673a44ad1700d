// Web Worker: etag and tree etag of a File, part by part, read in 4 MiB slices (memory stays
// flat whatever the file size; the page stays responsive). Parts are whole MiB multiples, so
// the parts' tree etags combine to the file's (protocol.md §3.4).
import { PortableChecksumHasher, combineTreeEtags } from '../../sdk/src/protocol/browser.js';
import type { HashRequest, HashReply } from './hash-protocol.js';

const SLICE = 4 * 1024 * 1024;
const scope = self as unknown as { onmessage: ((e: MessageEvent<HashRequest>) => void) | null; postMessage(m: HashReply): void };

scope.onmessage = (e) => {
  hashFile(e.data).catch((err: unknown) => scope.postMessage({ type: 'error', message: String((err as Error).message ?? err) }));
};

async function hashFile({ file, partSize }: HashRequest): Promise<void> {
  const parts: Array<{ etag: string; treeEtag: string }> = [];
  let hashed = 0;
  let lastReport = 0;
  for (let start = 0; start < file.size || (start === 0 && parts.length === 0); start += partSize) {
    const end = Math.min(start + partSize, file.size);
    const hasher = new PortableChecksumHasher();
    for (let at = start; at < end; at += SLICE) {
      const bytes = new Uint8Array(await file.slice(at, Math.min(at + SLICE, end)).arrayBuffer());
      hasher.update(bytes);
      hashed += bytes.byteLength;
      const now = performance.now();
      if (now - lastReport > 100) { scope.postMessage({ type: 'progress', hashed }); lastReport = now; }
    }
    const { etag, treeEtag } = hasher.digest();
    parts.push({ etag, treeEtag });
    if (end >= file.size) break;
  }
  scope.postMessage({ type: 'progress', hashed });
  scope.postMessage({ type: 'done', parts, treeEtag: combineTreeEtags(parts.map((p) => p.treeEtag)) });
}
