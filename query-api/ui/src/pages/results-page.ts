/**
 * /ui/experiments/{key} — the results. From the top: the SRM banner (with its p-value) when
 * the sample ratio check fails; the definition in one line; freshness ("last event 3 s
 * ago", ticking); the p-value mode (the definition's `analysis.sequential`, sequential by
 * default, with a toggle to fixed horizon and back); a
 * table per metric; the segment breakdown (dimension, optional `by`, correction) with the
 * "cells add up" indicator and the same tables per segment value; the results history chart
 * (hidden when the history route is absent or has no snapshots); the change history.
 * The reader's choices are kept in the URL (`?sequential=false&dimension=country&by=&correction=holm`).
 * The results reload every 10 s while the page is open.
 */
import { ApiError, apiGet, apiRequest, isAbort } from '../api.js';
import type {
  AuditEvent,
  ExperimentDefinition,
  HistoryResponse,
  ResultsResponse,
  SegmentsResponse,
} from '../api-types.js';
import { historyChart, legendSwatch } from '../charts.js';
import { h, replaceChildren, uniqueId } from '../dom.js';
import {
  formatAgo,
  formatCount,
  formatDateTime,
  formatPercent,
  formatPValue,
  formatSrmPValue,
  MISSING,
} from '../format.js';
import { metricTables } from '../results-table.js';
import type { PageContext } from './page.js';

/** Performance mark set when the results tables were first rendered. */
export const RESULTS_RENDERED_MARK = 'experiments-ui:results-rendered';
/** How often the open page reloads its results. */
const REFRESH_MS = 10_000;

interface View {
  /** Undefined: the definition's setting (`analysis.sequential`, else sequential). */
  sequential: boolean | undefined;
  dimension: string;
  by: string;
  correction: string;
}

function viewOf(params: URLSearchParams): View {
  return {
    sequential: params.has('sequential') ? params.get('sequential') !== 'false' : undefined,
    dimension: params.get('dimension') ?? '',
    by: params.get('by') ?? '',
    correction: ['holm', 'bh', 'none'].includes(params.get('correction') ?? '')
      ? (params.get('correction') as string)
      : 'holm',
  };
}

function keepInUrl(view: View): void {
  const query = new URLSearchParams();
  if (view.sequential !== undefined) query.set('sequential', String(view.sequential));
  if (view.dimension) query.set('dimension', view.dimension);
  if (view.dimension && view.by) query.set('by', view.by);
  if (view.dimension && view.correction !== 'holm') query.set('correction', view.correction);
  const encoded = query.toString();
  history.replaceState(null, '', `${location.pathname}${encoded ? `?${encoded}` : ''}`);
}

/** The banner shown above everything when the sample ratio check fails. */
export function srmBanner(
  results: { srm: ResultsResponse['srm']; variants: ResultsResponse['variants'] },
  definition: ExperimentDefinition,
): HTMLElement | null {
  if (!results.srm.mismatch) return null;
  const total = results.variants.reduce((sum, v) => sum + v.users, 0);
  const weightSum = definition.variants.reduce((sum, v) => sum + v.weight, 0) || 1;
  return h(
    'div',
    { class: 'banner banner-srm', role: 'alert', 'data-srm-p': String(results.srm.pValue) },
    h('h2', {}, h('span', { 'aria-hidden': 'true' }, '⚠ '), 'Sample ratio mismatch'),
    h(
      'p',
      {},
      `The users per variant do not match the configured weights (chi-square p = ${formatSrmPValue(results.srm.pValue)}, below 0.001). `,
      'Assignment or tracking is broken somewhere; the lifts below cannot be trusted until the cause is found.',
    ),
    h(
      'ul',
      {},
      results.variants.map((v) => {
        const weight = definition.variants.find((d) => d.id === v.variantId)?.weight ?? 0;
        return h(
          'li',
          {},
          `${v.variantId}: ${formatCount(v.users)} users (${formatPercent(total ? v.users / total : null, 1)}), expected ${formatPercent(weight / weightSum, 1)}`,
        );
      }),
    ),
  );
}

