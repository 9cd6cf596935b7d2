// Number, byte, ratio and time formatting for display.

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !isFinite(n)) return '–';
  const neg = n < 0;
  let v = Math.abs(n);
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const s = i === 0 ? String(Math.round(v)) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return (neg ? '−' : '') + s + ' ' + units[i];
}

/** raw / wire as "4.0×"; "–" when either is zero. */
export function fmtRatio(raw: number, wire: number): string {
  if (!raw || !wire) return '–';
  const r = raw / wire;
  return (r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)) + '×';
}

/** Accuracy in [0,1] (or already a percentage when > 1) as "85.3%". */
export function fmtPct(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !isFinite(x)) return '–';
  const p = x <= 1 ? x * 100 : x;
  return p.toFixed(digits) + '%';
}

export function fmtNum(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !isFinite(x)) return '–';
  return Number(x.toFixed(digits)).toString();
}

export function fmtInt(x: number | null | undefined): string {
  if (x === null || x === undefined || !isFinite(x)) return '–';
  return Math.round(x).toLocaleString('en-US');
}

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return Math.round(ms) + ' ms';
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtRelative(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return 'never';
  const d = (now - ms) / 1000;
  if (d < -5) return 'in the future';
  if (d < 5) return 'just now';
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86400)} d ago`;
}

export function fmtTime(ms: number | null | undefined): string {
  if (!ms) return '–';
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
