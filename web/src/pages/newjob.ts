// New job form: every spec field with defaults, compression preset with an
// estimated ratio (or custom JSON), aggregation strategy and clipping, server
// validation errors shown next to their fields. `novalidate`: the server is
// the judge of ranges.
import { ApiError, createJob } from '../api';
import { CUSTOM_EXAMPLE, estimate, fmtEstimate, PRESETS, presetJson } from '../compression';
import { clear, h, type Page } from '../dom';

interface NumField {
  name: string;
  label: string;
  value: string;
  hint: string;
  int: boolean;
  min?: number;
  max?: number;
  step?: string;
  placeholder?: string;
}

const TRAINING: NumField[] = [
  { name: 'rounds', label: 'Rounds', value: '10', hint: '1 – 100000', int: true, min: 1, max: 100000 },
  { name: 'clients_per_round', label: 'Clients per round', value: '4', hint: 'clients picked each round', int: true, min: 1 },
  { name: 'min_clients', label: 'Min clients', value: '', hint: 'quorum to commit a round; blank = half, rounded up', int: true, min: 1, placeholder: 'default' },
  { name: 'local_epochs', label: 'Local epochs', value: '1', hint: '1 – 100', int: true, min: 1, max: 100 },
  { name: 'batch_size', label: 'Batch size', value: '32', hint: '1 – 4096', int: true, min: 1, max: 4096 },
  { name: 'lr', label: 'Learning rate', value: '0.05', hint: '(0, 10]', int: false, step: 'any' },
  { name: 'momentum', label: 'Momentum', value: '0.9', hint: '[0, 1)', int: false, step: 'any' },
  { name: 'round_timeout_s', label: 'Round timeout (s)', value: '120', hint: '1 – 86400', int: false, step: 'any' },
  { name: 'seed', label: 'Seed', value: '1', hint: 'non-negative integer', int: true, min: 0 },
];

// Aggregation numbers; blank = the server's default.
const AGGREGATION: NumField[] = [
  { name: 'trim_ratio', label: 'Trim ratio', value: '0.2', hint: 'trimmed_mean: share dropped at each end, [0, 0.5)', int: false, step: 'any' },
  { name: 'clip_norm', label: 'Clip norm', value: '0', hint: 'scale updates down to this L2 norm; 0 = off', int: false, step: 'any', min: 0 },
  { name: 'adaptive_clip', label: 'Adaptive clip', value: '0', hint: '× the round’s median update norm; 0 = off, else ≥ 1', int: false, step: 'any', min: 0 },
  { name: 'outlier_factor', label: 'Outlier factor', value: '3', hint: 'flag updates with norm > factor × median', int: false, step: 'any' },
];

function defaultName(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `fmnist-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}`;
}

