// Entry: app shell (header, banners), hash router, live feed.
//
// Routes: #/jobs (default), #/jobs/new, #/jobs/{id}, #/clients. A path form
// (/jobs/3) opened directly — the server answers client routes with
// index.html — is rewritten to the hash form on load.
import './style.css';
import { ApiError, onApiStatus } from './api';
import { getToken, initToken, setToken } from './auth';
import { clear, h, type Page } from './dom';
import { live, type LiveMode } from './live';
import { clientsPage } from './pages/clients';
import { jobPage } from './pages/job';
import { jobsPage } from './pages/jobs';
import { newJobPage } from './pages/newjob';

function rewritePathRoute(): void {
  const base = new URL(document.baseURI);
  const path = location.pathname;
  if (path.startsWith(base.pathname) && path.length > base.pathname.length) {
    const rest = path.slice(base.pathname.length).replace(/\/$/, '');
    if (/^(jobs(\/[^/]+)?|clients)$/.test(rest)) {
      const hash = location.hash.replace(/^#/, '');
      const extra = hash && !hash.startsWith('/') ? '?' + hash : '';
      history.replaceState(null, '', base.pathname + location.search + '#/' + rest + extra);
    }
  }
}

function routePath(): string {
  const r = location.hash.replace(/^#/, '').split('?')[0];
  return r.startsWith('/') ? r : '/' + r;
}

const root = document.getElementById('app')!;
let current: Page | null = null;

const liveDot = h('span', { class: 'live-dot' });
const liveText = h('span', null, 'connecting');
const liveEl = h('span', { class: 'live', testid: 'live-status', title: '' }, liveDot, liveText);
const navJobs = h('a', { href: '#/jobs', testid: 'nav-jobs' }, 'Jobs');
const navClients = h('a', { href: '#/clients', testid: 'nav-clients' }, 'Clients');
const tokenBtn = h('button', { class: 'btn btn-ghost btn-small', type: 'button', testid: 'token-button' }, 'Token');

const authBanner = h('div', { class: 'banner banner-error', testid: 'auth-error', hidden: true });
const netBanner = h('div', { class: 'banner banner-warn', testid: 'net-error', hidden: true });
const tokenPanel = h('form', { class: 'token-panel', testid: 'token-panel', hidden: true });
const main = h('main', { class: 'main' });

function renderTokenPanel(message?: string): void {
  const input = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    placeholder: 'admin token',
    value: getToken() ?? '',
    testid: 'token-input',
    'aria-label': 'Admin token',
  });
  clear(
    tokenPanel,
    h(
      'label',
      { class: 'token-label' },
      message ?? 'Admin token (kept in this browser’s local storage and sent as a Bearer header)',
    ),
    h(
      'div',
      { class: 'token-row' },
      input,
      h('button', { class: 'btn btn-primary btn-small', type: 'submit', testid: 'token-save' }, 'Save'),
      h(
        'button',
        {
          class: 'btn btn-ghost btn-small',
          type: 'button',
          onclick: () => {
            setToken(null);
            tokenPanel.hidden = true;
          },
        },
        'Forget',
      ),
      h(
        'button',
        { class: 'btn btn-ghost btn-small', type: 'button', onclick: () => (tokenPanel.hidden = true) },
        'Close',
      ),
    ),
  );
  tokenPanel.onsubmit = (e) => {
    e.preventDefault();
    setToken(input.value);
    tokenPanel.hidden = true;
    authBanner.hidden = true;
  };
}

tokenBtn.addEventListener('click', () => {
  renderTokenPanel();
  tokenPanel.hidden = !tokenPanel.hidden;
  if (!tokenPanel.hidden) (tokenPanel.querySelector('input') as HTMLInputElement).focus();
});

onApiStatus((e: ApiError | null) => {
  if (!e) {
    netBanner.hidden = true;
    authBanner.hidden = true;
    return;
  }
  if (e.status === 401 || e.status === 403) {
    const has = !!getToken();
    clear(
      authBanner,
      h('strong', null, e.status === 401 ? 'Not authorised (HTTP 401). ' : 'Forbidden (HTTP 403). '),
      has
        ? 'The server rejected the saved admin token. '
        : 'This server needs an admin token (printed once when the server first started). ',
      h(
        'button',
        {
          class: 'btn btn-small',
          type: 'button',
          testid: 'auth-enter-token',
          onclick: () => {
            renderTokenPanel('Paste the admin token');
            tokenPanel.hidden = false;
            (tokenPanel.querySelector('input') as HTMLInputElement).focus();
          },
        },
        has ? 'Change token' : 'Enter token',
      ),
    );
    authBanner.hidden = false;
  } else if (e.status === 0) {
    clear(netBanner, h('strong', null, 'Cannot reach the server. '), 'Retrying…');
    netBanner.hidden = false;
  } else if (e.status >= 500) {
    clear(netBanner, h('strong', null, `Server error (HTTP ${e.status}): `), e.message);
    netBanner.hidden = false;
  }
});

live.onMode((m: LiveMode) => {
  liveEl.className = 'live live-' + m;
  liveText.textContent = m === 'live' ? 'live' : m === 'polling' ? 'polling' : 'connecting';
  liveEl.title =
    m === 'live'
      ? 'Receiving server events over a WebSocket'
      : m === 'polling'
        ? 'Event stream unavailable: refreshing every 2 s'
        : 'Connecting to the event stream';
});

function route(): void {
  const path = routePath();
  current?.destroy();
  current = null;
  let m: RegExpMatchArray | null;
  if (path === '/' || path === '/jobs') current = jobsPage();
  else if (path === '/jobs/new') current = newJobPage();
  else if ((m = path.match(/^\/jobs\/(\d+)$/))) current = jobPage(Number(m[1]));
  else if (path === '/clients') current = clientsPage();
  else
    current = {
      el: h(
        'div',
        { class: 'card empty', testid: 'not-found' },
        h('h2', null, 'Page not found'),
        h('p', null, h('a', { href: '#/jobs' }, 'Go to the jobs list')),
      ),
      destroy() {},
    };
  navJobs.classList.toggle('active', path === '/' || path.startsWith('/jobs'));
  navClients.classList.toggle('active', path === '/clients');
  clear(main, current.el);
  window.scrollTo(0, 0);
}

initToken();
rewritePathRoute();
clear(
  root,
  h(
    'header',
    { class: 'topbar' },
    h(
      'div',
      { class: 'topbar-inner' },
      h('a', { class: 'brand', href: '#/jobs' }, h('span', { class: 'brand-mark' }), 'fedpress'),
      h('nav', { class: 'nav' }, navJobs, navClients),
      h('div', { class: 'topbar-right' }, liveEl, tokenBtn),
    ),
  ),
  h('div', { class: 'banners' }, authBanner, netBanner, tokenPanel),
  main,
);
window.addEventListener('hashchange', route);
route();
live.start();
