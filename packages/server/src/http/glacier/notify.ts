// Job-completion notifications (glacier.md, "Jobs and tiers"): AWS publishes the DescribeJob
// JSON to the job's SNS topic; we POST that JSON to a URL that the server's configuration
// maps the topic to (`--notify TOPIC_ARN=URL`). Best effort: a few retries with backoff,
// then a log line. A notification never fails or delays the job.

/** One `TOPIC_ARN=URL` mapping; throws a one-line error for a bad value. */
export function parseNotifyMapping(value: string): { topicArn: string; url: URL } {
  const eq = value.indexOf('=');
  const topicArn = eq < 0 ? '' : value.slice(0, eq).trim();
  if (!/^arn:[^\s=]+$/.test(topicArn)) {
    throw new Error(`--notify expects TOPIC_ARN=URL, e.g. arn:aws:sns:us-east-1:012345678901:done=http://127.0.0.1:9000/hook; got '${value}'`);
  }
  let url: URL;
  try {
    url = new URL(value.slice(eq + 1).trim());
  } catch {
    throw new Error(`--notify ${topicArn}: '${value.slice(eq + 1)}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--notify ${topicArn}: the URL must be http or https, not ${url.protocol}`);
  return { topicArn, url };
}

export interface JobNotifierOptions {
  /** Attempts per notification (default 5). */
  attempts?: number;
  /** First retry delay; doubled for each further one (default 1 s). */
  baseDelayMs?: number;
  /** Per-attempt timeout (default 10 s). */
  timeoutMs?: number;
  /** How to wait between attempts (tests pass one that records instead of sleeping). */
  wait?: (ms: number) => Promise<void>;
  log?: (message: string) => void;
}

export type NotifyOutcome = 'sent' | 'no-mapping' | 'failed';

export class JobNotifier {
  private readonly urls: Map<string, URL>;
  /** Aborted by close(): requests in flight are cut and no retry waits any longer. */
  private readonly closing = new AbortController();
  private readonly pending = new Set<Promise<NotifyOutcome>>();

  constructor(mappings: Iterable<{ topicArn: string; url: URL }>, private readonly options: JobNotifierOptions = {}) {
    this.urls = new Map([...mappings].map((m) => [m.topicArn, m.url]));
  }

  /** Whether a topic has a URL (callers skip building the body otherwise). */
  has(topicArn: string | null): boolean {
    return topicArn !== null && this.urls.has(topicArn);
  }

  /** POSTs `job` (the DescribeJob JSON) to the URL of its topic. Never throws. */
  notify(topicArn: string | null, job: unknown): Promise<NotifyOutcome> {
    const sending = this.send(topicArn, job);
    this.pending.add(sending);
    void sending.finally(() => this.pending.delete(sending));
    return sending;
  }

  /** Stops retrying, cuts requests in flight, and waits for every notification to settle (shutdown). */
  async close(): Promise<void> {
    this.closing.abort();
    await Promise.allSettled([...this.pending]);
  }

  private async send(topicArn: string | null, job: unknown): Promise<NotifyOutcome> {
    const url = topicArn === null ? undefined : this.urls.get(topicArn);
    if (url === undefined) return 'no-mapping';
    const attempts = this.options.attempts ?? 5;
    const closing = this.closing.signal;
    const wait = this.options.wait ?? ((ms: number) => new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        closing.removeEventListener('abort', done);
        resolve();
      }
      closing.addEventListener('abort', done, { once: true });
    }));
    const body = JSON.stringify(job);
    let last = '';
    let tried = 0;
    for (let attempt = 1; attempt <= attempts && !closing.aborted; attempt++) {
      tried = attempt;
      try {
        const res = await fetch(url, {
          method: 'POST', body, headers: { 'Content-Type': 'application/json' },
          signal: AbortSignal.any([AbortSignal.timeout(this.options.timeoutMs ?? 10_000), closing]),
        });
        await res.body?.cancel();
        if (res.ok) return 'sent';
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (attempt < attempts) await wait((this.options.baseDelayMs ?? 1000) * 2 ** (attempt - 1));
    }
    const why = closing.aborted ? `the server is shutting down (${last || 'not sent'})` : last;
    this.options.log?.(`job notification to ${url.origin} for ${topicArn} not delivered after ${tried} attempts: ${why}`);
    return 'failed';
  }
}
