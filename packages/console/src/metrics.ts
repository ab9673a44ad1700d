// Reads the few series the Server page charts from the Prometheus text of /metrics.

export interface Scrape {
  at: number;
  requests: number;
  bytesIn: number;
  bytesOut: number;
  jobs: Record<string, number>;
  version: string;
  uptime: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$/;

function labels(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of (text ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
  return out;
}

export function parseMetrics(text: string, at: number): Scrape {
  const s: Scrape = { at, requests: 0, bytesIn: 0, bytesOut: 0, jobs: {}, version: '', uptime: 0 };
  for (const line of text.split('\n')) {
    const m = LINE.exec(line.trim());
    if (!m) continue;
    const value = Number(m[4]);
    const l = labels(m[3]);
    switch (m[1]) {
      case 'oas_requests_total': if (l.operation !== 'Console') s.requests += value; break;
      case 'oas_bytes_received_total': s.bytesIn = value; break;
      case 'oas_bytes_sent_total': s.bytesOut = value; break;
      case 'oas_jobs': s.jobs[l.state ?? '?'] = value; break;
      case 'oas_build_info': s.version = l.version ?? ''; break;
      case 'oas_uptime_seconds': s.uptime = value; break;
    }
  }
  return s;
}

/** Per-second rates between consecutive scrapes. */
export function rates(scrapes: Scrape[], pick: (s: Scrape) => number): number[] {
  const out: number[] = [];
  for (let i = 1; i < scrapes.length; i++) {
    const dt = (scrapes[i]!.at - scrapes[i - 1]!.at) / 1000;
    out.push(dt > 0 ? Math.max(0, pick(scrapes[i]!) - pick(scrapes[i - 1]!)) / dt : 0);
  }
  return out;
}
