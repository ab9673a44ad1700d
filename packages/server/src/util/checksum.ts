// The sdk's shared leaf workers, as servers use them: blob writes hash their leaves there
// (store/blob/leaf-families.ts) and, for large uploads, the content MD5 too (an MD5 chain on
// one worker), so the request thread only receives and copies. The workers are shared by
// every server of the process and stopped after the last one.
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
