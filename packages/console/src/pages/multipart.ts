// Open multipart uploads of a vault, their parts on demand, and abort.
import type { OasError } from '../api.js';
import { dateCell, formatBytes, h, idCell, notice } from '../dom.js';
import { errorText, t } from '../i18n.js';
import { forgetUpload } from '../uploader.js';
import type { PageContext } from './context.js';

export async function multipartTab(ctx: PageContext, vaultId: string, panel: HTMLElement): Promise<void> {
  const status = notice();
  const body = h('tbody');

  async function load(): Promise<void> {
    const uploads = await ctx.api.listUploads(vaultId);
    if (ctx.signal.aborted) return;
    body.replaceChildren(...(uploads.length === 0 ? [h('tr', {}, h('td', { colspan: 6, class: 'empty' }, t('multipart.empty')))] : uploads.map((u) => {
      const parts = h('td', { class: 'parts' });
      const show = h('button', {
        type: 'button', 'aria-expanded': 'false', 'aria-label': `${t('multipart.showParts')} ${u.MultipartUploadId}`,
        onclick: () => {
          ctx.api.listParts(vaultId, u.MultipartUploadId).then((list) => {
            show.setAttribute('aria-expanded', 'true');
            parts.replaceChildren(h('div', { class: 'sub' }, t('multipart.count', { n: list.length })),
              h('ul', { class: 'part-list' }, ...list.map((p) =>
                h('li', {}, h('span', { class: 'mono' }, p.RangeInBytes), ' ', idCell(p.TreeEtag, t('archives.treeEtag'))))));
          }, (e: OasError) => status.error(errorText(e.code, e.message)));
        },
      }, t('multipart.showParts'));
      parts.append(show);
      return h('tr', { 'data-upload': u.MultipartUploadId },
        h('td', {}, idCell(u.MultipartUploadId, t('multipart.id'))),
        h('td', { class: 'desc' }, u.ArchiveDescription),
        h('td', { class: 'num' }, formatBytes(u.PartSizeInBytes)),
        dateCell(u.CreationDate),
        parts,
        h('td', {}, h('button', {
          type: 'button', class: 'danger', 'aria-label': `${t('multipart.abort')} ${u.MultipartUploadId}`,
          onclick: () => {
            if (!confirm(t('multipart.abortConfirm', { id: u.MultipartUploadId }))) return;
            ctx.api.abortUpload(vaultId, u.MultipartUploadId).then(() => { forgetUpload(u.MultipartUploadId); return load(); },
              (e: OasError) => status.error(errorText(e.code, e.message)));
          },
        }, t('multipart.abort'))));
    })));
  }

  panel.append(status.el,
    h('div', { class: 'toolbar' }, h('button', { type: 'button', onclick: () => { void load(); } }, t('common.refresh'))),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, ...[t('multipart.id'), t('multipart.desc'), t('multipart.partSize'), t('multipart.created'),
        t('multipart.parts'), t('common.actions')].map((x) => h('th', { scope: 'col' }, x)))),
      body)));
  await load();
}
