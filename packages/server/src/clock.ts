// Time as the server sees it. Tests give the server a clock they move by hand, so job
// expiry, key caching and shutdown grace are tested without waiting.
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves once `ms` of this clock's time have passed (never keeps the process alive). */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref()),
};
