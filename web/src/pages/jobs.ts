// Jobs list: status, progress, latest accuracy, bytes saved, created time.
import { getJobs } from '../api';
import { clear, debounce, h, type Page } from '../dom';
import { fmtPct, fmtRelative, fmtTime } from '../format';
import { live } from '../live';
import type { Job } from '../types';
import { progressBar, savedCell, statusBadge } from '../widgets';

const JOB_EVENTS = /^(job_|round_committed$|round_evaluated$|round_started$)/;

export function jobsPage(): Page {
  const tbody = h('tbody');
  const status = h('div', { class: 'muted small' }, 'Loading…');
  const table = h(
    'table',
    { class: 'table table-cards', testid: 'jobs-table' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', null, 'Job'),
        h('th', null, 'Status'),
        h('th', null, 'Progress'),
        h('th', { class: 'num' }, 'Accuracy'),
        h('th', { class: 'num' }, 'Saved up'),
        h('th', { class: 'num' }, 'Saved down'),
        h('th', null, 'Created'),
      ),
    ),
    tbody,
  );
  const el = h(
    'div',
    { class: 'page', testid: 'page-jobs' },
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, 'Jobs'),
      h('a', { class: 'btn btn-primary', href: '#/jobs/new', testid: 'new-job-button' }, '+ New job'),
    ),
    h('div', { class: 'card card-flush' }, h('div', { class: 'table-wrap' }, table), status),
  );

  let jobs: Job[] = [];
  let alive = true;

  function render(): void {
    const now = Date.now();
    if (!jobs.length) {
      clear(tbody);
      clear(
        status,
        h('div', { class: 'empty', testid: 'jobs-empty' }, 'No jobs yet. ', h('a', { href: '#/jobs/new' }, 'Create one'), '.'),
      );
      return;
    }
    clear(status);
    clear(
      tbody,
      [...jobs]
        .sort((a, b) => b.id - a.id)
        .map((j) => {
          const href = `#/jobs/${j.id}`;
          return h(
            'tr',
            {
              class: 'row-link',
              testid: `job-row-${j.id}`,
              'data-status': j.status,
              onclick: (e: Event) => {
                if (!(e.target as HTMLElement).closest('a')) location.hash = href;
              },
            },
            h(
              'td',
              { class: 'cell-full' },
              h('a', { href, class: 'job-name' }, j.name),
              h('div', { class: 'muted small' }, `#${j.id} · ${String(j.spec?.model ?? '')}`),
            ),
            h('td', { class: 'cell-status' }, statusBadge(j.status)),
            h('td', { class: 'cell-progress' }, progressBar(j)),
            h('td', { class: 'num', 'data-label': 'Accuracy' }, fmtPct(j.accuracy)),
            h('td', { class: 'num', 'data-label': 'Saved up' }, savedCell(j.totals?.bytes_up_raw, j.totals?.bytes_up_wire)),
            h('td', { class: 'num', 'data-label': 'Saved down' }, savedCell(j.totals?.bytes_down_raw, j.totals?.bytes_down_wire)),
            h('td', { title: fmtTime(j.created_ms), class: 'nowrap', 'data-label': 'Created' }, fmtRelative(j.created_ms, now)),
          );
        }),
    );
  }

  let inflight = false;
  async function refresh(): Promise<void> {
    if (inflight) return;
    inflight = true;
    try {
      jobs = await getJobs();
      if (alive) render();
    } catch (e) {
      if (alive && !jobs.length) status.textContent = `Could not load jobs: ${(e as Error).message}`;
    } finally {
      inflight = false;
    }
  }
  const soon = debounce(() => void refresh(), 250);
  const unsub = live.subscribe({
    refresh: () => void refresh(),
    onEvent: (ev) => {
      if (JOB_EVENTS.test(ev.type)) soon();
    },
  });
  void refresh();
  return {
    el,
    destroy() {
      alive = false;
      soon.cancel();
      unsub();
    },
  };
}
