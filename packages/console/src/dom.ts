// A tiny element builder and the formatting every page shares.
import { t, lang } from './i18n.js';

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

/** `h('button', { onclick, 'aria-label': ... }, 'text')`: attributes, `on*` listeners, children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatDate(text: string | null | undefined): string {
  if (!text) return t('common.never');
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return text;
  return d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

/** A date in a table cell: compact, the full date and time in its tooltip. */
export function dateCell(text: string | null | undefined): HTMLElement {
  const d = new Date(text ?? '');
  if (!text || Number.isNaN(d.getTime())) return h('td', {}, formatDate(text));
  const short = d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'short', timeStyle: 'short' });
  return h('td', {}, h('time', { datetime: d.toISOString(), title: formatDate(text) }, short));
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Two overlapping squares, drawn (no icon font, no glyph the system may lack). */
function copyIcon(): SVGElement {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('aria-hidden', 'true');
  for (const [x, y] of [[5, 5], [2, 2]]) {
    const r = document.createElementNS(SVG_NS, 'rect');
    for (const [k, v] of Object.entries({ x, y, width: 9, height: 9, rx: 1.5 })) r.setAttribute(k, String(v));
    svg.append(r);
  }
  return svg;
}

/**
 * A long id in constant width: monospace, the middle elided (the whole id in the title, for
 * screen readers and in the copy button's clipboard), so long ids never shift the layout.
 */
export function idCell(id: string, label: string): HTMLElement {
  const short = id.length > 20 ? `${id.slice(0, 8)}…${id.slice(-8)}` : id;
  const copy = h('button', {
    class: 'copy', type: 'button', 'aria-label': `${t('common.copy')} ${label} ${id}`, title: t('common.copy'),
    onclick: () => {
      void navigator.clipboard?.writeText(id).then(() => {
        copy.classList.add('done');
        setTimeout(() => copy.classList.remove('done'), 1200);
      }, () => undefined);
    },
  }, copyIcon());
  return h('span', { class: 'id' }, h('code', { title: id, 'data-id': id }, short), copy);
}

/** A status line for a page: info or error, announced to screen readers. */
export function notice(): { el: HTMLElement; info(text: string): void; error(text: string): void; clear(): void } {
  const el = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite' });
  return {
    el,
    info(text) { el.className = 'notice info'; el.textContent = text; },
    error(text) { el.className = 'notice error'; el.setAttribute('role', 'alert'); el.textContent = text; },
    clear() { el.className = 'notice'; el.textContent = ''; },
  };
}

export function progressBar(label: string): { el: HTMLElement; set(done: number, total: number, extra?: string): void } {
  const bar = h('progress', { max: 1, value: 0, 'aria-label': label });
  const text = h('span', { class: 'progress-text' });
  return {
    el: h('div', { class: 'progress' }, bar, text),
    set(done, total, extra = '') {
      bar.max = Math.max(total, 1);
      bar.value = done;
      text.textContent = `${label} ${formatBytes(done)} / ${formatBytes(total)} (${total > 0 ? Math.floor((done / total) * 100) : 100}%)${extra ? ` · ${extra}` : ''}`;
    },
  };
}

/** A sortable table header cell. */
export function th(text: string, sortKey?: string, onSort?: (key: string) => void, sorted?: 'ascending' | 'descending'): HTMLElement {
  if (!sortKey || !onSort) return h('th', { scope: 'col' }, text);
  return h('th', { scope: 'col', 'aria-sort': sorted ?? 'none' },
    h('button', { type: 'button', class: 'sort', onclick: () => onSort(sortKey) }, text, sorted === 'ascending' ? ' ▲' : sorted === 'descending' ? ' ▼' : ''));
}
