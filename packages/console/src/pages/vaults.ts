// The vault list: archives, size, creation and last inventory; create and delete with the
// server's own errors shown (not empty, limit reached, ...).
import type { VaultJson } from '../../../sdk/src/protocol/browser.js';
import { OasError } from '../api.js';
import { dateCell, formatBytes, h, idCell, notice, th } from '../dom.js';
import { errorText, t } from '../i18n.js';
import type { PageContext } from './context.js';

export async function vaultsPage(ctx: PageContext): Promise<void> {
  const status = notice();
  const body = h('tbody');
  const name = h('input', { id: 'new-vault', name: 'vaultName', required: true, pattern: '[a-zA-Z0-9_.\\-]{1,128}', autocomplete: 'off' });
  const create = h('form', {
    class: 'inline',
    onsubmit: (e: Event) => {
      e.preventDefault();
      const vault = name.value.trim();
      ctx.api.createVault(vault).then(() => { name.value = ''; status.info(t('vaults.created.ok', { name: vault })); return load(); },
        (err: OasError) => status.error(errorText(err.code, err.message)));
    },
  }, h('label', { for: 'new-vault' }, t('vaults.new')), name, h('button', { type: 'submit', class: 'primary' }, t('vaults.create')));

  const row = (v: VaultJson) => h('tr', { 'data-vault': v.VaultName },
    h('th', { scope: 'row' }, h('a', { href: `#/vaults/${encodeURIComponent(v.VaultId)}/archives` }, v.VaultName)),
    h('td', {}, idCell(v.VaultId, t('vaults.id'))),
    h('td', { class: 'num' }, v.NumberOfArchives),
    h('td', { class: 'num' }, formatBytes(v.SizeInBytes)),
    dateCell(v.CreationDate),
    dateCell(v.LastInventoryDate),
    h('td', {}, h('button', {
      type: 'button', class: 'danger', 'aria-label': `${t('vaults.delete')} ${v.VaultName}`,
      onclick: () => {
        if (!confirm(t('vaults.confirmDelete', { name: v.VaultName }))) return;
        ctx.api.deleteVault(v.VaultId).then(() => { status.info(t('vaults.deleted', { name: v.VaultName })); return load(); },
          (err: OasError) => status.error(errorText(err.code, err.message)));
      },
    }, t('vaults.delete'))));

  async function load(): Promise<void> {
    const vaults = await ctx.api.listVaults();
    if (ctx.signal.aborted) return;
    body.replaceChildren(...vaults.map(row));
    if (vaults.length === 0) body.append(h('tr', {}, h('td', { colspan: 7, class: 'empty' }, t('vaults.empty'))));
  }

  ctx.main.append(
    h('div', { class: 'page-head' }, h('h1', {}, t('vaults.title')),
      h('button', { type: 'button', onclick: () => { void load().catch((e: OasError) => status.error(errorText(e.code, e.message))); } }, t('common.refresh'))),
    create, status.el,
    h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, th(t('vaults.name')), th(t('vaults.id')), th(t('vaults.archives')), th(t('vaults.size')),
        th(t('vaults.created')), th(t('vaults.inventory')), th(t('common.actions')))),
      body)));
  await load();
}
