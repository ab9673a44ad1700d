// Uploads a File to a vault: hashed in a worker, then one request (small files) or a
// parallel multipart upload. The multipart upload's id, part size and the file's identity
// (name, size, lastModified) are kept in localStorage, so after a cancel or a reload the
// same file picked again resumes: parts already on the server with the same range and
// checksums are skipped, the rest are sent.
import { Api, OasError, partRange } from './api.js';
import { hashInWorker } from './hash-protocol.js';

const MIB = 1024 * 1024;
/** Files up to this size go in one request; larger ones as parts of this size (or larger). */
export const BASE_PART = 8 * MIB;
const MAX_PARTS = 10_000;
const PARALLEL = 3;
const STORE = 'oas-console.uploads';

export interface SavedUpload {
  vaultId: string;
  uploadId: string;
  partSize: number;
  name: string;
  size: number;
  lastModified: number;
  description: string;
}

export function savedUploads(): SavedUpload[] {
  try {
    const list = JSON.parse(localStorage.getItem(STORE) ?? '[]') as SavedUpload[];
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function writeSaved(list: SavedUpload[]): void {
  localStorage.setItem(STORE, JSON.stringify(list));
}

export function forgetUpload(uploadId: string): void {
  writeSaved(savedUploads().filter((u) => u.uploadId !== uploadId));
}

function sameFile(u: SavedUpload, vaultId: string, file: File): boolean {
  return u.vaultId === vaultId && u.name === file.name && u.size === file.size && u.lastModified === file.lastModified;
}

export function partSizeFor(size: number): number {
  let p = BASE_PART;
  while (Math.ceil(size / p) > MAX_PARTS) p *= 2;
  return p;
}

export interface UploadState {
  phase: 'hashing' | 'sending' | 'done' | 'cancelled' | 'failed';
  file: File;
  hashed: number;
  sent: number;
  /** Bytes per second over the last few seconds. */
  speed: number;
  partsDone: number;
  partsTotal: number;
  resumedParts: number;
  uploadId: string;
  archiveId: string;
  error: OasError | Error | null;
}

export class UploadJob {
  readonly state: UploadState;
  private readonly abort = new AbortController();
  private readonly samples: Array<[number, number]> = [];

  constructor(private readonly api: Api, readonly vaultId: string, file: File, private readonly description: string,
    private readonly onChange: () => void) {
    this.state = {
      phase: 'hashing', file, hashed: 0, sent: 0, speed: 0, partsDone: 0, partsTotal: 0, resumedParts: 0,
      uploadId: '', archiveId: '', error: null,
    };
  }

  private cancelled = false;

  cancel(): void {
    this.cancelled = true;
    this.abort.abort();
  }

  async run(): Promise<void> {
    try {
      await this.upload();
      this.state.phase = 'done';
    } catch (err) {
      this.state.phase = this.cancelled ? 'cancelled' : 'failed';
      this.state.error = err as Error;
    }
    this.onChange();
  }

  private progress(sent: number): void {
    this.state.sent = sent;
    const now = performance.now();
    this.samples.push([now, sent]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 3000) this.samples.shift();
    const [t0, b0] = this.samples[0]!;
    if (now > t0) this.state.speed = ((sent - b0) * 1000) / (now - t0);
    this.onChange();
  }

  private async upload(): Promise<void> {
    const { file } = this.state;
    const signal = this.abort.signal;
    let saved = savedUploads().find((u) => sameFile(u, this.vaultId, file));
    const partSize = saved?.partSize ?? partSizeFor(file.size);
    const hashes = await hashInWorker(file, partSize, (n) => { this.state.hashed = n; this.onChange(); }, signal);
    this.state.phase = 'sending';
    this.state.partsTotal = hashes.parts.length;
    this.onChange();

    if (!saved && file.size <= BASE_PART) {
      const headers: Array<[string, string]> = [['x-oas-content-etag', hashes.parts[0]!.etag], ['x-oas-tree-etag', hashes.treeEtag]];
      if (this.description) headers.push(['x-oas-archive-description', this.description]);
      const got = await this.api.upload(`/vaults/${encodeURIComponent(this.vaultId)}/archives`, file, headers, (n) => this.progress(n), signal);
      this.state.archiveId = got('x-oas-archive-id');
      this.state.partsDone = 1;
      return;
    }

    const done = new Set<number>();
    if (saved) {
      try {
        const parts = await this.api.listParts(this.vaultId, saved.uploadId);
        const onServer = new Map(parts.map((p) => [p.RangeInBytes, p]));
        hashes.parts.forEach((h, i) => {
          const start = i * partSize;
          const p = onServer.get(`${start}-${Math.min(start + partSize, file.size) - 1}`);
          if (p && p.ContentEtag.toUpperCase() === h.etag && p.TreeEtag.toUpperCase() === h.treeEtag) done.add(i);
        });
      } catch (err) {
        if ((err as OasError).code !== 'MultipartUploadNotExist') throw err;
        forgetUpload(saved.uploadId);
        saved = undefined;
      }
    }
    if (!saved) {
      const uploadId = await this.api.initiateUpload(this.vaultId, partSize, this.description);
      saved = { vaultId: this.vaultId, uploadId, partSize, name: file.name, size: file.size, lastModified: file.lastModified, description: this.description };
      writeSaved([...savedUploads(), saved]);
    }
    const uploadId = saved.uploadId;
    this.state.uploadId = uploadId;
    this.state.resumedParts = done.size;
    this.state.partsDone = done.size;

    const inFlight = new Map<number, number>();
    let base = [...done].reduce((n, i) => n + Math.min(partSize, file.size - i * partSize), 0);
    const report = () => this.progress(base + [...inFlight.values()].reduce((a, b) => a + b, 0));
    report();
    const queue = hashes.parts.map((_, i) => i).filter((i) => !done.has(i));
    const path = `/vaults/${encodeURIComponent(this.vaultId)}/multipart-uploads/${encodeURIComponent(uploadId)}`;
    const worker = async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        const start = i * partSize;
        const end = Math.min(start + partSize, file.size);
        inFlight.set(i, 0);
        await this.api.upload(path, file.slice(start, end), [
          ['Content-Range', partRange(start, end - 1)],
          ['x-oas-content-etag', hashes.parts[i]!.etag], ['x-oas-tree-etag', hashes.parts[i]!.treeEtag],
        ], (n) => { inFlight.set(i, n); report(); }, signal);
        inFlight.delete(i);
        base += end - start;
        this.state.partsDone++;
        report();
      }
    };
    const workers = Array.from({ length: Math.min(PARALLEL, queue.length) }, worker);
    const results = await Promise.allSettled(workers);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      this.abort.abort(); // stop the other parts too
      throw failed.reason;
    }
    this.state.archiveId = await this.api.completeUpload(this.vaultId, uploadId, file.size, hashes.treeEtag);
    forgetUpload(uploadId);
  }
}
