// The console shell: sign-in, the header with navigation and language toggle, and a hash
// router (#/vaults, #/vaults/<id>/<tab>, #/server) rendering one page at a time.
import { Api, OasError, type Credentials } from './api.js';
import { h, notice } from './dom.js';
import { errorText, lang, setLang, t } from './i18n.js';
import { vaultsPage } from './pages/vaults.js';
import { vaultPage } from './pages/vault.js';
import { serverPage } from './pages/server.js';
import type { PageContext } from './pages/context.js';

const SESSION = 'oas-console.key';

function loadCredentials(): Credentials | null {
  try {
    const c = JSON.parse(sessionStorage.getItem(SESSION) ?? 'null') as Credentials | null;
    return c && typeof c.accessKeyId === 'string' && typeof c.accessKeySecret === 'string' ? c : null;
  } catch {
    return null;
  }
}

let api: Api | null = (() => { const c = loadCredentials(); return c ? new Api(c) : null; })();
let pageAbort = new AbortController();
const app = document.getElementById('app')!;

function signInPage(): HTMLElement {
  const status = notice();
  const id = h('input', { id: 'key-id', name: 'accessKeyId', autocomplete: 'username', required: true, spellcheck: 'false' });
  const secret = h('input', { id: 'key-secret', name: 'accessKeySecret', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, t('signin.submit'));
  const form = h('form', {
    class: 'signin', 'aria-labelledby': 'signin-title',
    onsubmit: (e: Event) => {
      e.preventDefault();
      const candidate = new Api({ accessKeyId: id.value.trim(), accessKeySecret: secret.value });
      submit.disabled = true;
      status.info(t('signin.busy'));
      candidate.verify().then(() => {
        sessionStorage.setItem(SESSION, JSON.stringify(candidate.creds));
        api = candidate;
        location.hash = '#/vaults';
        render();
      }, (err: unknown) => {
        submit.disabled = false;
        const e2 = err as OasError;
        const bad = ['SignatureDoesNotMatch', 'InvalidAccessKeyId', 'AccessDenied'].includes(e2.code);
        status.error(bad ? `${t('signin.bad')} (${e2.code})` : errorText(e2.code ?? 'Error', e2.message));
        secret.focus();
      });
    },
  },
  h('h1', { id: 'signin-title' }, t('signin.title')),
  h('label', { for: 'key-id' }, t('signin.id')), id,
  h('label', { for: 'key-secret' }, t('signin.secret')), secret,
  submit, status.el, h('p', { class: 'hint' }, t('signin.note')));
  queueMicrotask(() => id.focus());
  return form;
}

function header(): HTMLElement {
  const link = (href: string, text: string, active: boolean) =>
    h('a', { href, 'aria-current': active ? 'page' : undefined }, text);
  const route = location.hash;
  return h('header', { class: 'top' },
    h('a', { class: 'brand', href: '#/vaults' }, t('app.title')),
    api ? h('nav', { 'aria-label': 'main' },
      link('#/vaults', t('nav.vaults'), route.startsWith('#/vaults') || route === ''),
      link('#/server', t('nav.server'), route.startsWith('#/server'))) : null,
    h('span', { class: 'spacer' }),
    api ? h('span', { class: 'who', title: api.creds.accessKeyId }, api.creds.accessKeyId) : null,
    h('button', {
      type: 'button', class: 'lang', 'aria-label': t('nav.lang.label'), lang: lang === 'en' ? 'zh-CN' : 'en',
      onclick: () => { setLang(lang === 'en' ? 'zh' : 'en'); render(); },
    }, t('nav.lang')),
    api ? h('button', {
      type: 'button', onclick: () => { sessionStorage.removeItem(SESSION); api = null; location.hash = ''; render(); },
    }, t('nav.signout')) : null);
}

function render(): void {
  pageAbort.abort();
  pageAbort = new AbortController();
  document.title = t('app.title');
  const main = h('main', { id: 'main', tabindex: '-1' });
  app.replaceChildren(header(), main);
  if (!api) { main.append(signInPage()); return; }
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const ctx: PageContext = { api, main, signal: pageAbort.signal, rerender: render, params: parts };
  const onError = (err: unknown) => {
    if ((err as Error).name === 'AbortError') return;
    const e = err as OasError;
    if (['SignatureDoesNotMatch', 'InvalidAccessKeyId'].includes(e.code)) { sessionStorage.removeItem(SESSION); api = null; render(); return; }
    main.append(h('p', { class: 'notice error', role: 'alert' }, `${e.message} (${e.code ?? 'Error'})`));
  };
  try {
    const page = parts[0] === 'server' ? serverPage(ctx) : parts[0] === 'vaults' && parts[1] ? vaultPage(ctx) : vaultsPage(ctx);
    void Promise.resolve(page).catch(onError);
  } catch (err) {
    onError(err);
  }
}

setLang(lang);
window.addEventListener('hashchange', render);
render();
