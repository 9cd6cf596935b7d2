// Clients: filter box + status filter, 100 rows per page, so 1,000+ clients
// stay responsive (only the visible page is rendered).
import { getClients } from '../api';
import { clear, debounce, h, type Page } from '../dom';
import { fmtBytes, fmtInt, fmtRelative, fmtTime } from '../format';
import { live } from '../live';
import type { Client } from '../types';

const PAGE_SIZE = 100;

export function clientsPage(): Page {
  let clients: Client[] = [];
  let page = 0;
  let text = '';
  let show: 'all' | 'connected' | 'disconnected' | 'busy' = 'all';
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

  function visible(): Client[] {
    const q = text.trim().toLowerCase();
    return clients.filter((c) => {
      if (show === 'connected' && !c.connected) return false;
      if (show === 'disconnected' && c.connected) return false;
      if (show === 'busy' && !c.busy) return false;
      if (!q) return true;
      return (
        c.name.toLowerCase().includes(q) ||
        String(c.id) === q ||
        (c.info?.version ?? '').toLowerCase().includes(q)
      );
    });
  }

  function render(): void {
    const now = Date.now();
    const connected = clients.filter((c) => c.connected).length;
    const busy = clients.filter((c) => c.busy).length;
    summary.textContent = loaded ? `${fmtInt(connected)} connected · ${fmtInt(busy)} busy · ${fmtInt(clients.length)} known` : 'Loading…';
    const rows = visible();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    page = Math.min(page, pages - 1);
    const slice = rows.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    if (!slice.length) {
      clear(
        tbody,
        h('tr', null, h('td', { colspan: 8, class: 'empty' }, !loaded ? 'Loading…' : clients.length ? 'No client matches the filter.' : 'No client has connected yet.')),
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
      clear(pager, rows.length ? h('span', { class: 'muted small' }, `${fmtInt(rows.length)} shown`) : null);
    } else {
      clear(
        pager,
        h('button', { class: 'btn btn-small', type: 'button', testid: 'clients-prev', disabled: page === 0, onclick: () => goPage(page - 1) }, '‹ Prev'),
        h('span', { class: 'muted small' }, `${fmtInt(page * PAGE_SIZE + 1)}–${fmtInt(page * PAGE_SIZE + slice.length)} of ${fmtInt(rows.length)}`),
        h('button', { class: 'btn btn-small', type: 'button', testid: 'clients-next', disabled: page >= pages - 1, onclick: () => goPage(page + 1) }, 'Next ›'),
      );
    }
  }

  function goPage(p: number): void {
    page = p;
    render();
    // Start the new page at its first row (the pager is below the table).
    if (el.getBoundingClientRect().top < 0) window.scrollTo({ top: 0 });
  }

  const refilter = debounce(() => {
    text = filter.value;
    page = 0;
    render();
  }, 120);
  filter.addEventListener('input', refilter);
  showSel.addEventListener('change', () => {
    show = showSel.value as typeof show;
    page = 0;
    render();
  });

  let inflight = false;
  async function refresh(): Promise<void> {
    if (inflight) return;
    inflight = true;
    try {
      const cs = await getClients();
      if (!alive) return;
      // Connected first, then by name.
      clients = cs.sort((a, b) => Number(b.connected) - Number(a.connected) || a.name.localeCompare(b.name));
      loaded = true;
      render();
    } catch {
      /* banner shows it */
    } finally {
      inflight = false;
    }
  }
  const soon = debounce(() => void refresh(), 300);
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
      soon.cancel();
      refilter.cancel();
      unsub();
      clearInterval(tick);
    },
  };
}