/** Renders the results page of one experiment. */
export async function renderResults(
  main: HTMLElement,
  context: PageContext,
  key: string,
  params: URLSearchParams,
): Promise<void> {
  const view = viewOf(params);
  const path = `/api/v1/experiments/${encodeURIComponent(key)}`;
  const modeQuery = () => (view.sequential === undefined ? '' : `?sequential=${String(view.sequential)}`);
  const resultsUrl = () => `${path}/results${modeQuery()}`;
  const [definitionAnswer, firstResults] = await Promise.all([
    apiRequest<ExperimentDefinition>('GET', path, { signal: context.signal }),
    apiGet<ResultsResponse>(resultsUrl(), context.signal),
  ]);
  const definition = definitionAnswer.body;
  context.setTitle(definition.name);
  const names = Object.fromEntries(definition.variants.map((v) => [v.id, v.name ?? v.id]));
  let results = firstResults;

  const banner = h('div', { class: 'banner-slot' });
  const freshness = h('span', { 'data-freshness': '' });
  const computed = h('span', { class: 'muted' });
  const totals = h('div', { class: 'totals' });
  const renderFreshness = () => {
    freshness.textContent = results.lastEventAt
      ? `Last event ${formatAgo(new Date(results.lastEventAt), new Date())}`
      : 'No events yet';
    computed.textContent = ` · computed ${formatAgo(new Date(results.computedAt), new Date())}`;
  };
  const renderTotals = () => {
    replaceChildren(banner, srmBanner(results, definition));
    renderFreshness();
    const users = results.variants.reduce((sum, v) => sum + v.users, 0);
    replaceChildren(
      totals,
      h(
        'p',
        { class: 'summary' },
        `${formatCount(users)} exposed users · alpha ${results.alpha} · SRM p = ${formatSrmPValue(results.srm.pValue)}`,
      ),
      metricTables(results.variants, {
        metrics: results.metrics,
        controlVariantId: results.controlVariantId,
        alpha: results.alpha,
        sequential: results.sequential,
        names,
        headingLevel: 3,
        idPrefix: 'totals',
      }),
    );
  };
  const reload = async () => {
    try {
      results = await apiGet<ResultsResponse>(resultsUrl(), context.signal);
      renderTotals();
    } catch (error) {
      if (!isAbort(error))
        freshness.textContent = `Could not reload: ${error instanceof Error ? error.message : String(error)}`;
    }
  };
  const ticker = setInterval(renderFreshness, 1000);
  const refresher = setInterval(() => void reload(), REFRESH_MS);
  context.onDispose(() => {
    clearInterval(ticker);
    clearInterval(refresher);
  });

  const modeName = uniqueId('mode');
  const mode = h(
    'fieldset',
    { class: 'mode' },
    h('legend', {}, 'p-values and intervals'),
    [
      { value: 'true', label: 'Sequential (always valid: safe to look any time)' },
      { value: 'false', label: 'Fixed horizon (only valid at the planned sample size)' },
    ].map((option) => {
      const id = uniqueId('mode-option');
      return h(
        'span',
        { class: 'radio' },
        h('input', {
          type: 'radio',
          id,
          name: modeName,
          value: option.value,
          checked: String(view.sequential ?? firstResults.sequential) === option.value,
          onchange: () => {
            view.sequential = option.value === 'true';
            keepInUrl(view);
            void reload();
            if (view.dimension) void loadSegments();
          },
        }),
        h('label', { for: id }, option.label),
      );
    }),
  );

  // Segment breakdown.
  const segmentOutput = h('div', { class: 'segments', 'aria-live': 'polite' });
  const dimensionId = uniqueId('dimension');
  const byId = uniqueId('by');
  const correctionId = uniqueId('correction');
  const dimensions = definition.segmentDimensions;
  const dimensionSelect = h(
    'select',
    { id: dimensionId, name: 'dimension' },
    h('option', { value: '' }, 'none (totals only)'),
    dimensions.map((d) => h('option', { value: d, selected: view.dimension === d }, d)),
  );
  const bySelect = h(
    'select',
    { id: byId, name: 'by' },
    h('option', { value: '' }, 'none'),
    dimensions.map((d) => h('option', { value: d, selected: view.by === d }, d)),
  );
  const correctionSelect = h(
    'select',
    { id: correctionId, name: 'correction' },
    [
      { value: 'holm', label: 'Holm (family-wise)' },
      { value: 'bh', label: 'Benjamini-Hochberg (false discoveries)' },
      { value: 'none', label: 'none' },
    ].map((c) => h('option', { value: c.value, selected: view.correction === c.value }, c.label)),
  );
  const loadSegments = async () => {
    if (!view.dimension) {
      replaceChildren(segmentOutput);
      return;
    }
    replaceChildren(segmentOutput, h('p', { class: 'loading', role: 'status' }, 'Loading the breakdown…'));
    const query = new URLSearchParams({ correction: view.correction });
    if (view.sequential !== undefined) query.set('sequential', String(view.sequential));
    if (view.by && view.by !== view.dimension) query.set('by', view.by);
    try {
      const breakdown = await apiGet<SegmentsResponse>(
        `${path}/segments/${encodeURIComponent(view.dimension)}?${query.toString()}`,
        context.signal,
      );
      replaceChildren(segmentOutput, renderBreakdown(breakdown, names));
    } catch (error) {
      if (isAbort(error)) return;
      replaceChildren(
        segmentOutput,
        h('p', { class: 'error', role: 'alert' }, error instanceof Error ? error.message : String(error)),
      );
    }
  };
  const segmentForm = h(
    'form',
    {
      class: 'segment-form',
      onsubmit: (event: Event) => {
        event.preventDefault();
        view.dimension = dimensionSelect.value;
        view.by = bySelect.value;
        view.correction = correctionSelect.value;
        keepInUrl(view);
        void loadSegments();
      },
    },
    h('span', { class: 'field' }, h('label', { for: dimensionId }, 'Dimension'), dimensionSelect),
    h('span', { class: 'field' }, h('label', { for: byId }, 'By (second dimension)'), bySelect),
    h('span', { class: 'field' }, h('label', { for: correctionId }, 'Correction'), correctionSelect),
    h('button', { type: 'submit' }, 'Show breakdown'),
  );

  const historySection = h('section', { class: 'history', 'aria-labelledby': 'history-heading', hidden: true });
  const changesSection = h('section', { class: 'changes', 'aria-labelledby': 'changes-heading', hidden: true });

  replaceChildren(
    main,
    banner,
    h(
      'div',
      { class: 'page-head' },
      h('h1', { tabindex: -1 }, definition.name),
      h('a', { class: 'button secondary', href: `/ui/experiments/${encodeURIComponent(key)}/edit` }, 'Edit definition'),
    ),
    h(
      'p',
      { class: 'definition-line' },
      h('code', {}, definition.key),
      ' · ',
      h('span', { class: `status status-${definition.status}` }, definition.status),
      ' · ',
      definition.variants.map((v) => `${v.id} ${formatPercent(v.weight, 0)}`).join(' / '),
      ` · coverage ${formatPercent(definition.coverage, 0)}`,
      Array.isArray(definition.owners) && definition.owners.length > 0
        ? ` · owners ${(definition.owners as string[]).join(', ')}`
        : null,
    ),
    h(
      'p',
      { class: 'freshness' },
      freshness,
      computed,
      ' ',
      h('button', { type: 'button', class: 'link-button', onclick: () => void reload() }, 'Refresh now'),
    ),
    mode,
    h('section', { 'aria-labelledby': 'results-heading' }, h('h2', { id: 'results-heading' }, 'Results'), totals),
    h(
      'section',
      { 'aria-labelledby': 'segments-heading' },
      h('h2', { id: 'segments-heading' }, 'Segment breakdown'),
      dimensions.length === 0
        ? h(
            'p',
            { class: 'muted' },
            'No segment dimensions declared: add some in the definition to break results down.',
          )
        : [segmentForm, segmentOutput],
    ),
    historySection,
    changesSection,
  );
  renderTotals();
  // The bench (bench/scenarios/ui.ts) reads this mark: navigation start → the tables are in the page.
  performance.mark(RESULTS_RENDERED_MARK);
  if (view.dimension) void loadSegments();
  void loadHistory(historySection, path, definition, results, context);
  void loadChanges(changesSection, key, context);
}

