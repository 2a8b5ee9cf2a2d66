/**
 * /ui/experiments/new and /ui/experiments/{key}/edit — the definition form: key, name,
 * description, status, variants and weights, control, coverage, metrics, segment
 * dimensions, targeting (JSON). The server checks everything: each problem it names
 * (`{ field, rule, message }`, e.g. `variants.1.weight`) is shown next to that field (or
 * the nearest enclosing one) and listed, with links, in a summary that takes the focus.
 * Edits are sent with `If-Match` (the version read); a 412 is explained — who changed
 * what since — with the choice to load their version or save over it.
 */
import { ApiError, apiRequest } from '../api.js';
import type { ExperimentDefinition, FieldProblem, MetricDefinition } from '../api-types.js';
import { h, replaceChildren, uniqueId } from '../dom.js';
import type { PageContext } from './page.js';

interface FieldSlot {
  /** The element that gets the focus and aria-invalid. */
  control: HTMLElement;
  /** Where the message goes. */
  error: HTMLElement;
}

/** A labelled input with its error slot; registered under its field path. */
function field(
  slots: Map<string, FieldSlot>,
  path: string,
  label: string,
  control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  hint?: string,
): HTMLElement {
  const id = control.id || uniqueId('field');
  control.id = id;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : undefined;
  control.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
  control.dataset.field = path;
  const error = h('span', { id: errorId, class: 'field-error' });
  slots.set(path, { control, error });
  return h(
    'div',
    { class: 'field', 'data-field-wrapper': path },
    h('label', { for: id }, label),
    control,
    hint ? h('span', { id: hintId, class: 'hint' }, hint) : null,
    error,
  );
}

/** The registered slot for a server field path, or the nearest enclosing one (`variants.1.weight` → `variants.1` → `variants`). */
export function slotFor<T>(slots: Map<string, T>, path: string): T | undefined {
  // The definition rules name list items `metrics[2].cap`, the schema `metrics.2.cap`: one form.
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  while (parts.length > 0) {
    const slot = slots.get(parts.join('.'));
    if (slot) return slot;
    parts.pop();
  }
  return undefined;
}

const text = (value: string | undefined) => h('input', { type: 'text', value: value ?? '' });
const numberInput = (value: number | undefined, step = '0.01') =>
  h('input', { type: 'number', step, min: 0, max: 1, value: value === undefined ? '' : String(value) });

