// Clients: filter box + status filter, 100 rows per page. The server filters,
// sorts (connected first, then by name) and pages (GET /api/clients?limit=…),
// so with thousands of clients the page fetches and renders only one page,
// and bursts of client events cause at most one refresh per second.
import { getClientsPage } from '../api';
import { clear, debounce, h, type Page } from '../dom';
import { fmtBytes, fmtInt, fmtRelative, fmtTime } from '../format';
import { live } from '../live';
import type { ClientPage, ClientStatusFilter } from '../types';

const PAGE_SIZE = 100;

export function clientsPage(): Page {
  let data: ClientPage | null = null;
  let page = 0;
  let text = '';
  let show: ClientStatusFilter = 'all';
  let alive = true;
  let loaded = false;

  const filter = h('input', {
    type: 'search',
    placeholder: 'Filter by name, id or version',
    class: 'filter',
    testid: 'clients-filter',
    'aria-label': 'Filter clients',
  });
  const showSel = h(
    'select',
    { class: 'select-small', testid: 'clients-show', 'aria-label': 'Show' },
    h('option', { value: 'all' }, 'all'),
    h('option', { value: 'connected' }, 'connected'),
    h('option', { value: 'disconnected' }, 'disconnected'),
    h('option', { value: 'busy' }, 'busy'),
  );
  const summary = h('div', { class: 'muted small', testid: 'clients-summary' });
  const tbody = h('tbody');
  const pager = h('div', { class: 'pager', testid: 'clients-pager' });
  const table = h(
    'table',
    { class: 'table table-compact', testid: 'clients-table' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', null, 'Client'),
        h('th', null, 'Status'),
        h('th', null, 'Last seen'),
        h('th', { class: 'num' }, 'Samples'),
        h('th', { class: 'num' }, 'Rounds'),
        h('th', { class: 'num' }, 'Bytes up'),
        h('th', { class: 'num' }, 'Bytes down'),
        h('th', null, 'Version'),
      ),
    ),
    tbody,
  );
  const el = h(
    'div',
    { class: 'page', testid: 'page-clients' },
    h('div', { class: 'page-head' }, h('h1', null, 'Clients'), summary),
    h(
      'section',
      { class: 'card card-flush' },
      h('div', { class: 'card-head toolbar' }, filter, showSel),
      h('div', { class: 'table-wrap' }, table),
      pager,
    ),
  );

  function render(): void {
    const now = Date.now();
    const counts = data?.counts;
    summary.textContent = counts
      ? `${fmtInt(counts.connected)} connected · ${fmtInt(counts.busy)} busy · ${fmtInt(counts.known)} known`
      : 'Loading…';
    const total = data?.total ?? 0;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const slice = data?.clients ?? [];
    if (!slice.length) {
      clear(
        tbody,
        h('tr', null, h('td', { colspan: 8, class: 'empty' }, !loaded ? 'Loading…' : counts?.known ? 'No client matches the filter.' : 'No client has connected yet.')),
      );
    } else {
      clear(
        tbody,
        slice.map((c) =>
          h(
            'tr',
            { testid: 'client-row', 'data-connected': c.connected ? 'true' : 'false', 'data-name': c.name },
            h(
              'td',
              { class: 'nowrap' },
              h('span', { class: c.connected ? 'dot dot-on' : 'dot dot-off', title: c.connected ? 'connected' : 'disconnected' }),
              h('strong', null, c.name),
              h('span', { class: 'muted small' }, ` #${c.id}`),
            ),
            h(
              'td',
              { class: 'nowrap' },
              c.connected
                ? c.busy
                  ? h('span', { class: 'badge badge-running' }, 'busy')
                  : h('span', { class: 'badge badge-idle' }, 'idle')
                : h('span', { class: 'badge badge-offline' }, 'offline'),
            ),
            h('td', { class: 'nowrap', title: fmtTime(c.last_seen_ms) }, fmtRelative(c.last_seen_ms, now)),
            h('td', { class: 'num' }, fmtInt(c.samples)),
            h('td', { class: 'num' }, fmtInt(c.rounds_done)),
            h('td', { class: 'num' }, fmtBytes(c.bytes_up)),
            h('td', { class: 'num' }, fmtBytes(c.bytes_down)),
            h('td', { class: 'muted small nowrap' }, c.info?.version ?? ''),
          ),
        ),
      );
    }
    if (pages <= 1) {
      clear(pager, total ? h('span', { class: 'muted small' }, `${fmtInt(total)} shown`) : null);
    } else {
      clear(
        pager,
        h('button', { class: 'btn btn-small', type: 'button', testid: 'clients-prev', disabled: page === 0, onclick: () => goPage(page - 1) }, '‹ Prev'),
        h('span', { class: 'muted small' }, `${fmtInt(page * PAGE_SIZE + 1)}–${fmtInt(page * PAGE_SIZE + slice.length)} of ${fmtInt(total)}`),
        h('button', { class: 'btn btn-small', type: 'button', testid: 'clients-next', disabled: page >= pages - 1, onclick: () => goPage(page + 1) }, 'Next ›'),
      );
    }
  }

  function goPage(p: number): void {
    page = p;
    void refresh();
    // Start the new page at its first row (the pager is below the table).
    if (el.getBoundingClientRect().top < 0) window.scrollTo({ top: 0 });
  }

  const refilter = debounce(() => {
    text = filter.value;
    page = 0;
    void refresh();
  }, 200);
  filter.addEventListener('input', refilter);
  showSel.addEventListener('change', () => {
    show = showSel.value as typeof show;
    page = 0;
    void refresh();
  });

  let inflight = false;
  let again = false;  // a refresh was asked for while one was in flight
  async function refresh(): Promise<void> {
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    lastRefresh = Date.now();
    try {
      const want = { limit: PAGE_SIZE, offset: page * PAGE_SIZE, status: show, q: text.trim() };
      const got = await getClientsPage(want);
      if (!alive) return;
      // Past the end (clients left, or the filter shrank the list): go to the last page.
      const last = Math.max(0, Math.ceil(got.total / PAGE_SIZE) - 1);
      if (page > last) {
        page = last;
        again = true;
      }
      data = got;
      loaded = true;
      render();
    } catch {
      /* banner shows it */
    } finally {
      inflight = false;
      if (again && alive) {
        again = false;
        void refresh();
      }
    }
  }
  // Throttle, not debounce: a storm of client events (a thousand clients
  // registering) refreshes once a second rather than never or constantly.
  let lastRefresh = 0;
  let soonTimer: ReturnType<typeof setTimeout> | undefined;
  function soon(): void {
    if (soonTimer !== undefined) return;
    soonTimer = setTimeout(() => {
      soonTimer = undefined;
      void refresh();
    }, Math.max(0, lastRefresh + 1000 - Date.now()));
  }
  const unsub = live.subscribe({
    refresh: () => void refresh(),
    onEvent: (ev) => {
      if (ev.type.startsWith('client_') || ev.type === 'round_committed' || ev.type === 'round_started' || ev.type.startsWith('job_')) soon();
    },
  });
  const tick = setInterval(() => alive && loaded && render(), 10000);
  render();
  void refresh();
  return {
    el,
    destroy() {
      alive = false;
      if (soonTimer !== undefined) clearTimeout(soonTimer);
      refilter.cancel();
      unsub();
      clearInterval(tick);
    },
  };
}
