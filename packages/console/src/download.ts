// Downloads a job's output and checks it against its tree etag before calling it done.
// With the File System Access API (Chrome, Edge) it streams to a file the user picks and
// commits the file only when the tree etag matches (abort() otherwise discards it). Else
// the verified bytes are kept in memory as a Blob of chunks and offered as a link: bounded
// by MEMORY_LIMIT, since a browser tab cannot hold more.
import { PortableChecksumHasher } from '../../sdk/src/protocol/browser.js';
import type { Api } from './api.js';

export const MEMORY_LIMIT = 2 * 1024 * 1024 * 1024;

export class TreeEtagMismatch extends Error {
  constructor(readonly expected: string, readonly actual: string) {
    super(`tree etag ${actual} does not match ${expected}`);
  }
}

interface Sink {
  write(chunk: Uint8Array): Promise<void> | void;
}

async function pump(api: Api, vaultId: string, jobId: string, expected: string, sink: Sink,
  onProgress: (done: number, total: number) => void, signal: AbortSignal): Promise<number> {
  const res = await api.jobOutput(vaultId, jobId, signal);
  const total = Number(res.headers.get('content-length') ?? 0);
  const treeEtag = (res.headers.get('x-oas-tree-etag') || expected).toUpperCase();
  const hasher = new PortableChecksumHasher();
  const reader = res.body!.getReader();
  let done = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    hasher.update(value);
    await sink.write(value);
    done += value.byteLength;
    onProgress(done, total);
  }
  const actual = hasher.digest().treeEtag;
  if (treeEtag && actual !== treeEtag) throw new TreeEtagMismatch(treeEtag, actual);
  return done;
}

/** Into memory; resolves with a Blob only once the bytes are verified. */
export async function downloadToBlob(api: Api, vaultId: string, jobId: string, expected: string,
  onProgress: (done: number, total: number) => void, signal: AbortSignal): Promise<Blob> {
  const chunks: Uint8Array[] = [];
  await pump(api, vaultId, jobId, expected, { write: (c) => { chunks.push(c); } }, onProgress, signal);
  return new Blob(chunks as BlobPart[], { type: 'application/octet-stream' });
}

interface WritableFile {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}
type SavePicker = (opts: { suggestedName: string }) => Promise<{ createWritable(): Promise<WritableFile> }>;

export function canSaveToDisk(): boolean {
  return typeof (window as unknown as { showSaveFilePicker?: unknown }).showSaveFilePicker === 'function';
}

/** Streams to a file the user picks; the file appears only if the tree etag matches. */
export async function downloadToDisk(api: Api, vaultId: string, jobId: string, expected: string, name: string,
  onProgress: (done: number, total: number) => void, signal: AbortSignal): Promise<void> {
  const picker = (window as unknown as { showSaveFilePicker: SavePicker }).showSaveFilePicker;
  const handle = await picker({ suggestedName: name });
  const file = await handle.createWritable();
  try {
    await pump(api, vaultId, jobId, expected, { write: (c) => file.write(c) }, onProgress, signal);
  } catch (err) {
    await file.abort().catch(() => undefined);
    throw err;
  }
  await file.close();
}
