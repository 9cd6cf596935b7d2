// Job detail: header (status, progress, cancel, model download), totals,
// live charts, rounds table and participants table (newest first). Robust
// aggregation shows as update norms with "outlier" / "clipped" badges.
import { ApiError, cancelJob, downloadModel, getJob, getParticipations, getRounds } from '../api';
import { LineChart } from '../charts';
import { clear, debounce, h, type Page } from '../dom';
import { fmtBytes, fmtDuration, fmtInt, fmtNum, fmtPct, fmtRatio, fmtRelative, fmtTime } from '../format';
import { live } from '../live';
import { TERMINAL, type Job, type Participation, type Round } from '../types';
import { progressBar, ratioSpan, stat, statusBadge } from '../widgets';

const ROUND_ROWS = 200;
const PART_ROWS = 300;

export function jobPage(id: number): Page {
  let job: Job | null = null;
  let rounds: Round[] = [];
  let parts: Participation[] = [];
  let alive = true;
  let showAllRounds = false;
  let showAllParts = false;
  let partFilter = 'all';
  let lastSig = '';
  let terminalLoaded = false;

  const head = h('div', { class: 'job-head card', testid: 'job-header' }, h('div', { class: 'muted' }, 'Loading…'));
  const stats = h('div', { class: 'stats', testid: 'job-stats' });
  const notice = h('div', { class: 'inline-notice', hidden: true });

  const pctFmt = (v: number) => fmtPct(v, 1);
  const accChart = new LineChart(
    'chart-accuracy',
    'Accuracy & loss per round',
    [
      { label: 'accuracy', color: '#16a34a', scale: 'acc', fmt: pctFmt },
      { label: 'loss', color: '#ea580c', scale: 'loss', fmt: (v) => fmtNum(v, 4) },
      { label: 'train loss', color: '#f59e0b', scale: 'loss', dash: [5, 4], fmt: (v) => fmtNum(v, 4) },
    ],
    [
      { scale: 'acc', fmt: (v) => fmtPct(v, 0) },
      { scale: 'loss', fmt: (v) => fmtNum(v, 2), side: 'right' },
    ],
  );
  const upChart = new LineChart(
    'chart-upload',
    'Upload bytes per round: raw vs on the wire',
    [
      { label: 'raw', color: '#94a3b8', fmt: fmtBytes },
      { label: 'wire', color: '#2563eb', fmt: fmtBytes },
    ],
    [{ scale: 'bytes', fmt: fmtBytes, zero: true }],
  );
  const downChart = new LineChart(
    'chart-download',
    'Download bytes per round: raw vs on the wire',
    [
      { label: 'raw', color: '#94a3b8', fmt: fmtBytes },
      { label: 'wire', color: '#7c3aed', fmt: fmtBytes },
    ],
    [{ scale: 'bytes', fmt: fmtBytes, zero: true }],
  );
  const savedChart = new LineChart(
    'chart-saved',
    'Cumulative bytes saved',
    [
      { label: 'total', color: '#0f766e', fmt: fmtBytes },
      { label: 'upload', color: '#2563eb', dash: [5, 4], fmt: fmtBytes },
      { label: 'download', color: '#7c3aed', dash: [2, 3], fmt: fmtBytes },
    ],
    [{ scale: 'bytes', fmt: fmtBytes }],
  );
  const durChart = new LineChart(
    'chart-duration',
    'Round duration',
    [{ label: 'duration', color: '#0891b2', fmt: (v) => fmtDuration(v * 1000) }],
    [{ scale: 's', fmt: (v) => fmtNum(v, 1) + ' s', zero: true }],
  );
  const charts = [accChart, upChart, downChart, savedChart, durChart];

  const roundsBody = h('tbody');
  const roundsMore = h('div', { class: 'table-more' });
  const roundsTable = h(
    'table',
    { class: 'table table-compact', testid: 'rounds-table' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Round', 'Accuracy', 'Loss', 'Train loss', 'Clients', 'Rejected', 'Late', 'Timeouts', 'Outliers', 'Up raw → wire', 'Down raw → wire', 'Duration'].map(
          (t, i) => h('th', { class: i === 0 ? '' : 'num' }, t),
        ),
      ),
    ),
    roundsBody,
  );

  const partBody = h('tbody');
  const partMore = h('div', { class: 'table-more' });
  const partFilterSel = h(
    'select',
    {
      class: 'select-small',
      testid: 'participants-filter',
      'aria-label': 'Filter participants by status',
      onchange: (e: Event) => {
        partFilter = (e.target as HTMLSelectElement).value;
        renderParts();
      },
    },
    ['all', 'accepted', 'rejected', 'late', 'timeout', 'outlier', 'clipped'].map((s) => h('option', { value: s }, s)),
  );
  const partTable = h(
    'table',
    { class: 'table table-compact', testid: 'participants-table' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Round', 'Client', 'Status', 'Reason', 'Samples', 'Train loss', 'Update norm', 'Up wire', 'Up raw', 'Down wire', 'Train', 'Encode'].map(
          (t, i) => h('th', { class: i >= 4 ? 'num' : '' }, t),
        ),
      ),
    ),
    partBody,
  );

  const el = h(
    'div',
    { class: 'page', testid: 'page-job', 'data-job-id': id },
    h('div', { class: 'crumbs' }, h('a', { href: '#/jobs' }, '← Jobs')),
    head,
    notice,
    stats,
    h('div', { class: 'charts' }, charts.map((c) => c.el)),
    h(
      'section',
      { class: 'card card-flush' },
      h('div', { class: 'card-head' }, h('h2', null, 'Rounds'), h('span', { class: 'muted small' }, 'newest first')),
      h('div', { class: 'table-wrap' }, roundsTable),
      roundsMore,
    ),
    h(
      'section',
      { class: 'card card-flush' },
      h(
        'div',
        { class: 'card-head' },
        h('h2', null, 'Participants'),
        h('span', { class: 'muted small' }, 'newest first'),
        h('span', { class: 'spacer' }),
        partFilterSel,
      ),
      h('div', { class: 'table-wrap' }, partTable),
      partMore,
    ),
  );

  function showNotice(msg: string, kind: 'error' | 'info' = 'error'): void {
    notice.className = `inline-notice inline-${kind}`;
    notice.textContent = msg;
    notice.hidden = false;
  }

  async function onCancel(btn: HTMLButtonElement): Promise<void> {
    if (!job) return;
    if (!window.confirm(`Cancel job “${job.name}” (#${job.id})? Rounds already committed are kept.`)) return;
    btn.disabled = true;
    try {
      await cancelJob(id);
      notice.hidden = true;
      await refresh();
    } catch (e) {
      showNotice(`Could not cancel: ${(e as Error).message}`);
      btn.disabled = false;
    }
  }

  async function onDownload(btn: HTMLButtonElement): Promise<void> {
    btn.disabled = true;
    const label = btn.textContent;
    btn.textContent = 'Downloading…';
    try {
      await downloadModel(id);
    } catch (e) {
      showNotice(`Could not download the model: ${(e as ApiError).message}`);
    } finally {
      btn.disabled = false;
      btn.textContent = label;
    }
  }

  function renderHead(): void {
    if (!job) return;
    const j = job;
    const committed = j.totals?.rounds_committed ?? rounds.length;
    const cancellable = !TERMINAL.has(j.status);
    const spec = j.spec ?? {};
    const comp = spec.compression as Record<string, unknown> | undefined;
    const compName = comp ? String(comp.preset ?? comp.method ?? 'custom') : 'none';
    clear(
      head,
      h(
        'div',
        { class: 'job-title' },
        h('h1', { testid: 'job-name' }, j.name),
        h('span', { class: 'muted' }, `#${j.id}`),
        statusBadge(j.status, 'job-status'),
        h('span', { class: 'spacer' }),
        h(
          'div',
          { class: 'job-actions' },
          h(
            'button',
            {
              class: 'btn',
              type: 'button',
              testid: 'download-model',
              disabled: committed === 0,
              title: committed === 0 ? 'Available after the first committed round' : 'Download the latest global model (TorchScript state)',
              onclick: (e: Event) => void onDownload(e.currentTarget as HTMLButtonElement),
            },
            '⬇ Model',
          ),
          cancellable
            ? h(
                'button',
                {
                  class: 'btn btn-danger',
                  type: 'button',
                  testid: 'cancel-job',
                  onclick: (e: Event) => void onCancel(e.currentTarget as HTMLButtonElement),
                },
                'Cancel job',
              )
            : null,
        ),
      ),
      h('div', { class: 'job-progress' }, progressBar(j)),
      h(
        'div',
        { class: 'job-meta muted small' },
        h('span', null, `${spec.model ?? '?'} on ${spec.dataset ?? '?'}`),
        h('span', null, `${spec.clients_per_round ?? '?'} clients/round (min ${spec.min_clients ?? '?'})`),
        h('span', null, `lr ${spec.lr ?? '?'}, momentum ${spec.momentum ?? '?'}, batch ${spec.batch_size ?? '?'}, ${spec.local_epochs ?? '?'} epoch(s)`),
        h('span', null, `compression: ${compName}`),
        h('span', { testid: 'job-aggregation' }, `aggregation: ${aggregationText(spec.aggregation)}`),
        h('span', { title: fmtTime(j.created_ms) }, `created ${fmtRelative(j.created_ms)}`),
        j.started_ms ? h('span', { title: fmtTime(j.started_ms) }, `started ${fmtRelative(j.started_ms)}`) : null,
        j.finished_ms
          ? h('span', { title: fmtTime(j.finished_ms) }, `finished ${fmtRelative(j.finished_ms)}`)
          : null,
      ),
      j.error ? h('div', { class: `job-error job-error-${j.status}`, testid: 'job-error' }, j.error) : null,
    );
    const t = j.totals;
    clear(
      stats,
      stat('Accuracy', fmtPct(j.accuracy, 2), j.loss !== null && j.loss !== undefined ? `loss ${fmtNum(j.loss, 4)}` : undefined, 'stat-accuracy'),
      stat('Rounds', `${committed} / ${j.rounds}`, t ? `${fmtInt(t.participations)} updates, ${fmtInt(t.rejected)} rejected` : undefined),
      stat('Upload on the wire', fmtBytes(t?.bytes_up_wire), t?.bytes_up_raw ? `raw ${fmtBytes(t.bytes_up_raw)} · ${fmtRatio(t.bytes_up_raw, t.bytes_up_wire)}` : undefined, 'stat-up'),
      stat('Download on the wire', fmtBytes(t?.bytes_down_wire), t?.bytes_down_raw ? `raw ${fmtBytes(t.bytes_down_raw)} · ${fmtRatio(t.bytes_down_raw, t.bytes_down_wire)}` : undefined, 'stat-down'),
      stat('Bytes saved', fmtBytes(t ? t.bytes_saved_up + t.bytes_saved_down : undefined), t ? `up ${fmtBytes(t.bytes_saved_up)} · down ${fmtBytes(t.bytes_saved_down)}` : undefined, 'stat-saved'),
    );
  }

  function renderCharts(): void {
    const rs = [...rounds].sort((a, b) => a.round - b.round);
    const x = rs.map((r) => r.round);
    accChart.setData(x, [rs.map((r) => r.accuracy), rs.map((r) => r.loss), rs.map((r) => r.train_loss)]);
    upChart.setData(x, [rs.map((r) => r.bytes_up_raw), rs.map((r) => r.bytes_up_wire)]);
    downChart.setData(x, [rs.map((r) => r.bytes_down_raw), rs.map((r) => r.bytes_down_wire)]);
    let su = 0;
    let sd = 0;
    const cu: number[] = [];
    const cd: number[] = [];
    const ct: number[] = [];
    for (const r of rs) {
      su += r.bytes_up_raw - r.bytes_up_wire;
      sd += r.bytes_down_raw - r.bytes_down_wire;
      cu.push(su);
      cd.push(sd);
      ct.push(su + sd);
    }
    savedChart.setData(x, [ct, cu, cd]);
    durChart.setData(x, [rs.map((r) => r.duration_ms / 1000)]);
  }

  function renderRounds(): void {
    const rs = [...rounds].sort((a, b) => b.round - a.round);
    const shown = showAllRounds ? rs : rs.slice(0, ROUND_ROWS);
    if (!rs.length) {
      clear(roundsBody, h('tr', null, h('td', { colspan: 12, class: 'empty' }, emptyText())));
    } else {
      clear(
        roundsBody,
        shown.map((r) =>
          h(
            'tr',
            { testid: 'round-row', 'data-round': r.round },
            h('td', { title: `finished ${fmtTime(r.finished_ms)}` }, h('strong', null, String(r.round)), r.attempts > 1 ? h('span', { class: 'tag', title: 'attempts' }, `×${r.attempts}`) : null),
            h('td', { class: 'num', testid: 'round-accuracy', title: r.accuracy == null ? 'evaluating…' : '' }, fmtPct(r.accuracy, 2)),
            h('td', { class: 'num' }, fmtNum(r.loss, 4)),
            h('td', { class: 'num' }, fmtNum(r.train_loss, 4)),
            h('td', { class: 'num' }, String(r.participants)),
            h('td', { class: r.rejected ? 'num warn' : 'num' }, String(r.rejected)),
            h('td', { class: r.late ? 'num warn' : 'num' }, String(r.late)),
            h('td', { class: r.timeouts ? 'num warn' : 'num' }, String(r.timeouts)),
            h(
              'td',
              {
                class: r.outliers ? 'num warn nowrap' : 'num nowrap',
                testid: 'round-outliers',
                title: r.median_norm !== null && r.median_norm !== undefined ? `median update norm ${fmtNum(r.median_norm, 4)}` : '',
              },
              String(r.outliers ?? 0),
              r.clipped ? h('span', { class: 'tag', title: 'updates clipped' }, `${r.clipped} clipped`) : null,
            ),
            h('td', { class: 'num nowrap' }, `${fmtBytes(r.bytes_up_raw)} → ${fmtBytes(r.bytes_up_wire)}`, ratioSpan(r.bytes_up_raw, r.bytes_up_wire)),
            h('td', { class: 'num nowrap' }, `${fmtBytes(r.bytes_down_raw)} → ${fmtBytes(r.bytes_down_wire)}`, ratioSpan(r.bytes_down_raw, r.bytes_down_wire)),
            h('td', { class: 'num' }, fmtDuration(r.duration_ms)),
          ),
        ),
      );
    }
    clear(
      roundsMore,
      rs.length > ROUND_ROWS
        ? h(
            'button',
            { class: 'btn btn-ghost btn-small', type: 'button', onclick: () => ((showAllRounds = !showAllRounds), renderRounds()) },
            showAllRounds ? `Show the newest ${ROUND_ROWS}` : `Show all ${rs.length} rounds`,
          )
        : null,
    );
  }

  function emptyText(): string {
    if (!job) return 'Loading…';
    if (job.status === 'queued') return 'Waiting for the job to start…';
    if (job.status === 'running') return 'Waiting for the first round to commit…';
    return 'No rounds were committed.';
  }

  function renderParts(): void {
    const ps = parts
      .filter(
        (p) =>
          partFilter === 'all' ||
          p.status === partFilter ||
          (partFilter === 'outlier' && p.outlier) ||
          (partFilter === 'clipped' && p.clipped),
      )
      .sort((a, b) => b.round - a.round || b.attempt - a.attempt || a.client.localeCompare(b.client));
    const shown = showAllParts ? ps : ps.slice(0, PART_ROWS);
    if (!ps.length) {
      clear(
        partBody,
        h('tr', null, h('td', { colspan: 12, class: 'empty' }, parts.length ? `No ${partFilter} participations.` : 'No participations yet.')),
      );
    } else {
      let prevRound = -1;
      let band = false;
      clear(
        partBody,
        shown.map((p) => {
          if (p.round !== prevRound) band = !band;
          const first = p.round !== prevRound;
          prevRound = p.round;
          return h(
            'tr',
            {
              testid: 'participant-row',
              'data-status': p.status,
              'data-outlier': p.outlier ? 'true' : 'false',
              class: (band ? 'band' : '') + (first ? ' group-start' : ''),
            },
            h('td', null, first ? h('strong', null, String(p.round)) : '', p.attempt > 1 ? h('span', { class: 'tag' }, `try ${p.attempt}`) : null),
            h('td', { class: 'nowrap' }, p.client || `#${p.client_id}`),
            h('td', null, h('span', { class: `badge badge-${p.status}` }, p.status)),
            h('td', { class: 'reason' }, p.reason || h('span', { class: 'muted' }, '–')),
            h('td', { class: 'num' }, fmtInt(p.samples)),
            h('td', { class: 'num' }, fmtNum(p.train_loss, 4)),
            normCell(p),
            h('td', { class: 'num' }, fmtBytes(p.bytes_up_wire)),
            h('td', { class: 'num' }, fmtBytes(p.bytes_up_raw)),
            h('td', { class: 'num' }, fmtBytes(p.bytes_down_wire)),
            h('td', { class: 'num' }, fmtDuration(p.train_ms)),
            h('td', { class: 'num' }, fmtDuration(p.encode_ms)),
          );
        }),
      );
    }
    clear(
      partMore,
      ps.length > PART_ROWS
        ? h(
            'button',
            { class: 'btn btn-ghost btn-small', type: 'button', onclick: () => ((showAllParts = !showAllParts), renderParts()) },
            showAllParts ? `Show the newest ${PART_ROWS}` : `Show all ${ps.length}`,
          )
        : null,
    );
  }

  let inflight = false;
  let again = false;
  async function refresh(): Promise<void> {
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    try {
      const j = await getJob(id);
      if (!alive) return;
      job = j;
      // The job is fetched first, so rounds read after it are at least as new.
      // A finished job changes no more: after one full load only the job is read.
      const full = !(terminalLoaded && TERMINAL.has(j.status));
      const [rs, ps] = full ? await Promise.all([getRounds(id), getParticipations(id)]) : [rounds, parts];
      if (!alive) return;
      rounds = rs;
      parts = ps;
      if (TERMINAL.has(j.status)) terminalLoaded = true;
      renderHead();
      const sig = `${rounds.length}:${rounds.map((r) => r.finished_ms).join(',')}|${parts.length}:${j.status}`;
      if (sig !== lastSig) {
        lastSig = sig;
        renderCharts();
        renderRounds();
        renderParts();
      }
    } catch (e) {
      const err = e as ApiError;
      if (!alive) return;
      if ((err.status === 401 || err.status === 403) && !job) {
        clear(head, h('h1', null, `Job #${id}`), h('p', { class: 'muted' }, 'Waiting for a valid admin token (see the message above).'));
      } else if (err.status === 404) {
        clear(head, h('h1', null, `Job #${id}`), h('p', { class: 'muted', testid: 'job-not-found' }, err.message || 'No such job.'));
      }
    } finally {
      inflight = false;
      if (again && alive) {
        again = false;
        void refresh();
      }
    }
  }

  const soon = debounce(() => void refresh(), 200);
  const unsub = live.subscribe({
    refresh: () => {
      if (!terminalLoaded || !job || !TERMINAL.has(job.status)) void refresh();
    },
    onEvent: (ev) => {
      if (ev.job_id === id) {
        terminalLoaded = false; // something happened: refetch everything
        soon();
      }
    },
  });
  // Relative times in the header tick without refetching.
  const tick = setInterval(() => alive && renderHead(), 15000);
  renderRounds();
  renderParts();
  void refresh();

  return {
    el,
    destroy() {
      alive = false;
      soon.cancel();
      unsub();
      clearInterval(tick);
      charts.forEach((c) => c.destroy());
    },
  };
}

