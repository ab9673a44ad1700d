// The sdk's shared leaf worker, as servers use it: blob writes hash their MD5 leaves there
// (the MD5 leaf family, store/blob/leaf-families.ts) while the content MD5 runs on the
// calling thread, so the two MD5s, the most expensive part of an upload, use both cores.
// The worker is shared by every server of the process and stopped after the last one.
import { leafWorkerStats, stopLeafWorker } from '@oas/sdk';

/** Servers open in this process: the leaf worker is shared by all of them (and the sdk). */
let openServers = 0;

/** A server started: it may hash on the shared leaf worker from now on. */
export function retainHashWorker(): void {
  openServers++;
}

/**
 * A server closed after its requests finished. When it was the last one and the worker has
 * nothing in flight (an sdk client in the same process may still use it), the worker thread
 * is terminated now instead of lingering until its idle timeout.
 */
export async function releaseHashWorker(): Promise<void> {
  openServers = Math.max(0, openServers - 1);
  if (openServers === 0 && leafWorkerStats().inflight === 0) await stopLeafWorker();
}
