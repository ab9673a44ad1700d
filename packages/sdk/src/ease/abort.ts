// Abort plumbing shared by every long operation: one error type (the client's
// OASAbortError, name 'AbortError'), an abortable sleep, and linked controllers so one
// failing worker stops its siblings.
import { OASAbortError } from '../client/errors.js';

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

export function abortError(operation: string, signal?: AbortSignal): OASAbortError {
  return new OASAbortError(operation, signal?.reason);
}

export function throwIfAborted(signal: AbortSignal | undefined, operation: string): void {
  if (signal?.aborted) throw abortError(operation, signal);
}

/** Resolves after `ms`, or rejects with an AbortError as soon as `signal` fires. */
export function sleep(ms: number, signal: AbortSignal | undefined, operation = 'wait'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(operation, signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(operation, signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `count` workers until each returns. The first failure aborts the shared signal so
 * the others stop (their requests are cancelled), and is the one rethrown once all have
 * settled: no request is left running when this returns or throws.
 */
export async function runWorkers(count: number, signal: AbortSignal | undefined,
  worker: (signal: AbortSignal, index: number) => Promise<void>): Promise<void> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  let first: { error: unknown } | undefined;
  try {
    await Promise.all(Array.from({ length: Math.max(1, count) }, async (_, i) => {
      try {
        await worker(stop.signal, i);
      } catch (error) {
        // A sibling's abort error is a consequence, not the cause: keep the real one.
        if (!first || (isAbortError(first.error) && !isAbortError(error) && !signal?.aborted)) first = { error };
        stop.abort(error);
      }
    }));
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (first) throw first.error;
}
