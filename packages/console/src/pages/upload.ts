// Upload: drop (or choose) a file of any size; hashing and sending progress with speed;
// cancel; interrupted uploads of this vault listed for resuming or discarding.
import type { OasError } from '../api.js';
import { formatBytes, h, idCell, notice, progressBar } from '../dom.js';
import { errorText, t } from '../i18n.js';
import { UploadJob, forgetUpload, savedUploads } from '../uploader.js';
import type { PageContext } from './context.js';

/** The upload in progress survives moving between tabs; one at a time. */
let active: UploadJob | null = null;
let redraw: () => void = () => undefined;

export async function uploadTab(ctx: PageContext, vaultId: string, panel: HTMLElement): Promise<void> {
  const status = notice();
  const desc = h('input', { id: 'upload-desc', maxlength: 1024, autocomplete: 'off' });
  const input = h('input', { id: 'upload-file', type: 'file', class: 'visually-hidden', tabindex: '-1' });
  const drop = h('label', { for: 'upload-file', class: 'dropzone', tabindex: '0' },
    h('span', { class: 'big' }, '⇪'), h('span', {}, t('upload.drop')));
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } });
  const progressArea = h('div', { class: 'upload-progress' });
  const resumable = h('div', { class: 'resumable' });

  const start = (file: File) => {
    if (active && (active.state.phase === 'hashing' || active.state.phase === 'sending')) {
      status.error(t('upload.busy', { name: active.state.file.name }));
      return;
    }
    status.clear();
    const job = new UploadJob(ctx.api, vaultId, file, desc.value, () => redraw());
    active = job;
    redraw();
    void job.run();
  };
  input.addEventListener('change', () => { if (input.files?.[0]) start(input.files[0]); input.value = ''; });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer?.files[0];
    if (file) start(file);
  });

  const hashBar = progressBar(t('upload.hashing'));
  const sendBar = progressBar(t('upload.sending'));
  const drawResumable = () => {
    const mine = savedUploads().filter((u) => u.vaultId === vaultId && u.uploadId !== active?.state.uploadId);
    resumable.replaceChildren(...(mine.length === 0 ? [] : [
      h('h2', {}, t('upload.resumable')), h('p', { class: 'hint' }, t('upload.resumeHint')),
      h('ul', {}, ...mine.map((u) => h('li', { 'data-upload': u.uploadId },
        h('strong', {}, u.name), ` (${formatBytes(u.size)}) `, idCell(u.uploadId, t('multipart.id')), ' ',
        h('button', {
          type: 'button', class: 'danger', 'aria-label': `${t('upload.discard')} ${u.name}`,
          onclick: () => {
            ctx.api.abortUpload(vaultId, u.uploadId).catch((e: OasError) => {
              if (e.code !== 'MultipartUploadNotExist') throw e;
            }).then(() => { forgetUpload(u.uploadId); drawResumable(); }, (e: OasError) => status.error(errorText(e.code, e.message)));
          },
        }, t('upload.discard'))))),
    ]));
  };
  redraw = () => {
    if (ctx.signal.aborted) return;
    const job = active?.vaultId === vaultId ? active : null;
    if (!job) { progressArea.replaceChildren(); drawResumable(); return; }
    const s = job.state;
    hashBar.set(s.hashed, s.file.size);
    const running = s.phase === 'hashing' || s.phase === 'sending';
    sendBar.set(s.sent, s.file.size, [
      s.partsTotal ? t('upload.parts', { done: s.partsDone, total: s.partsTotal }) : '',
      s.phase === 'sending' ? t('upload.speed', { speed: formatBytes(s.speed) }) : '',
    ].filter(Boolean).join(' · '));
    progressArea.replaceChildren(
      h('p', {}, h('strong', {}, s.file.name), ` — ${formatBytes(s.file.size)}`),
      hashBar.el, sendBar.el,
      s.resumedParts ? h('p', { class: 'hint' }, t('upload.resuming', { id: s.uploadId, n: s.resumedParts })) : '',
      running ? h('button', { type: 'button', id: 'upload-cancel', onclick: () => job.cancel() }, t('common.cancel')) : '');
    if (s.phase === 'done') status.info(t('upload.done', { id: s.archiveId }));
    if (s.phase === 'cancelled') status.info(t('upload.cancelled'));
    if (s.phase === 'failed') {
      const e = s.error as OasError;
      status.error(t('upload.failed', { msg: e.code ? errorText(e.code, e.message) : e.message }));
    }
    drawResumable();
  };

  panel.append(
    h('div', { class: 'field' }, h('label', { for: 'upload-desc' }, t('upload.desc')), desc),
    drop, input, progressArea, status.el, resumable);
  redraw();
}
