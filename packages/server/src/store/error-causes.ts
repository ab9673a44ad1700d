// Store errors arrive wrapped (a verifying reader's message around an S3 error, an
// AggregateError of parallel reads); questions about them are asked of the whole chain.

/** Links followed from an error to its causes: enough for any wrapping this code does. */
const MAX_DEPTH = 8;

/** Whether `test` holds for `err` or an error it wraps (`cause`, AggregateError `errors`). */
export function anyCause(err: unknown, test: (e: object) => boolean): boolean {
  const seen = new Set<unknown>();
  const pending: unknown[] = [err];
  while (pending.length > 0 && seen.size < MAX_DEPTH) {
    const e = pending.shift();
    if (typeof e !== 'object' || e === null || seen.has(e)) continue;
    seen.add(e);
    if (test(e)) return true;
    const { cause, errors } = e as { cause?: unknown; errors?: unknown };
    if (cause !== undefined) pending.push(cause);
    if (Array.isArray(errors)) pending.push(...errors);
  }
  return false;
}
