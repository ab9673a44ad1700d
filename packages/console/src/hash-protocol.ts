// Messages between the page and hash-worker.ts.
export interface HashRequest {
  file: File;
  partSize: number;
}

export type HashReply =
  | { type: 'progress'; hashed: number }
  | { type: 'done'; parts: Array<{ etag: string; treeEtag: string }>; treeEtag: string }
  | { type: 'error'; message: string };

export interface FileHashes {
  parts: Array<{ etag: string; treeEtag: string }>;
  treeEtag: string;
}

declare const HASH_WORKER_URL: string;

/** Hashes a file in a worker; `signal` stops the worker. */
export function hashInWorker(file: File, partSize: number, onProgress: (hashed: number) => void, signal: AbortSignal): Promise<FileHashes> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(HASH_WORKER_URL, location.href));
    const stop = () => { worker.terminate(); reject(new DOMException('cancelled', 'AbortError')); };
    if (signal.aborted) { stop(); return; }
    signal.addEventListener('abort', stop, { once: true });
    worker.onmessage = (e: MessageEvent<HashReply>) => {
      const m = e.data;
      if (m.type === 'progress') { onProgress(m.hashed); return; }
      signal.removeEventListener('abort', stop);
      worker.terminate();
      if (m.type === 'done') resolve({ parts: m.parts, treeEtag: m.treeEtag });
      else reject(new Error(m.message));
    };
    worker.onerror = (e) => { signal.removeEventListener('abort', stop); worker.terminate(); reject(new Error(e.message || 'hash worker failed')); };
    worker.postMessage({ file, partSize } satisfies HashRequest);
  });
}
