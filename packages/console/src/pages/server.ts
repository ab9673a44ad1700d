// Server: health, version, uptime, and small charts of requests, bytes in and out (per
// second, from /metrics scraped every second while the page is open) and jobs by state.
import { formatBytes, h } from '../dom.js';
import { t } from '../i18n.js';
import { parseMetrics, rates, type Scrape } from '../metrics.js';
import type { PageContext } from './context.js';

const SVG = 'http://www.w3.org/2000/svg';
const KEEP = 60;
const EVERY_MS = 1000;

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** A line chart of one or two series, scaled to their maximum. */
function chart(label: string, series: Array<{ values: number[]; cls: string }>, format: (n: number) => string): HTMLElement {
  const w = 320, hgt = 80;
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values));
  const root = svg('svg', { viewBox: `0 0 ${w} ${hgt}`, role: 'img', 'aria-label': label, class: 'chart' });
  root.append(svg('line', { x1: 0, y1: hgt - 0.5, x2: w, y2: hgt - 0.5, class: 'axis' }));
  for (const s of series) {
    // The samples so far span the width; the newest is at the right edge.
    const step = w / Math.max(1, s.values.length - 1);
    const pts = s.values.map((v, i) => `${i * step},${hgt - 2 - (v / max) * (hgt - 6)}`).join(' ');
    root.append(svg('polyline', { points: pts, class: s.cls }));
  }
  const last = series.map((s) => format(s.values[s.values.length - 1] ?? 0)).join(' / ');
  return h('figure', { class: 'card' }, h('figcaption', {}, label, h('span', { class: 'now' }, last)), root as unknown as HTMLElement);
}

/** A bar of a width in percent (set through CSSOM: the page's CSP allows no inline style). */
function bar(state: string, percent: number): HTMLElement {
  const el = h('span', { class: `bar ${state}` });
  el.style.width = `${percent}%`;
  return el;
}

export async function serverPage(ctx: PageContext): Promise<void> {
  const facts = h('dl', { class: 'facts-grid' });
  const charts = h('div', { class: 'charts' });
  ctx.main.append(h('div', { class: 'page-head' }, h('h1', {}, t('server.title'))), facts, charts);
  const scrapes: Scrape[] = [];

  const tick = async () => {
    const [health, metrics] = await Promise.all([
      fetch('/health', { cache: 'no-store' }).then((r) => r.json() as Promise<{ status: string }>).catch(() => null),
      fetch('/metrics', { cache: 'no-store' }).then((r) => (r.ok ? r.text() : null)).catch(() => null),
    ]);
    if (ctx.signal.aborted) return;
    if (metrics) scrapes.push(parseMetrics(metrics, Date.now()));
    if (scrapes.length > KEEP) scrapes.shift();
    const last = scrapes[scrapes.length - 1];
    const fact = (k: string, v: string, id: string) => [h('dt', {}, k), h('dd', { id }, v)];
    facts.replaceChildren(
      ...fact(t('server.health'), health?.status ?? t('server.unavailable'), 'server-health'),
      ...fact(t('server.version'), last?.version || '—', 'server-version'),
      ...fact(t('server.uptime'), last ? `${Math.floor(last.uptime / 3600)}h ${Math.floor((last.uptime % 3600) / 60)}m` : '—', 'server-uptime'));
    const jobs = last?.jobs ?? {};
    const jobMax = Math.max(1, ...Object.values(jobs));
    charts.replaceChildren(
      chart(t('server.requests'), [{ values: rates(scrapes, (s) => s.requests), cls: 'a' }], (n) => n.toFixed(1)),
      chart(`${t('server.bytes')}`, [
        { values: rates(scrapes, (s) => s.bytesIn), cls: 'a' }, { values: rates(scrapes, (s) => s.bytesOut), cls: 'b' },
      ], (n) => formatBytes(n)),
      h('figure', { class: 'card' }, h('figcaption', {}, t('server.jobs')),
        h('ul', { class: 'bars' }, ...Object.entries(jobs).map(([state, n]) => h('li', {},
          h('span', { class: 'bar-label' }, state),
          bar(state, (n / jobMax) * 100),
          h('span', { class: 'bar-value' }, n))))));
  };
  const loop = async () => {
    for (let i = 0; i < 1_000_000 && !ctx.signal.aborted; i++) {
      await tick();
      await new Promise((r) => setTimeout(r, EVERY_MS));
    }
  };
  void loop();
}