function renderBreakdown(breakdown: SegmentsResponse, names: Record<string, string>): HTMLElement {
  const addUp = breakdown.cellsAddUp
    ? h(
        'p',
        { class: 'cells cells-ok', 'data-cells-add-up': 'true' },
        h('span', { 'aria-hidden': 'true' }, '✓ '),
        'Cells add up: the segments sum exactly to the totals.',
      )
    : h(
        'div',
        { class: 'cells cells-off', 'data-cells-add-up': 'false' },
        h(
          'p',
          {},
          h('span', { 'aria-hidden': 'true' }, '⚠ '),
          `Cells do not add up (${breakdown.discrepancies.length} differences): writes may be in flight, or users carry more dimensions than pairs are kept for.`,
        ),
        h(
          'ul',
          {},
          breakdown.discrepancies.map((d) =>
            h('li', {}, `${d.variantId} · ${d.metricKey} · ${d.field}: total ${d.total}, segments ${d.sumOfSegments}`),
          ),
        ),
      );
  const title = breakdown.by ? `${breakdown.dimension} × ${breakdown.by}` : breakdown.dimension;
  return h(
    'div',
    {},
    h(
      'p',
      { class: 'summary' },
      `${title}: ${breakdown.segments.length} values, p-values ${breakdown.correction === 'none' ? 'uncorrected' : `${breakdown.correction}-corrected`} across values × variants × metrics.`,
    ),
    addUp,
    breakdown.segments.map((segment, index) => {
      const label = Object.entries(segment.values).length
        ? Object.entries(segment.values)
            .map(([dimension, value]) => `${dimension} = ${value}`)
            .join(', ')
        : segment.value;
      return h(
        'section',
        { class: 'segment', 'data-segment': segment.value, 'aria-labelledby': `segment-${index}` },
        h(
          'h3',
          { id: `segment-${index}` },
          segment.value === '(other)' ? '(other): every remaining value' : label,
          h('span', { class: 'muted' }, ` · ${formatCount(segment.users)} users`),
        ),
        segment.srm.mismatch
          ? h(
              'p',
              { class: 'warning-line' },
              h('span', { 'aria-hidden': 'true' }, '⚠ '),
              `Sample ratio mismatch in this segment (p = ${formatSrmPValue(segment.srm.pValue)}).`,
            )
          : null,
        metricTables(segment.variants, {
          metrics: breakdown.metrics,
          controlVariantId: breakdown.controlVariantId,
          alpha: breakdown.alpha,
          sequential: breakdown.sequential,
          correction: breakdown.correction,
          names,
          headingLevel: 4,
          idPrefix: `segment-${index}`,
        }),
      );
    }),
  );
}

