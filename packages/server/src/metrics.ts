// Prometheus text exposition (no dependency): requests by operation and status, bytes in
// and out, request latency histogram per operation, and jobs by state (read at scrape time).
import { readFileSync } from 'node:fs';
import type { JobStatus } from './store/meta/types.js';

/** The server package's version (package.json is one level above both src/ and dist/). */
export const SERVER_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private bytesIn = 0;
  private bytesOut = 0;
  private readVerifyFailures = 0;
  private readonly timedOut = { idle: 0, headers: 0 };
  private refusedConnections = 0;
  private readonly started = Date.now();

  observe(operation: string, status: number, seconds: number, bytesIn: number, bytesOut: number): void {
    const key = `${operation}\u0000${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let h = this.latency.get(operation);
    if (!h) {
      h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.latency.set(operation, h);
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++;
    h.sum += seconds;
    h.count++;
    if (bytesIn > 0) this.bytesIn += bytesIn;
    if (bytesOut > 0) this.bytesOut += bytesOut;
  }

  /** Stored bytes failed their leaf check on the way out (the read was stopped). */
  readVerifyFailed(): void {
    this.readVerifyFailures++;
  }

  /** A connection was cut: silent too long ('idle') or its headers too slow ('headers'). */
  connectionTimedOut(reason: 'idle' | 'headers'): void {
    this.timedOut[reason]++;
  }

  /** A connection over the limit was closed as soon as it was accepted. */
  connectionRefused(): void {
    this.refusedConnections++;
  }

  render(jobs: Record<JobStatus, number> | null, activeJobs: number): string {
    const out: string[] = [];
    out.push('# HELP oas_requests_total HTTP requests by OAS operation and status code.');
    out.push('# TYPE oas_requests_total counter');
    for (const [key, n] of [...this.requests].sort()) {
      const [op, status] = key.split('\u0000');
      out.push(`oas_requests_total{operation="${escapeLabel(op!)}",status="${status}"} ${n}`);
    }
    out.push('# HELP oas_bytes_received_total Request body bytes received (archive and part uploads, job requests).');
    out.push('# TYPE oas_bytes_received_total counter');
    out.push(`oas_bytes_received_total ${this.bytesIn}`);
    out.push('# HELP oas_bytes_sent_total Response body bytes sent.');
    out.push('# TYPE oas_bytes_sent_total counter');
    out.push(`oas_bytes_sent_total ${this.bytesOut}`);
    out.push('# HELP oas_read_verify_failures_total Reads of stored data stopped because a 1 MiB leaf did not match its stored checksum.');
    out.push('# TYPE oas_read_verify_failures_total counter');
    out.push(`oas_read_verify_failures_total ${this.readVerifyFailures}`);
    out.push('# HELP oas_connections_timed_out_total Connections closed by a timeout: no byte either way for the idle timeout (idle), headers slower than the headers timeout (headers).');
    out.push('# TYPE oas_connections_timed_out_total counter');
    for (const reason of ['idle', 'headers'] as const) out.push(`oas_connections_timed_out_total{reason="${reason}"} ${this.timedOut[reason]}`);
    out.push('# HELP oas_connections_refused_total Connections closed on arrival because --max-connections were open.');
    out.push('# TYPE oas_connections_refused_total counter');
    out.push(`oas_connections_refused_total ${this.refusedConnections}`);
    out.push('# HELP oas_request_duration_seconds Request latency by OAS operation.');
    out.push('# TYPE oas_request_duration_seconds histogram');
    for (const [op, h] of [...this.latency].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const label = `operation="${escapeLabel(op)}"`;
      BUCKETS.forEach((le, i) => out.push(`oas_request_duration_seconds_bucket{${label},le="${le}"} ${h.counts[i]}`));
      out.push(`oas_request_duration_seconds_bucket{${label},le="+Inf"} ${h.count}`);
      out.push(`oas_request_duration_seconds_sum{${label}} ${h.sum}`);
      out.push(`oas_request_duration_seconds_count{${label}} ${h.count}`);
    }
    if (jobs) {
      out.push('# HELP oas_jobs Jobs by state (unexpired and not yet purged).');
      out.push('# TYPE oas_jobs gauge');
      for (const state of ['InProgress', 'Succeeded', 'Failed'] as const) out.push(`oas_jobs{state="${state}"} ${jobs[state]}`);
    }
    out.push('# HELP oas_jobs_running Jobs running on this node now.');
    out.push('# TYPE oas_jobs_running gauge');
    out.push(`oas_jobs_running ${activeJobs}`);
    out.push('# HELP oas_build_info The server version (always 1).');
    out.push('# TYPE oas_build_info gauge');
    out.push(`oas_build_info{version="${escapeLabel(SERVER_VERSION)}"} 1`);
    out.push('# HELP oas_uptime_seconds Seconds since the server started.');
    out.push('# TYPE oas_uptime_seconds gauge');
    out.push(`oas_uptime_seconds ${(Date.now() - this.started) / 1000}`);
    return `${out.join('\n')}\n`;
  }
}
