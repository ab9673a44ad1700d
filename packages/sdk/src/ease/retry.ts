// One retry policy for every transfer: network errors, 5xx and InvalidDigest are retried
// with exponential backoff and full jitter; other client errors are final at once.
import { OASTransportError } from '../client/errors.js';
import { OASError } from '../protocol/errors.js';
import { isTransientNetworkError } from '../protocol/transient.js';
import { abortError, isAbortError, sleep } from './abort.js';

export interface RetryOptions {
  /** Tries in all, the first included (default 5; 1 disables retries). */
  attempts?: number;
  /** Cap of the first backoff; doubles each retry (default 250 ms). */
  baseDelayMs?: number;
  /** Largest backoff (default 20 s). */
  maxDelayMs?: number;
  /** Told about each retry before its wait (logging, counting). */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

/** Whether another try may succeed. Aborts never are; local mistakes (TypeError…) never are. */
export function isRetryable(error: unknown): boolean {
  if (isAbortError(error)) return false;
  if (error instanceof OASError) {
    // StorageFull waits for an operator to free space: resending (gigabytes, maybe) at once does not help.
    if (error.code === 'StorageFull') return false;
    return error.status >= 500 || (error.code === 'InvalidDigest' && error.type === 'client');
  }
  if (error instanceof OASTransportError) return true;
  if (error instanceof Error) {
    if ((error as { retryable?: unknown }).retryable === true) return true;
    return isTransientNetworkError(error);
  }
  return false;
}

/** The wait before try `attempt + 1`: uniform in [0, min(max, base × 2^(attempt − 1))]. */
export function backoffDelay(attempt: number, options: RetryOptions = {}, random: () => number = Math.random): number {
  const base = options.baseDelayMs ?? 250;
  const max = options.maxDelayMs ?? 20_000;
  return Math.floor(random() * Math.min(max, base * 2 ** Math.max(0, attempt - 1)));
}

/**
 * Calls `fn(attempt)` (1-based) until it resolves, the error is not retryable, or the
 * attempts are used up; the last error is thrown. An abort stops the wait at once.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {},
  signal?: AbortSignal, operation = 'operation'): Promise<T> {
  const attempts = Math.max(1, Math.floor(options.attempts ?? 5));
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw abortError(operation, signal);
    try {
      return await fn(attempt);
    } catch (error) {
      if (signal?.aborted) throw isAbortError(error) ? error : abortError(operation, signal);
      if (attempt >= attempts || !isRetryable(error)) throw error;
      const delayMs = backoffDelay(attempt, options);
      options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, signal, operation);
    }
  }
}
