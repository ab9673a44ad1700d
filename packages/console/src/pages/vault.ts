// One vault: its name and figures, and the tabs Archives, Upload, Jobs, Multipart uploads.
import { formatBytes, formatDate, h, idCell } from '../dom.js';
import { t, type Key } from '../i18n.js';
import { archivesTab } from './archives.js';
import { uploadTab } from './upload.js';
import { jobsTab } from './jobs.js';
import { multipartTab } from './multipart.js';
import type { PageContext } from './context.js';

const TABS: Array<[string, Key, (ctx: PageContext, vaultId: string, panel: HTMLElement) => Promise<void>]> = [
  ['archives', 'tab.archives', archivesTab],
  ['upload', 'tab.upload', uploadTab],
  ['jobs', 'tab.jobs', jobsTab],
  ['multipart', 'tab.multipart', multipartTab],
];

/** Arrow keys, Home and End move between the tabs, as screen-reader users expect of a tablist. */
function tabKeys(e: Event): void {
  const key = (e as KeyboardEvent).key;
  const tabs = [...(e.currentTarget as HTMLElement).querySelectorAll<HTMLElement>('[role="tab"]')];
  const at = tabs.indexOf(document.activeElement as HTMLElement);
  if (at < 0) return;
  const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[key];
  if (next === undefined) return;
  e.preventDefault();
  tabs[(next + tabs.length) % tabs.length]!.focus();
}

export async function vaultPage(ctx: PageContext): Promise<void> {
  const vaultId = ctx.params[1]!;
  const current = TABS.find(([name]) => name === ctx.params[2]) ?? TABS[0]!;
  const panel = h('section', { id: 'tab-panel', role: 'tabpanel', 'aria-labelledby': `tab-${current[0]}` });
  const facts = h('p', { class: 'facts' });
  const title = h('h1', {}, '…');
  ctx.main.append(
    h('nav', { class: 'crumbs', 'aria-label': 'breadcrumb' }, h('a', { href: '#/vaults' }, t('nav.vaults')), ' / '),
    h('div', { class: 'page-head' }, title, facts),
    h('div', { class: 'tabs', role: 'tablist', onkeydown: tabKeys }, ...TABS.map(([name, key]) => h('a', {
      id: `tab-${name}`, role: 'tab', href: `#/vaults/${encodeURIComponent(vaultId)}/${name}`,
      'aria-selected': name === current[0] ? 'true' : 'false',
    }, t(key)))),
    panel);
  const vault = await ctx.api.describeVault(vaultId);
  title.textContent = vault.VaultName;
  facts.replaceChildren(idCell(vault.VaultId, t('vaults.id')),
    ` · ${t('vaults.archives')}: ${vault.NumberOfArchives} · ${t('vaults.size')}: ${formatBytes(vault.SizeInBytes)}`
    + ` · ${t('vaults.inventory')}: ${formatDate(vault.LastInventoryDate)}`);
  await current[2](ctx, vaultId, panel);
}