export function newJobPage(): Page {
  const errors = new Map<string, HTMLElement>();
  const inputs = new Map<string, HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>();

  function field(
    name: string,
    label: string,
    control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
    hint?: string | Node,
    wide = false,
  ): HTMLElement {
    control.id = `f-${name}`;
    control.setAttribute('data-testid', `field-${name}`);
    control.setAttribute('name', name);
    inputs.set(name, control);
    const err = h('div', { class: 'field-error', testid: `error-${name}`, id: `e-${name}`, role: 'alert' });
    errors.set(name, err);
    control.setAttribute('aria-describedby', `e-${name}`);
    control.addEventListener('input', () => setError(name, ''));
    return h(
      'div',
      { class: wide ? 'field field-wide' : 'field' },
      h('label', { for: control.id }, label),
      control,
      hint ? h('div', { class: 'hint' }, hint) : null,
      err,
    );
  }

  function setError(name: string, msg: string): void {
    const e = errors.get(name);
    if (!e) return;
    e.textContent = msg;
    inputs.get(name)?.classList.toggle('invalid', !!msg);
    inputs.get(name)?.setAttribute('aria-invalid', msg ? 'true' : 'false');
  }

  const nameInput = h('input', { type: 'text', value: defaultName(), maxlength: 100, autocomplete: 'off' });
  const model = h(
    'select',
    null,
    h('option', { value: 'mlp' }, 'mlp — small multilayer perceptron'),
    h('option', { value: 'cnn', selected: true }, 'cnn — 2-layer CNN'),
    h('option', { value: 'cnn-large' }, 'cnn-large — wider CNN'),
  );
  const dataset = h('select', null, h('option', { value: 'fashion-mnist', selected: true }, 'fashion-mnist'));
  const evaluation = h(
    'select',
    null,
    h('option', { value: 'pipelined', selected: true }, 'pipelined'),
    h('option', { value: 'blocking' }, 'blocking'),
  );

  const numFields = TRAINING.map((f) =>
    field(
      f.name,
      f.label,
      h('input', {
        type: 'number',
        inputmode: f.int ? 'numeric' : 'decimal',
        value: f.value,
        min: f.min,
        max: f.max,
        step: f.step ?? '1',
        placeholder: f.placeholder,
      }),
      f.hint,
    ),
  );

  // Aggregation. Fields are named by their JSON path, so the server's
  // "aggregation.clip_norm" errors land next to the right input.
  const strategy = h(
    'select',
    null,
    h('option', { value: 'fedavg', selected: true }, 'fedavg — sample-weighted mean (streaming)'),
    h('option', { value: 'median' }, 'median — coordinate-wise median (robust)'),
    h('option', { value: 'trimmed_mean' }, 'trimmed_mean — coordinate-wise trimmed mean (robust)'),
  );
  const aggFields = AGGREGATION.map((f) =>
    field(
      `aggregation.${f.name}`,
      f.label,
      h('input', { type: 'number', inputmode: 'decimal', value: f.value, min: f.min, step: f.step ?? 'any' }),
      f.hint,
    ),
  );
  const trimInput = () => inputs.get('aggregation.trim_ratio') as HTMLInputElement;
  const syncAggregation = () => {
    trimInput().disabled = strategy.value !== 'trimmed_mean';
  };
  strategy.addEventListener('change', syncAggregation);

  // Compression.
  const preset = h(
    'select',
    null,
    PRESETS.map((p) => h('option', { value: p.id }, `${p.label} — ${p.description}`)),
    h('option', { value: 'custom' }, 'custom — JSON below'),
  );
  const estimateEl = h('div', { class: 'estimate', testid: 'compression-estimate' });
  const custom = h('textarea', {
    rows: 8,
    spellcheck: 'false',
    class: 'mono',
    'aria-label': 'Custom compression JSON',
  });
  custom.value = JSON.stringify(CUSTOM_EXAMPLE, null, 2);
  const advanced = h(
    'details',
    { class: 'advanced', testid: 'compression-advanced' },
    h('summary', null, 'Advanced: custom compression JSON'),
    h(
      'p',
      { class: 'hint' },
      'Used when the preset is “custom”. Stages: sparsify (topk/randomk, ratio), quantize (uniform bits, fp16, kmeans, ternary), entropy (zstd level), error_feedback, downlink {…}. A preset plus fields also works, e.g. {"preset":"q8","entropy":{"method":"none"}}.',
    ),
  );

  function compressionValue(): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } {
    if (preset.value !== 'custom') return { ok: true, value: presetJson(preset.value) };
    try {
      const v = JSON.parse(custom.value);
      if (!v || typeof v !== 'object' || Array.isArray(v)) return { ok: false, error: 'must be a JSON object' };
      return { ok: true, value: v };
    } catch (e) {
      return { ok: false, error: `not valid JSON: ${(e as Error).message}` };
    }
  }

  function updateEstimate(): void {
    const c = compressionValue();
    const est = c.ok ? estimate(c.value) : null;
    if (!est) {
      clear(estimateEl, h('span', { class: 'muted' }, 'Estimated ratio: – (cannot read the spec)'));
      return;
    }
    clear(
      estimateEl,
      'Estimated upload ratio ',
      h('strong', { testid: 'estimate-up' }, fmtEstimate(est.up)),
      ' · download ',
      h('strong', null, fmtEstimate(est.down)),
      h('span', { class: 'tag' }, 'estimate'),
    );
  }
  preset.addEventListener('change', () => {
    if (preset.value === 'custom') advanced.open = true;
    updateEstimate();
  });
  custom.addEventListener('input', updateEstimate);

  const formError = h('div', { class: 'form-error', testid: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn btn-primary', type: 'submit', testid: 'submit-job' }, 'Create job');

  const form = h(
    'form',
    { class: 'form', novalidate: true, testid: 'new-job-form' },
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Job'),
      h(
        'div',
        { class: 'grid' },
        field('name', 'Name', nameInput, '1 – 100 characters', true),
        field('model', 'Model', model),
        field('dataset', 'Dataset', dataset),
        field('evaluation', 'Evaluation', evaluation, 'pipelined: a round is tested while the next one trains; blocking: each round waits for its test'),
      ),
    ),
    h('section', { class: 'card' }, h('h2', null, 'Training'), h('div', { class: 'grid grid-numbers' }, numFields)),
    h(
      'section',
      { class: 'card', testid: 'aggregation-section' },
      h('h2', null, 'Aggregation'),
      h(
        'div',
        { class: 'grid' },
        field(
          'aggregation.strategy',
          'Strategy',
          strategy,
          'median and trimmed_mean resist poisoned updates but keep every update of a round in server memory',
          true,
        ),
      ),
      h('div', { class: 'grid grid-numbers' }, aggFields),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Compression'),
      h('div', { class: 'grid' }, field('compression', 'Preset', preset, estimateEl, true)),
      advanced,
    ),
    formError,
    h('div', { class: 'form-actions' }, h('a', { class: 'btn btn-ghost', href: '#/jobs' }, 'Cancel'), submit),
  );
  advanced.appendChild(custom);
  updateEstimate();
  syncAggregation();

  function buildBody(): Record<string, unknown> | null {
    let ok = true;
    const body: Record<string, unknown> = {
      name: nameInput.value,
      model: model.value,
      dataset: dataset.value,
      evaluation: evaluation.value,
    };
    for (const f of TRAINING) {
      const input = inputs.get(f.name) as HTMLInputElement;
      if (input.validity.badInput) {
        setError(f.name, 'not a number');
        ok = false;
        continue;
      }
      const raw = input.value.trim();
      if (raw === '') {
        if (f.name !== 'min_clients') {
          setError(f.name, 'required');
          ok = false;
        }
        continue;
      }
      body[f.name] = Number(raw);
    }
    const aggregation: Record<string, unknown> = { strategy: strategy.value };
    for (const f of AGGREGATION) {
      const key = `aggregation.${f.name}`;
      const input = inputs.get(key) as HTMLInputElement;
      if (input.disabled) continue;
      if (input.validity.badInput) {
        setError(key, 'not a number');
        ok = false;
        continue;
      }
      const raw = input.value.trim();
      if (raw !== '') aggregation[f.name] = Number(raw);
    }
    body.aggregation = aggregation;
    const c = compressionValue();
    if (c.ok) body.compression = c.value;
    else {
      setError('compression', c.error);
      ok = false;
    }
    return ok ? body : null;
  }

  function showServerErrors(e: ApiError): void {
    const unplaced: string[] = [];
    let first: string | null = null;
    for (const fe of e.fields) {
      const path = fe.field ?? '';
      // The field itself when the form has it (aggregation.*), else its top level.
      const top = errors.has(path) ? path : path.split('.')[0];
      if (errors.has(top)) {
        const prev = errors.get(top)!.textContent;
        const msg = top === path ? fe.message : `${path}: ${fe.message}`;
        setError(top, prev ? `${prev}; ${msg}` : msg);
        first ??= top;
      } else {
        unplaced.push(path ? `${path}: ${fe.message}` : fe.message);
      }
    }
    const n = e.fields.length;
    clear(
      formError,
      h('strong', null, n ? `The server rejected the job (${n} problem${n > 1 ? 's' : ''}).` : e.message),
      unplaced.length ? h('ul', null, unplaced.map((u) => h('li', null, u))) : null,
    );
    formError.hidden = false;
    if (first) inputs.get(first)?.focus();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const k of errors.keys()) setError(k, '');
    formError.hidden = true;
    const body = buildBody();
    if (!body) return;
    submit.disabled = true;
    submit.textContent = 'Creating…';
    try {
      const res = await createJob(body);
      location.hash = `#/jobs/${res.id}`;
    } catch (e) {
      const err = e as ApiError;
      if (err.status === 400 && err.fields?.length) showServerErrors(err);
      else {
        clear(formError, h('strong', null, 'Could not create the job: '), err.message);
        formError.hidden = false;
      }
    } finally {
      submit.disabled = false;
      submit.textContent = 'Create job';
    }
  });

  const el = h(
    'div',
    { class: 'page page-narrow', testid: 'page-new-job' },
    h('div', { class: 'page-head' }, h('h1', null, 'New job'), h('a', { href: '#/jobs', class: 'muted' }, '← Jobs')),
    form,
  );
  return { el, destroy() {} };
}
