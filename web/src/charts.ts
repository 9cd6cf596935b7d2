// Line charts on uPlot: a titled card that resizes with its container and
// exposes the number of plotted points as data-points (for tests).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';

export interface SeriesDef {
  label: string;
  color: string;
  scale?: string;
  dash?: number[];
  fmt?: (v: number) => string;
}

export interface AxisDef {
  scale: string;
  fmt: (v: number) => string;
  side?: 'left' | 'right';
  /** Always include zero (bytes: raw vs wire read honestly from a zero base). */
  zero?: boolean;
}

// Axis width fitted to its longest label (uPlot's documented recipe).
function axisSize(self: uPlot, values: string[] | null, axisIdx: number, cycleNum: number): number {
  const axis = self.axes[axisIdx] as uPlot.Axis & { _size?: number; ticks: { size: number }; gap: number; font: [string] };
  if (cycleNum > 1 && axis._size) return axis._size;
  let size = (axis.ticks?.size ?? 10) + (axis.gap ?? 5) + 4;
  const longest = (values ?? []).reduce((a, v) => (v && v.length > a.length ? v : a), '');
  if (longest) {
    self.ctx.font = axis.font[0];
    size += self.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size);
}

function zeroRange(_u: uPlot, min: number, max: number): uPlot.Range.MinMax {
  const lo = Math.min(0, min);
  const hi = Math.max(0, max);
  if (hi === lo) return [lo, lo + 1];
  const pad = (hi - lo) * 0.08;
  return [lo < 0 ? lo - pad : 0, hi > 0 ? hi + pad : 0];
}

export class LineChart {
  el: HTMLElement;
  private plotEl: HTMLElement;
  private plot: uPlot | null = null;
  private data: uPlot.AlignedData;
  private ro: ResizeObserver;
  private empty: HTMLElement;

  constructor(
    testid: string,
    title: string,
    private series: SeriesDef[],
    private axes: AxisDef[],
  ) {
    this.plotEl = h('div', { class: 'chart-plot' });
    this.empty = h('div', { class: 'chart-empty' }, 'No committed rounds yet');
    this.el = h(
      'section',
      { class: 'card chart', testid, 'data-points': '0' },
      h('h3', null, title),
      this.plotEl,
      this.empty,
    );
    this.data = [[], ...series.map(() => [])];
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(this.plotEl);
  }

  private size(): { width: number; height: number } {
    const width = Math.max(200, Math.floor(this.plotEl.clientWidth));
    return { width, height: width < 500 ? 180 : 220 };
  }

  private build(): void {
    const few = this.data[0].length < 12;
    const opts: uPlot.Options = {
      ...this.size(),
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: {
        x: { time: false },
        ...Object.fromEntries(
          this.axes.map((a) => [a.scale, a.zero ? { range: zeroRange } : { auto: true }]),
        ),
      },
      axes: [
        {
          label: 'round',
          labelSize: 18,
          size: 36,
          incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
          values: (_u, vals) => vals.map((v) => (Number.isInteger(v) ? String(v) : '')),
          stroke: '#475569',
          grid: { stroke: '#eef2f7' },
        },
        ...this.axes.map((a) => ({
          scale: a.scale,
          side: a.side === 'right' ? 1 : 3,
          size: axisSize,
          values: (_u: uPlot, vals: number[]) => vals.map((v) => (v === null ? '' : a.fmt(v))),
          stroke: '#475569',
          grid: { show: a.side !== 'right', stroke: '#eef2f7' },
        })),
      ],
      series: [
        {
          label: 'round',
          value: (u: uPlot, v: number | null, _si: number, idx: number | null) => {
            if (idx === null || idx === undefined) {
              const xs = u.data[0];
              return xs.length ? `${xs[xs.length - 1]} (latest)` : '–';
            }
            return v === null ? '–' : String(v);
          },
        },
        ...this.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          dash: s.dash,
          scale: s.scale ?? this.axes[0].scale,
          points: { show: few, size: 6, fill: s.color },
          // Off the plot the legend shows the latest value.
          value: (u: uPlot, v: number | null, si: number, idx: number | null) => {
            if (idx === null || idx === undefined) {
              const col = u.data[si] as (number | null)[];
              v = col && col.length ? col[col.length - 1] : null;
            }
            return v === null || v === undefined ? '–' : (s.fmt ?? String)(v);
          },
        })),
      ],
    };
    this.plot?.destroy();
    this.plot = new uPlot(opts, this.data, this.plotEl);
  }

  setData(x: number[], ys: (number | null)[][]): void {
    const prevFew = this.data[0].length < 12;
    this.data = [x, ...ys] as uPlot.AlignedData;
    this.el.setAttribute('data-points', String(x.length));
    this.empty.style.display = x.length ? 'none' : '';
    this.plotEl.style.display = x.length ? '' : 'none';
    if (!x.length) return;
    if (!this.plot || prevFew !== x.length < 12) this.build();
    else this.plot.setData(this.data);
  }

  private resize(): void {
    if (this.plot && this.plotEl.clientWidth > 0) this.plot.setSize(this.size());
  }

  destroy(): void {
    this.ro.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
