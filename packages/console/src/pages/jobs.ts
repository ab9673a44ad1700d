// Jobs of a vault: type, status, times, range, message; start a retrieval of an archive
// (whole or a byte range); download a finished output, verified against its tree etag.
import type { JobJson } from '../../../sdk/src/protocol/browser.js';
import type { OasError } from '../api.js';
import { MEMORY_LIMIT, TreeEtagMismatch, canSaveToDisk, downloadToBlob, downloadToDisk } from '../download.js';
import { dateCell, formatBytes, h, idCell, notice, progressBar } from '../dom.js';
import { errorText, t } from '../i18n.js';
import type { PageContext } from './context.js';

export async function jobsTab(ctx: PageContext, vaultId: string, panel: HTMLElement): Promise<void> {
  const status = notice();
  const body = h('tbody');
  const downloads = h('div', { class: 'downloads', 'aria-live': 'polite' });
  const archive = h('input', { id: 'job-archive', required: true, autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  const range = h('input', { id: 'job-range', autocomplete: 'off', pattern: '\\d+-\\d+', class: 'mono' });
  const form = h('form', {
    class: 'inline',
    onsubmit: (e: Event) => {
      e.preventDefault();
      const job: Record<string, string> = { Type: 'archive-retrieval', ArchiveId: archive.value.trim() };
      if (range.value.trim()) job.RetrievalByteRange = range.value.trim();
      ctx.api.initiateJob(vaultId, job).then((id) => { status.info(t('jobs.started', { id })); return load(); },
        (err: OasError) => status.error(errorText(err.code, err.message)));
    },
  }, h('label', { for: 'job-archive' }, t('jobs.archive')), archive,
  h('label', { for: 'job-range' }, t('jobs.rangeLabel')), range,
  h('button', { type: 'submit', class: 'primary' }, t('jobs.start')));

  const download = (job: JobJson, toDisk: boolean) => {
    const bar = progressBar(t('jobs.downloading'));
    const line = h('div', { class: 'download', 'data-job': job.JobId }, bar.el);
    downloads.prepend(line);
    const size = job.Action === 'InventoryRetrieval' ? job.InventorySizeInBytes : rangeLength(job);
    const name = `${job.Action === 'InventoryRetrieval' ? 'inventory' : job.ArchiveId}-${job.JobId.slice(0, 8)}${job.Action === 'InventoryRetrieval' ? '.json' : '.bin'}`;
    const onProgress = (done: number, total: number) => bar.set(done, total || size);
    const fail = (err: unknown) => {
      if (err instanceof TreeEtagMismatch) line.append(h('p', { class: 'notice error', role: 'alert' }, t('jobs.mismatch')));
      else line.append(h('p', { class: 'notice error', role: 'alert' }, errorText((err as OasError).code ?? 'Error', (err as Error).message)));
    };
    const verified = () => h('p', { class: 'notice info verified' }, t('jobs.verified', { etag: job.TreeEtag }));
    if (toDisk) {
      downloadToDisk(ctx.api, vaultId, job.JobId, job.TreeEtag, name, onProgress, new AbortController().signal)
        .then(() => line.append(verified()), fail);
      return;
    }
    if (size > MEMORY_LIMIT) { line.append(h('p', { class: 'notice error' }, t('jobs.tooBig', { size: formatBytes(size) }))); return; }
    downloadToBlob(ctx.api, vaultId, job.JobId, job.TreeEtag, onProgress, new AbortController().signal).then((blob) => {
      const url = URL.createObjectURL(blob);
      line.append(verified(), h('a', { href: url, download: name, class: 'button primary', 'data-save': job.JobId }, t('jobs.save.link', { name })));
    }, fail);
  };

  const row = (j: JobJson) => [h('tr', { 'data-job': j.JobId, 'data-status': j.StatusCode },
    h('td', {}, idCell(j.JobId, t('jobs.id'))),
    h('td', {}, j.Action, j.RetrievalByteRange ? h('div', { class: 'mono sub', 'aria-label': `${t('jobs.range')} ${j.RetrievalByteRange}` }, j.RetrievalByteRange) : null),
    h('td', {}, h('span', { class: `badge ${j.StatusCode}` }, j.StatusCode)),
    h('td', {}, j.ArchiveId ? idCell(j.ArchiveId, t('jobs.archive')) : '—'),
    dateCell(j.CreationDate),
    j.Completed ? dateCell(j.CompletionDate) : h('td', {}, '—'),
    h('td', { class: 'actions' }, j.StatusCode === 'Succeeded' && (j.Action === 'ArchiveRetrieval' || j.Action === 'InventoryRetrieval')
      ? h('span', {},
        h('button', { type: 'button', class: 'primary', 'aria-label': `${t('jobs.download')} ${j.JobId}`, onclick: () => download(j, false) }, t('jobs.download')),
        canSaveToDisk() && h('button', { type: 'button', 'aria-label': `${t('jobs.save')} ${j.JobId}`, title: t('jobs.save'), onclick: () => download(j, true) }, t('jobs.saveShort')))
      : null)),
  // A failed job's message on a line of its own under the job, the full width of the table.
  j.StatusCode === 'Failed' && j.StatusMessage
    ? h('tr', { class: 'message-row', 'data-message-of': j.JobId }, h('td', { colspan: 7, class: 'job-message', role: 'note' }, j.StatusMessage))
    : null].filter((x): x is HTMLTableRowElement => x !== null);

  let timer: ReturnType<typeof setTimeout> | undefined;
  async function load(): Promise<void> {
    clearTimeout(timer);
    const jobs = await ctx.api.listJobs(vaultId);
    if (ctx.signal.aborted) return;
    jobs.sort((a, b) => Date.parse(b.CreationDate) - Date.parse(a.CreationDate));
    body.replaceChildren(...(jobs.length ? jobs.flatMap(row) : [h('tr', {}, h('td', { colspan: 7, class: 'empty' }, t('jobs.empty')))]));
    // Running jobs are polled until they finish, as long as the page is open.
    if (jobs.some((j) => !j.Completed)) timer = setTimeout(() => { void load().catch(() => undefined); }, 1000);
  }
  ctx.signal.addEventListener('abort', () => clearTimeout(timer));

  panel.append(form, status.el, downloads,
    h('div', { class: 'toolbar' }, h('button', { type: 'button', onclick: () => { void load(); } }, t('common.refresh'))),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, ...[t('jobs.id'), t('jobs.typeRange'), t('jobs.status'), t('jobs.archive'),
        t('jobs.created'), t('jobs.completed'), t('common.actions')].map((x) => h('th', { scope: 'col' }, x)))),
      body)));
  await load();
}

function rangeLength(job: JobJson): number {
  const m = /^(\d+)-(\d+)$/.exec(job.RetrievalByteRange);
  return m ? Number(m[2]) - Number(m[1]) + 1 : job.ArchiveSizeInBytes;
}
