// Archives from the vault's latest inventory: searchable, sortable; refresh the inventory
// (an inventory-retrieval job, polled until it is ready), retrieve or delete an archive.
import type { InventoryJson, JobJson } from '../../../sdk/src/protocol/browser.js';
import type { OasError } from '../api.js';
import { dateCell, formatBytes, formatDate, h, idCell, notice, th } from '../dom.js';
import { errorText, t } from '../i18n.js';
import type { PageContext } from './context.js';

type Row = InventoryJson['ArchiveList'][number];
type SortKey = 'ArchiveDescription' | 'Size' | 'CreationDate' | 'ArchiveId';

/** Polls a job until it completes (or the page is left). */
export async function waitForJob(ctx: PageContext, vaultId: string, jobId: string): Promise<JobJson> {
  for (let i = 0; i < 100_000; i++) {
    const job = await ctx.api.describeJob(vaultId, jobId);
    if (job.Completed || ctx.signal.aborted) return job;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error('job did not complete');
}

export async function archivesTab(ctx: PageContext, vaultId: string, panel: HTMLElement): Promise<void> {
  const status = notice();
  const inventoryNote = h('p', { class: 'hint', 'aria-live': 'polite' });
  const search = h('input', { id: 'archive-search', type: 'search', autocomplete: 'off' });
  const table = h('div', { class: 'table-wrap' });
  const refresh = h('button', { type: 'button', class: 'primary', id: 'refresh-inventory' }, t('archives.refresh'));
  let rows: Row[] = [];
  let sort: { key: SortKey; dir: 1 | -1 } = { key: 'CreationDate', dir: -1 };

  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = rows.filter((r) => !q || r.ArchiveId.toLowerCase().includes(q) || r.ArchiveDescription.toLowerCase().includes(q));
    const value = (r: Row) => (sort.key === 'CreationDate' ? Date.parse(r.CreationDate) : r[sort.key]);
    shown.sort((a, b) => (value(a) < value(b) ? -sort.dir : value(a) > value(b) ? sort.dir : 0));
    const onSort = (key: string) => { sort = { key: key as SortKey, dir: sort.key === key ? (-sort.dir as 1 | -1) : 1 }; draw(); };
    const dirOf = (key: SortKey) => (sort.key === key ? (sort.dir === 1 ? 'ascending' : 'descending') : undefined);
    table.replaceChildren(h('table', { class: 'data' },
      h('thead', {}, h('tr', {},
        th(t('archives.id'), 'ArchiveId', onSort, dirOf('ArchiveId')), th(t('archives.desc'), 'ArchiveDescription', onSort, dirOf('ArchiveDescription')),
        th(t('vaults.size'), 'Size', onSort, dirOf('Size')), th(t('vaults.created'), 'CreationDate', onSort, dirOf('CreationDate')),
        th(t('archives.treeEtag')), th(t('common.actions')))),
      h('tbody', {}, ...(shown.length === 0 ? [h('tr', {}, h('td', { colspan: 6, class: 'empty' }, t('archives.empty')))] : shown.map((r) =>
        h('tr', { 'data-archive': r.ArchiveId },
          h('td', {}, idCell(r.ArchiveId, t('archives.id'))),
          h('td', { class: 'desc' }, r.ArchiveDescription),
          h('td', { class: 'num' }, formatBytes(r.Size)),
          dateCell(r.CreationDate),
          h('td', {}, idCell(r.TreeEtag, t('archives.treeEtag'))),
          h('td', { class: 'actions' }, h('span', {},
            h('button', {
              type: 'button', 'aria-label': `${t('archives.retrieve')} ${r.ArchiveId}`,
              onclick: () => {
                ctx.api.initiateJob(vaultId, { Type: 'archive-retrieval', ArchiveId: r.ArchiveId }).then(() => {
                  location.hash = `#/vaults/${encodeURIComponent(vaultId)}/jobs`;
                }, (e: OasError) => status.error(errorText(e.code, e.message)));
              },
            }, t('archives.retrieve')),
            h('button', {
              type: 'button', class: 'danger', 'aria-label': `${t('vaults.delete')} ${r.ArchiveId}`,
              onclick: () => {
                if (!confirm(t('archives.deleteConfirm', { id: r.ArchiveId }))) return;
                ctx.api.deleteArchive(vaultId, r.ArchiveId).then(() => status.info(t('archives.deleted')),
                  (e: OasError) => status.error(errorText(e.code, e.message)));
              },
            }, t('vaults.delete'))))))))));
  };
  search.addEventListener('input', draw);

  const show = async (job: JobJson) => {
    const inv = await ctx.api.inventory(vaultId, job.JobId);
    if (ctx.signal.aborted) return;
    rows = inv.ArchiveList;
    inventoryNote.textContent = t('archives.from', { date: formatDate(inv.InventoryDate) });
    draw();
  };
  const follow = async (jobId: string) => {
    refresh.disabled = true;
    inventoryNote.textContent = t('archives.pending', { id: jobId });
    try {
      const job = await waitForJob(ctx, vaultId, jobId);
      if (ctx.signal.aborted) return;
      if (job.StatusCode !== 'Succeeded') { status.error(`${job.StatusCode}: ${job.StatusMessage}`); return; }
      await show(job);
      status.info(t('archives.ready'));
    } finally {
      refresh.disabled = false;
    }
  };
  refresh.addEventListener('click', () => {
    ctx.api.initiateJob(vaultId, { Type: 'inventory-retrieval' }).then(follow, (e: OasError) => status.error(errorText(e.code, e.message)))
      .catch((e: OasError) => status.error(errorText(e.code, e.message)));
  });

  panel.append(
    h('div', { class: 'toolbar' }, refresh, h('label', { for: 'archive-search' }, t('archives.search')), search),
    inventoryNote, status.el, table);
  draw();
  const inventories = (await ctx.api.listJobs(vaultId)).filter((j) => j.Action === 'InventoryRetrieval');
  const running = inventories.find((j) => !j.Completed);
  const latest = inventories.filter((j) => j.StatusCode === 'Succeeded')
    .sort((a, b) => Date.parse(b.CompletionDate) - Date.parse(a.CompletionDate))[0];
  if (latest) await show(latest);
  else inventoryNote.textContent = t('archives.none');
  if (running) await follow(running.JobId);
}
