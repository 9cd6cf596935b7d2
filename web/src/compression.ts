// Compression presets and a rough client-side estimate of the compression
// ratio (raw fp32 bytes / bytes on the wire) for a spec. The estimate counts
// value bits and index bits per kept element only; the server's real figures
// (per round, raw vs wire) are shown on the job page.

export interface PresetInfo {
  id: string;
  label: string;
  description: string;
  /** Equivalent custom spec, used for the estimate and as a starting point. */
  spec: Direction & { downlink?: Direction };
}

interface Direction {
  sparsify?: { method?: string; ratio?: number };
  quantize?: { method?: string; bits?: number; centroids?: number };
  entropy?: { method?: string; level?: number };
  error_feedback?: boolean;
}

const topk = (ratio: number, quantize: Direction['quantize']): Direction => ({
  sparsify: { method: 'topk', ratio },
  quantize,
  entropy: { method: 'zstd', level: 3 },
});

export const PRESETS: PresetInfo[] = [
  { id: 'none', label: 'none', description: 'fp32 weights, no compression', spec: {} },
  {
    id: 'q8',
    label: 'q8',
    description: '8-bit uniform quantisation + zstd, error feedback',
    spec: {
      quantize: { method: 'uniform', bits: 8 },
      entropy: { method: 'zstd', level: 3 },
      error_feedback: true,
      downlink: { quantize: { method: 'uniform', bits: 8 }, entropy: { method: 'zstd', level: 3 } },
    },
  },
  {
    id: 'topk1%-q4',
    label: 'topk1%-q4',
    description: 'top-1% sparsification, 4-bit values, error feedback',
    spec: {
      ...topk(0.01, { method: 'uniform', bits: 4 }),
      error_feedback: true,
      downlink: topk(0.05, { method: 'uniform', bits: 8 }),
    },
  },
  {
    id: 'topk1%-q8',
    label: 'topk1%-q8',
    description: 'top-1% sparsification, 8-bit values, error feedback; denser download',
    spec: {
      ...topk(0.01, { method: 'uniform', bits: 8 }),
      error_feedback: true,
      downlink: topk(0.1, { method: 'uniform', bits: 8 }),
    },
  },
  {
    id: 'topk2%-q4',
    label: 'topk2%-q4',
    description: 'top-2% sparsification, 4-bit values, error feedback; denser download',
    spec: {
      ...topk(0.02, { method: 'uniform', bits: 4 }),
      error_feedback: true,
      downlink: topk(0.1, { method: 'uniform', bits: 8 }),
    },
  },
  {
    id: 'topk2%-q4-lw',
    label: 'topk2%-q4-lw',
    description: 'layer-wise top-k: 1.9% of big layers, 20% of layers under 8,192 values; 4-bit values, error feedback',
    spec: {
      ...topk(0.019, { method: 'uniform', bits: 4 }),
      error_feedback: true,
      downlink: topk(0.15, { method: 'uniform', bits: 8 }),
    },
  },
  {
    id: 'fedzip',
    label: 'fedzip',
    description: 'top-1% + 3-centroid k-means codebook (FedZip-style)',
    spec: {
      ...topk(0.01, { method: 'kmeans', centroids: 3 }),
      error_feedback: true,
      downlink: topk(0.05, { method: 'uniform', bits: 8 }),
    },
  },
  {
    id: 'stc',
    label: 'stc',
    description: 'sparse ternary compression: top-1% ternary both ways',
    spec: {
      ...topk(0.01, { method: 'ternary' }),
      error_feedback: true,
      downlink: topk(0.02, { method: 'ternary' }),
    },
  },
];

function valueBits(q: Direction['quantize']): number {
  switch (q?.method) {
    case 'uniform':
      return Math.max(1, Math.min(32, q.bits ?? 8)) + 0.1; // + per-block scale
    case 'fp16':
      return 16;
    case 'kmeans':
      return Math.max(1, Math.ceil(Math.log2(Math.max(2, q.centroids ?? 4))));
    case 'ternary':
      return 1.6;
    default:
      return 32;
  }
}

/** Estimated raw/wire ratio for one direction, or null if the spec is unreadable. */
export function estimateDirection(d: Direction | undefined): number {
  if (!d) return 1;
  const sp = d.sparsify;
  const ratio =
    sp && sp.method && sp.method !== 'none' ? Math.max(1e-6, Math.min(1, Number(sp.ratio ?? 1))) : 1;
  const v = valueBits(d.quantize);
  // Delta-coded indices of a sparse layer cost about log2(gap) + 2 bits each.
  const idx = ratio < 1 ? Math.log2(1 / ratio) + 2 : 0;
  let r = 32 / (ratio * (v + idx));
  if (d.entropy?.method === 'zstd') r *= ratio < 1 ? 1.05 : v >= 32 ? 1.08 : 1.15;
  return r;
}

export interface Estimate {
  up: number;
  down: number;
}

export function estimate(spec: unknown): Estimate | null {
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) return null;
  const s = spec as Record<string, unknown>;
  let base: PresetInfo['spec'] = {};
  const name = (s.preset ?? s.method) as string | undefined;
  if (name !== undefined) {
    const p = PRESETS.find((x) => x.id === name);
    if (!p) return null;
    base = p.spec;
  }
  const merged = { ...base, ...(s as Direction) };
  const down = (s.downlink as Direction | undefined) ?? base.downlink;
  return { up: estimateDirection(merged), down: estimateDirection(down ? { ...down } : undefined) };
}

export function fmtEstimate(r: number): string {
  if (r < 1.05) return '1×';
  return '~' + (r >= 20 ? String(Math.round(r / 10) * 10) : r.toFixed(1)) + '×';
}

/** The JSON sent for a preset: the server accepts {"method":"none"} today. */
export function presetJson(id: string): Record<string, unknown> {
  return id === 'none' ? { method: 'none' } : { preset: id };
}

export const CUSTOM_EXAMPLE = {
  sparsify: { method: 'topk', ratio: 0.01 },
  error_feedback: true,
  quantize: { method: 'uniform', bits: 4 },
  entropy: { method: 'zstd', level: 3 },
};