async function loadHistory(
  section: HTMLElement,
  path: string,
  definition: ExperimentDefinition,
  results: ResultsResponse,
  context: PageContext,
): Promise<void> {
  const metrics = results.metrics.map((m) => m.key);
  if (metrics.length === 0) return;
  const metricId = uniqueId('history-metric');
  const select = h(
    'select',
    { id: metricId },
    metrics.map((m) => h('option', { value: m }, m)),
  );
  const body = h('div', { class: 'history-body' });
  const treatments = definition.variants.map((v) => v.id).filter((id) => id !== definition.controlVariantId);
  const load = async (metric: string): Promise<boolean> => {
    let answer: HistoryResponse;
    try {
      answer = await apiGet<HistoryResponse>(
        `${path}/results/history?metric=${encodeURIComponent(metric)}`,
        context.signal,
      );
    } catch (error) {
      if (error instanceof ApiError && error.status !== 401) return false;
      throw error;
    }
    if (!answer.points || answer.points.length === 0) {
      replaceChildren(body, h('p', { class: 'muted' }, `No snapshots of ${metric} yet.`));
      return false;
    }
    const latest = answer.points[answer.points.length - 1];
    replaceChildren(
      body,
      h(
        'ul',
        { class: 'legend' },
        treatments.map((id, index) => h('li', {}, legendSwatch(index), ` ${id} vs ${definition.controlVariantId}`)),
      ),
      historyChart(answer.points, treatments),
      latest
        ? h(
            'table',
            { class: 'history-latest' },
            h('caption', {}, `Latest snapshot, ${formatDateTime(latest.at)}`),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Variant', 'Users', 'Relative lift', 'Interval', 'p-value', 'Chance to win'].map((t) =>
                  h('th', { scope: 'col' }, t),
                ),
              ),
            ),
            h(
              'tbody',
              {},
              latest.variants.map((v) =>
                h(
                  'tr',
                  {},
                  h('th', { scope: 'row' }, v.variantId),
                  h('td', { class: 'num' }, formatCount(v.users)),
                  h('td', { class: 'num' }, v.lift ? formatPercent(v.lift.relative, 1, true) : 'control'),
                  h(
                    'td',
                    { class: 'num' },
                    v.lift
                      ? `${formatPercent(v.lift.interval[0], 1, true)} to ${formatPercent(v.lift.interval[1], 1, true)}`
                      : MISSING,
                  ),
                  h('td', { class: 'num' }, formatPValue(v.pValue)),
                  h('td', { class: 'num' }, formatPercent(v.chanceToWin, 1)),
                ),
              ),
            ),
          )
        : null,
    );
    return true;
  };
  try {
    if (!(await load(metrics[0] as string))) return;
  } catch (error) {
    if (isAbort(error)) return;
    return;
  }
  select.addEventListener('change', () => void load(select.value).catch(() => undefined));
  replaceChildren(
    section,
    h('h2', { id: 'history-heading' }, 'History'),
    h('p', { class: 'field' }, h('label', { for: metricId }, 'Metric'), select),
    body,
  );
  section.hidden = false;
}