/** Renders the new (key undefined) or edit form. */
export async function renderDefinitionForm(
  main: HTMLElement,
  context: PageContext,
  key: string | undefined,
): Promise<void> {
  let base: ExperimentDefinition | undefined;
  let etag: string | null = null;
  if (key) {
    const answer = await apiRequest<ExperimentDefinition>('GET', `/api/v1/experiments/${encodeURIComponent(key)}`, {
      signal: context.signal,
    });
    base = answer.body;
    etag = answer.etag;
  }
  const editing = base !== undefined;
  context.setTitle(editing ? `Edit ${base?.name ?? ''}` : 'New experiment');
  const slots = new Map<string, FieldSlot>();
  const initial: ExperimentDefinition = base ?? {
    key: '',
    name: '',
    status: 'draft',
    variants: [
      { id: 'control', weight: 0.5 },
      { id: 'treatment', weight: 0.5 },
    ],
    controlVariantId: 'control',
    coverage: 1,
    metrics: [{ key: 'purchase', type: 'binomial' }],
    segmentDimensions: ['country'],
  };

  const keyInput = text(initial.key);
  keyInput.required = true;
  // The README's example events use this key.
  keyInput.placeholder = 'checkout';
  const nameInput = text(initial.name);
  nameInput.required = true;
  const description = h('textarea', { rows: 2 }, initial.description ?? '');
  const status = h(
    'select',
    {},
    ['draft', 'running', 'stopped'].map((s) => h('option', { value: s, selected: initial.status === s }, s)),
  );
  const coverage = numberInput(initial.coverage);
  const dimensions = text(initial.segmentDimensions.join(', '));
  const initialOwners = Array.isArray(initial.owners) ? (initial.owners as string[]) : [];
  const owners = text(initialOwners.join(', '));
  const targeting = h(
    'textarea',
    { rows: 4, spellcheck: false, class: 'code' },
    initial.targeting === undefined ? '' : JSON.stringify(initial.targeting, null, 2),
  );
  const analysis = h(
    'textarea',
    { rows: 3, spellcheck: false, class: 'code' },
    initial.analysis === undefined ? '' : JSON.stringify(initial.analysis, null, 2),
  );
  const control = h('select', {});

  // Variants: a row each; the control select follows their ids.
  const variantRows = h('div', { class: 'rows' });
  const variantFieldset = h('fieldset', { class: 'repeat', 'data-field': 'variants' });
  const variantsError = h('span', { class: 'field-error', id: uniqueId('variants-error') });
  slots.set('variants', { control: variantFieldset, error: variantsError });
  const variantInputs: {
    id: HTMLInputElement;
    name: HTMLInputElement;
    weight: HTMLInputElement;
    url: HTMLInputElement;
  }[] = [];
  const refreshControl = () => {
    const chosen = control.value || initial.controlVariantId;
    replaceChildren(
      control,
      variantInputs
        .map((v) => v.id.value.trim())
        .filter(Boolean)
        .map((id) => h('option', { value: id, selected: id === chosen }, id)),
    );
  };
  const renderVariants = () => {
    for (const path of [...slots.keys()]) if (/^variants\.\d+/.test(path)) slots.delete(path);
    replaceChildren(
      variantRows,
      variantInputs.map((inputs, index) => {
        const rowError = h('span', { class: 'field-error' });
        const row = h(
          'div',
          { class: 'row', 'data-field': `variants.${index}` },
          field(slots, `variants.${index}.id`, `Variant ${index + 1} id`, inputs.id),
          field(slots, `variants.${index}.name`, 'Name (optional)', inputs.name),
          field(slots, `variants.${index}.weight`, 'Weight', inputs.weight),
          field(slots, `variants.${index}.url`, 'Split URL (optional)', inputs.url),
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              'aria-label': `Remove variant ${index + 1}`,
              disabled: variantInputs.length <= 2,
              onclick: () => {
                variantInputs.splice(index, 1);
                renderVariants();
              },
            },
            'Remove',
          ),
          rowError,
        );
        slots.set(`variants.${index}`, { control: inputs.id, error: rowError });
        return row;
      }),
    );
    refreshControl();
  };
  const addVariant = (v: { id: string; name?: string; weight: number; url?: string }) => {
    const inputs = {
      id: text(v.id),
      name: text(v.name),
      weight: numberInput(v.weight, 'any'),
      url: text(v.url),
    };
    inputs.id.addEventListener('input', refreshControl);
    variantInputs.push(inputs);
  };
  initial.variants.forEach(addVariant);
  replaceChildren(
    variantFieldset,
    h('legend', {}, 'Variants and weights'),
    h('p', { class: 'hint' }, 'Weights must add up to 1. The control is one of the variants.'),
    variantRows,
    variantsError,
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        onclick: () => {
          addVariant({ id: `variant-${variantInputs.length + 1}`, weight: 0 });
          renderVariants();
          variantInputs[variantInputs.length - 1]?.id.focus();
        },
      },
      'Add variant',
    ),
  );
  renderVariants();

  // Metrics.
  const metricRows = h('div', { class: 'rows' });
  const metricFieldset = h('fieldset', { class: 'repeat', 'data-field': 'metrics' });
  const metricsError = h('span', { class: 'field-error' });
  slots.set('metrics', { control: metricFieldset, error: metricsError });
  interface MetricInputs {
    key: HTMLInputElement;
    type: HTMLSelectElement;
    lower: HTMLInputElement;
    numerator: HTMLInputElement;
    denominator: HTMLInputElement;
    cap: HTMLInputElement;
    cuped: HTMLInputElement;
  }
  const metricInputs: MetricInputs[] = [];
  // Once running (or stopped), what the processors count by is fixed: the server refuses a change
  // (rule locked-while-running), so the form does not offer one for the metrics it started with.
  const countingLocked = base?.status === 'running' || base?.status === 'stopped';
  const lockedKeys = new Set(countingLocked ? (base?.metrics ?? []).map((m) => m.key) : []);
  const renderMetrics = () => {
    for (const path of [...slots.keys()]) if (/^metrics\.\d+/.test(path)) slots.delete(path);
    replaceChildren(
      metricRows,
      metricInputs.map((inputs, index) => {
        const lowerId = uniqueId('lower');
        inputs.lower.id = lowerId;
        const cupedId = uniqueId('cuped');
        inputs.cuped.id = cupedId;
        const ratioFields = h(
          'div',
          { class: 'ratio-fields' },
          field(slots, `metrics.${index}.numerator`, 'Numerator metric', inputs.numerator),
          field(slots, `metrics.${index}.denominator`, 'Denominator metric', inputs.denominator),
        );
        const capField = field(slots, `metrics.${index}.cap`, 'Cap per user (optional)', inputs.cap);
        const cupedError = h('span', { class: 'field-error' });
        slots.set(`metrics.${index}.cuped`, { control: inputs.cuped, error: cupedError });
        const cupedField = h(
          'div',
          { class: 'field checkbox' },
          inputs.cuped,
          h('label', { for: cupedId }, 'CUPED (covariates)'),
          cupedError,
        );
        // `display` rather than `hidden`: the row's fields are laid out with a display of their own.
        const show = (element: HTMLElement, shown: boolean) => {
          element.hidden = !shown;
          element.style.display = shown ? '' : 'none';
        };
        const showFieldsOfType = () => {
          const type = inputs.type.value;
          show(ratioFields, type === 'ratio');
          show(capField, type === 'mean');
          show(cupedField, type !== 'ratio');
        };
        inputs.type.onchange = showFieldsOfType;
        showFieldsOfType();
        return h(
          'div',
          { class: 'row', 'data-field': `metrics.${index}` },
          field(slots, `metrics.${index}.key`, `Metric ${index + 1} key`, inputs.key),
          field(slots, `metrics.${index}.type`, 'Type', inputs.type),
          ratioFields,
          capField,
          cupedField,
          h('div', { class: 'field checkbox' }, inputs.lower, h('label', { for: lowerId }, 'Lower is better')),
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              'aria-label': `Remove metric ${index + 1}`,
              onclick: () => {
                metricInputs.splice(index, 1);
                renderMetrics();
              },
            },
            'Remove',
          ),
        );
      }),
    );
  };
  const addMetric = (m: {
    key: string;
    type: string;
    lowerIsBetter?: boolean;
    numerator?: string;
    denominator?: string;
    cap?: number;
    cuped?: boolean;
  }) => {
    const locked = lockedKeys.has(m.key);
    const inputs: MetricInputs = {
      key: text(m.key),
      type: h(
        'select',
        {},
        h('option', { value: 'binomial', selected: m.type === 'binomial' }, 'binomial (converted or not)'),
        h('option', { value: 'mean', selected: m.type === 'mean' }, 'mean (value per user)'),
        h('option', { value: 'ratio', selected: m.type === 'ratio' }, 'ratio (Σ numerator / Σ denominator)'),
      ),
      lower: h('input', { type: 'checkbox', checked: m.lowerIsBetter === true }),
      numerator: text(m.numerator),
      denominator: text(m.denominator),
      cap: h('input', {
        type: 'number',
        step: 'any',
        min: 0,
        value: m.cap === undefined ? '' : String(m.cap),
        placeholder: 'no cap',
      }),
      cuped: h('input', { type: 'checkbox', checked: m.cuped === true }),
    };
    if (locked) {
      for (const control of [inputs.key, inputs.type, inputs.numerator, inputs.denominator, inputs.cap, inputs.cuped]) {
        control.disabled = true;
        control.title = `Fixed while the experiment is ${base?.status ?? 'running'}`;
      }
    }
    metricInputs.push(inputs);
  };
  initial.metrics.forEach(addMetric);
  replaceChildren(
    metricFieldset,
    h('legend', {}, 'Metrics'),
    h('p', { class: 'hint' }, 'The first metric is the primary one (its verdict is shown in the list).'),
    metricRows,
    metricsError,
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        onclick: () => {
          addMetric({ key: '', type: 'binomial' });
          renderMetrics();
          metricInputs[metricInputs.length - 1]?.key.focus();
        },
      },
      'Add metric',
    ),
  );
  renderMetrics();

  /**
   * One metric as the API takes it: ratio fields only on ratios, a cap only on means, CUPED only
   * off ratios; a field the stored metric had and the form cannot show is kept as it was.
   */
  const metricValues = (m: MetricInputs, stored: MetricDefinition | undefined): Record<string, unknown> => {
    const type = m.type.value;
    const metric: Record<string, unknown> = {
      ...stored,
      key: m.key.value.trim(),
      type,
      lowerIsBetter: m.lower.checked,
    };
    for (const name of ['numerator', 'denominator', 'cap', 'cuped']) delete metric[name];
    if (type === 'ratio') {
      metric.numerator = m.numerator.value.trim();
      metric.denominator = m.denominator.value.trim();
    }
    if (type === 'mean' && m.cap.value !== '') metric.cap = Number(m.cap.value);
    if (type !== 'ratio' && m.cuped.checked) metric.cuped = true;
    return metric;
  };

  const summary = h('div', { class: 'form-summary', tabindex: -1 });
  const submit = h('button', { type: 'submit' }, editing ? 'Save changes' : 'Create experiment');

  const values = (): Record<string, unknown> => {
    const body: Record<string, unknown> = {
      name: nameInput.value.trim(),
      status: status.value,
      variants: variantInputs.map((v) => ({
        id: v.id.value.trim(),
        ...(v.name.value.trim() ? { name: v.name.value.trim() } : {}),
        weight: v.weight.value === '' ? null : Number(v.weight.value),
        ...(v.url.value.trim() ? { url: v.url.value.trim() } : {}),
      })),
      controlVariantId: control.value,
      coverage: coverage.value === '' ? null : Number(coverage.value),
      metrics: metricInputs.map((m) =>
        metricValues(
          m,
          base?.metrics.find((b) => b.key === m.key.value.trim()),
        ),
      ),
      segmentDimensions: dimensions.value
        .split(',')
        .map((d) => d.trim())
        .filter(Boolean),
    };
    if (description.value.trim() || base?.description) body.description = description.value.trim();
    const ownerList = owners.value
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean);
    if (ownerList.length > 0 || initialOwners.length > 0) body.owners = ownerList;
    if (!editing) body.key = keyInput.value.trim();
    return body;
  };

  const clearProblems = () => {
    for (const slot of slots.values()) {
      slot.error.textContent = '';
      slot.control.removeAttribute('aria-invalid');
    }
    replaceChildren(summary);
    summary.className = 'form-summary';
  };

  const showProblems = (message: string, problems: FieldProblem[]) => {
    const items = problems.map((problem) => {
      const slot = slotFor(slots, problem.field);
      if (slot) {
        slot.error.textContent = `${slot.error.textContent ? `${slot.error.textContent} ` : ''}${problem.message}`;
        slot.control.setAttribute('aria-invalid', 'true');
        if (!slot.control.id) slot.control.id = uniqueId('invalid');
      }
      return h(
        'li',
        { 'data-problem-field': problem.field },
        slot
          ? h(
              'a',
              {
                href: `#${slot.control.id}`,
                onclick: (event: Event) => {
                  event.preventDefault();
                  slot.control.focus();
                },
              },
              problem.field,
            )
          : h('strong', {}, problem.field),
        `: ${problem.message} (${problem.rule})`,
      );
    });
    summary.className = 'form-summary error-summary';
    replaceChildren(
      summary,
      h('h2', {}, editing ? 'The changes were not saved' : 'The experiment was not created'),
      h(
        'p',
        {},
        problems.length ? `The server found ${problems.length} problem${problems.length > 1 ? 's' : ''}:` : message,
      ),
      items.length ? h('ul', {}, items) : null,
    );
    summary.setAttribute('role', 'alert');
    summary.focus();
  };

  const explainConflict = async (error: ApiError, body: Record<string, unknown>) => {
    let current: ExperimentDefinition | undefined;
    let currentEtag = error.etag;
    try {
      const answer = await apiRequest<ExperimentDefinition>(
        'GET',
        `/api/v1/experiments/${encodeURIComponent(key ?? '')}`,
      );
      current = answer.body;
      currentEtag = answer.etag ?? currentEtag;
    } catch {
      current = undefined;
    }
    const changed =
      current && base
        ? Object.keys({ ...base, ...current }).filter(
            (name) => JSON.stringify(base?.[name]) !== JSON.stringify(current?.[name]),
          )
        : [];
    summary.className = 'form-summary error-summary';
    summary.setAttribute('role', 'alert');
    replaceChildren(
      summary,
      h('h2', {}, 'Someone else changed this experiment'),
      h(
        'p',
        { 'data-conflict': '' },
        `Since you opened this form (version ${etag ?? '?'}), it was saved again (now ${currentEtag ?? 'a newer version'}). `,
        'Nothing of yours was saved: the server refuses a change based on an old version (If-Match) so that no edit is silently lost.',
      ),
      changed.length ? h('p', {}, `They changed: ${changed.join(', ')}.`) : null,
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          { type: 'button', class: 'secondary', onclick: () => context.navigate(location.pathname, true) },
          'Load their version (discard mine)',
        ),
        h(
          'button',
          {
            type: 'button',
            onclick: () => {
              etag = currentEtag;
              if (current) base = current;
              void save(body);
            },
          },
          'Save mine over theirs',
        ),
      ),
    );
    summary.focus();
  };

  const save = async (body: Record<string, unknown>) => {
    clearProblems();
    submit.disabled = true;
    try {
      if (editing) {
        await apiRequest('PATCH', `/api/v1/experiments/${encodeURIComponent(key ?? '')}`, {
          body,
          headers: etag ? { 'if-match': etag } : {},
        });
        context.navigate(`/ui/experiments/${encodeURIComponent(key ?? '')}`);
      } else {
        await apiRequest('POST', '/api/v1/experiments', { body });
        context.navigate(`/ui/experiments/${encodeURIComponent(String(body.key))}`);
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 412) await explainConflict(error, body);
      else if (error instanceof ApiError) {
        const problems = error.problems.length
          ? error.problems
          : error.status === 409
            ? [{ field: 'key', rule: 'unique', message: error.message }]
            : [];
        showProblems(error.message, problems);
      } else showProblems(error instanceof Error ? error.message : String(error), []);
    } finally {
      submit.disabled = false;
    }
  };

  const form = h(
    'form',
    {
      class: 'definition',
      novalidate: true,
      onsubmit: (event: Event) => {
        event.preventDefault();
        const body = values();
        for (const [name, input] of [
          ['targeting', targeting],
          ['analysis', analysis],
        ] as const) {
          const json = input.value.trim();
          if (!json) {
            // A cleared box removes what is stored (PATCH `null`); left out, the server would keep it.
            if (base?.[name] !== undefined) body[name] = null;
            continue;
          }
          try {
            body[name] = JSON.parse(json) as unknown;
          } catch (error) {
            clearProblems();
            showProblems(`${name} is not JSON`, [
              {
                field: name,
                rule: 'json',
                message: `not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
              },
            ]);
            return;
          }
        }
        void save(body);
      },
    },
    summary,
    editing
      ? h('p', {}, 'Key ', h('code', {}, base?.key ?? ''))
      : field(slots, 'key', 'Key', keyInput, 'Events carry it as experimentId; letters, digits, - _ . : only.'),
    field(slots, 'name', 'Name', nameInput),
    field(slots, 'description', 'Description (optional)', description),
    field(slots, 'status', 'Status', status, 'Only running experiments are assigned at the edge.'),
    variantFieldset,
    field(slots, 'controlVariantId', 'Control variant', control),
    field(slots, 'coverage', 'Coverage', coverage, 'Share of eligible users included, 0 to 1.'),
    metricFieldset,
    field(slots, 'segmentDimensions', 'Segment dimensions', dimensions, 'Comma-separated, e.g. country, device.'),
    field(slots, 'owners', 'Owners (optional)', owners, 'Email addresses, comma-separated: they get the alerts.'),
    field(
      slots,
      'targeting',
      'Targeting rule (JSON, optional)',
      targeting,
      'e.g. {"attribute":"country","op":"in","values":["US"]}',
    ),
    field(
      slots,
      'analysis',
      'Statistics settings (JSON, optional)',
      analysis,
      'e.g. {"alpha":0.05,"sequential":true,"expectedSampleSize":20000}; the API docs list every setting.',
    ),
    h(
      'div',
      { class: 'actions' },
      submit,
      h('a', { href: key ? `/ui/experiments/${encodeURIComponent(key)}` : '/ui/' }, 'Cancel'),
    ),
  );
  replaceChildren(main, h('h1', { tabindex: -1 }, editing ? `Edit ${base?.name ?? ''}` : 'New experiment'), form);
}