/** "median", "trimmed_mean (20%)", "fedavg, clip 10", "fedavg, clip 2× median". */
function aggregationText(agg: unknown): string {
  const a = (agg ?? {}) as Record<string, unknown>;
  const strategy = String(a.strategy ?? 'fedavg');
  const parts = [strategy === 'trimmed_mean' ? `trimmed_mean (${fmtPct(Number(a.trim_ratio ?? 0.2), 0)} each end)` : strategy];
  if (Number(a.clip_norm) > 0) parts.push(`clip ${a.clip_norm}`);
  if (Number(a.adaptive_clip) > 0) parts.push(`clip ${a.adaptive_clip}× median norm`);
  return parts.join(', ');
}

/** Update norm with "outlier" / "clipped" badges. */
function normCell(p: Participation): HTMLElement {
  const norm = p.update_norm;
  return h(
    'td',
    { class: p.outlier ? 'num nowrap warn' : 'num nowrap', testid: 'participant-norm' },
    norm === null || norm === undefined ? h('span', { class: 'muted' }, '–') : fmtNorm(norm),
    p.outlier
      ? h('span', { class: 'badge badge-failed badge-outlier', testid: 'badge-outlier', title: 'norm far above the round median' }, 'outlier')
      : null,
    p.clipped
      ? h('span', { class: 'badge badge-late badge-clipped', testid: 'badge-clipped', title: 'scaled down to the clip bound' }, 'clipped')
      : null,
  );
}

function fmtNorm(v: number): string {
  if (v !== 0 && (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3)) return v.toExponential(2);
  return fmtNum(v, 3);
}