/** One change of the definition in words: `status: draft → running`. */
export function describeChange(event: AuditEvent): string {
  const change = event.change as { fields?: Record<string, { before?: unknown; after?: unknown }> };
  if (event.action.endsWith('.created')) return 'created';
  if (event.action.endsWith('.deleted')) return 'deleted';
  if (!change.fields) return event.action;
  const short = (value: unknown) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    return text === undefined ? '∅' : text.length > 60 ? `${text.slice(0, 57)}…` : text;
  };
  return Object.entries(change.fields)
    .map(([field, { before, after }]) => `${field}: ${short(before)} → ${short(after)}`)
    .join('; ');
}

async function loadChanges(section: HTMLElement, key: string, context: PageContext): Promise<void> {
  let events: AuditEvent[];
  try {
    const answer = await apiGet<{ items: AuditEvent[] }>(
      `/api/v1/audit-events?resourceType=experiment&resourceId=${encodeURIComponent(key)}&limit=50`,
      context.signal,
    );
    events = answer.items;
  } catch {
    return;
  }
  if (events.length === 0) return;
  replaceChildren(
    section,
    h('h2', { id: 'changes-heading' }, 'Change history'),
    h(
      'ol',
      { class: 'change-list' },
      events.map((event) =>
        h(
          'li',
          {},
          h('time', { datetime: event.time }, formatDateTime(event.time)),
          ' · ',
          h('span', { class: 'actor' }, event.actor.username ?? event.actor.id),
          ' · ',
          describeChange(event),
        ),
      ),
    ),
  );
  section.hidden = false;
}
