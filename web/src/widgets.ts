// Small shared view pieces: status badge, progress bar, saved-bytes cell.
import { h } from './dom';
import { fmtBytes, fmtRatio } from './format';
import type { Job } from './types';

export function statusBadge(status: string, testid?: string): HTMLElement {
  return h('span', { class: `badge badge-${status}`, testid }, status);
}

export function progressBar(job: Job): HTMLElement {
  const done = job.totals?.rounds_committed ?? job.current_round;
  const pct = job.rounds > 0 ? Math.min(100, (100 * done) / job.rounds) : 0;
  return h(
    'div',
    { class: 'progress', title: `${done} of ${job.rounds} rounds committed` },
    h(
      'div',
      {
        class: `progress-track progress-${job.status}`,
        role: 'progressbar',
        'aria-valuemin': 0,
        'aria-valuemax': job.rounds,
        'aria-valuenow': done,
      },
      h('div', { class: 'progress-fill', style: `width:${pct.toFixed(1)}%` }),
    ),
    h('span', { class: 'progress-text' }, `${done} / ${job.rounds}`),
  );
}

/** raw/wire ratio as a small green tag (grey when there is no real saving). */
export function ratioSpan(raw: number, wire: number): HTMLElement {
  const flat = !raw || !wire || raw / wire < 1.05;
  return h('span', { class: flat ? 'ratio ratio-flat' : 'ratio' }, fmtRatio(raw, wire));
}

/** "12.3 MB saved · 4.0×" for one direction. */
export function savedCell(raw: number | undefined, wire: number | undefined): HTMLElement {
  if (!raw) return h('span', { class: 'muted' }, '–');
  return h(
    'span',
    { class: 'saved' },
    fmtBytes(raw - (wire ?? 0)),
    ratioSpan(raw, wire ?? 0),
  );
}

export function stat(label: string, value: string, sub?: string, testid?: string): HTMLElement {
  return h(
    'div',
    { class: 'stat', testid },
    h('div', { class: 'stat-label' }, label),
    h('div', { class: 'stat-value' }, value),
    sub ? h('div', { class: 'stat-sub' }, sub) : null,
  );
}
