/**
 * The results table of one metric: a row per variant with users, mean (rate for binomial
 * metrics), absolute and relative lift with the interval drawn against zero, p-value
 * (sequential or fixed horizon, corrected in segment breakdowns), chance to win, risk,
 * and the verdict as a word and an icon with the API's warnings. Used for the totals and,
 * unchanged, for every segment value.
 *
 * A ratio metric's heading names its numerator and denominator (its mean is Σ N / Σ D); a
 * capped metric's says "capped at C" (its mean and lifts use min(total, C) per user); a
 * CUPED metric gets one more column, the CUPED-adjusted relative lift with its interval and
 * the variance reduction, beside the unadjusted one.
 */
import type { Comparison, ResultsMetric, VariantResult } from './api-types.js';
import { intervalBar, intervalScale } from './charts.js';
import { h } from './dom.js';
import {
  formatAbsolute,
  formatCount,
  formatInterval,
  formatMean,
  formatNumber,
  formatPercent,
  formatPValue,
  MISSING,
} from './format.js';
import { VERDICT_LABELS, variantVerdict, warningText, type Verdict } from './verdict.js';

export interface TableContext {
  metrics: ResultsMetric[];
  controlVariantId: string;
  alpha: number;
  sequential: boolean;
  /** Segment breakdowns: the correction whose adjusted p-values are shown. */
  correction?: string;
  /** Variant id → display name. */
  names: Record<string, string>;
  /** Heading level of each metric's title (3 for totals, 4 inside a segment). */
  headingLevel: 3 | 4;
  /** Prefix of element ids (unique per segment). */
  idPrefix: string;
}

/** A verdict as an icon and a word (the icon is decorative: the word carries the meaning). */
export function verdictBadge(verdict: Verdict): HTMLElement {
  const { word, icon } = VERDICT_LABELS[verdict];
  return h(
    'span',
    { class: `verdict verdict-${verdict}`, 'data-verdict': verdict },
    h('span', { class: 'icon', 'aria-hidden': 'true' }, icon),
    ' ',
    word,
  );
}

/** The tables of every metric for one set of variants. */
export function metricTables(variants: readonly VariantResult[], context: TableContext): HTMLElement {
  if (context.metrics.length === 0) {
    return h('p', { class: 'empty' }, 'This experiment declares no metrics: add one in the definition to see lifts.');
  }
  return h(
    'div',
    { class: 'metric-tables' },
    context.metrics.map((metric) => metricTable(variants, metric, context)),
  );
}

function metricTable(
  variants: readonly VariantResult[],
  metric: TableContext['metrics'][number],
  context: TableContext,
): HTMLElement {
  const binomial = metric.type === 'binomial';
  const cuped = metric.cuped === true;
  const comparisons = variants.map((v) => v.metrics[metric.key]?.vsControl ?? null);
  const scale = intervalScale(comparisons.flatMap((c) => (c ? [c.relative] : [])));
  const headingId = `${context.idPrefix}-${metric.key}`;
  const pMode = context.sequential ? 'sequential' : 'fixed horizon';
  const pHeader = [
    'p-value',
    h('span', { class: 'interval' }, context.correction ? `${pMode}, ${context.correction}-corrected` : pMode),
  ];
  const heading = h(
    context.headingLevel === 3 ? 'h3' : 'h4',
    { id: headingId },
    metric.key,
    h('span', { class: 'metric-kind' }, ` · ${metricKind(metric)}${metric.lowerIsBetter ? ' · lower is better' : ''}`),
    metric.cap !== undefined
      ? h(
          'span',
          { class: 'metric-kind capped', 'data-capped': String(metric.cap) },
          ` · capped at ${formatNumber(metric.cap)}`,
        )
      : null,
    cuped ? h('span', { class: 'metric-kind cuped', 'data-cuped': 'true' }, ' · CUPED') : null,
  );
  const rows = variants.map((variant) => {
    const result = variant.metrics[metric.key];
    const comparison = result?.vsControl ?? null;
    const isControl = variant.variantId === context.controlVariantId;
    const verdict: Verdict = isControl
      ? 'control'
      : variantVerdict(comparison, context.alpha, metric.lowerIsBetter, context.correction !== undefined);
    const p = context.correction ? (comparison?.adjustedPValue ?? comparison?.pValue) : comparison?.pValue;
    const warnings = comparison?.warnings ?? [];
    const name = context.names[variant.variantId] ?? variant.variantId;
    return h(
      'tr',
      { 'data-variant': variant.variantId, 'data-metric': metric.key },
      h(
        'th',
        { scope: 'row' },
        name,
        name !== variant.variantId ? h('span', { class: 'id' }, ` ${variant.variantId}`) : null,
      ),
      h('td', { class: 'num', 'data-col': 'users' }, formatCount(variant.users)),
      h('td', { class: 'num', 'data-col': 'mean' }, result ? formatMean(result.mean, metric.type) : MISSING),
      h(
        'td',
        { class: 'num', 'data-col': 'absolute' },
        comparison ? formatAbsolute(comparison.absolute.estimate, metric.type) : MISSING,
        comparison && comparison.absolute.estimate !== null
          ? h(
              'span',
              { class: 'interval' },
              formatInterval(comparison.absolute.ciLow, comparison.absolute.ciHigh, (v) =>
                formatAbsolute(v, metric.type),
              ),
            )
          : null,
      ),
      h(
        'td',
        { class: 'num', 'data-col': 'relative' },
        comparison ? formatPercent(comparison.relative.estimate, 1, true) : MISSING,
        comparison && comparison.relative.estimate !== null
          ? h(
              'span',
              { class: 'interval' },
              formatInterval(comparison.relative.ciLow, comparison.relative.ciHigh, (v) => formatPercent(v, 1, true)),
            )
          : null,
      ),
      cuped ? cupedCell(comparison) : null,
      h('td', { class: 'bar-cell' }, comparison ? intervalBar(comparison.relative, scale, verdict) : null),
      h('td', { class: 'num', 'data-col': 'p-value' }, comparison ? formatPValue(p) : MISSING),
      h(
        'td',
        { class: 'num', 'data-col': 'chance-to-win' },
        comparison ? formatPercent(comparison.chanceToWin, 1) : MISSING,
      ),
      h('td', { class: 'num', 'data-col': 'risk' }, comparison ? formatPercent(comparison.riskOfLoss, 2) : MISSING),
      h(
        'td',
        { 'data-col': 'verdict' },
        verdictBadge(verdict),
        warnings.map((w) =>
          h(
            'span',
            { class: 'warning', 'data-warning': w },
            h('span', { 'aria-hidden': 'true' }, ' ⚠'),
            ` ${warningText(w)}`,
          ),
        ),
      ),
    );
  });
  return h(
    'section',
    { class: 'metric', 'aria-labelledby': headingId },
    heading,
    h(
      'div',
      { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': `${metric.key} results` },
      h(
        'table',
        { class: 'results' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'Variant'),
            h('th', { scope: 'col', class: 'num' }, 'Users'),
            h('th', { scope: 'col', class: 'num' }, binomial ? 'Rate' : metric.type === 'ratio' ? 'Ratio' : 'Mean'),
            h('th', { scope: 'col', class: 'num' }, 'Absolute lift'),
            h('th', { scope: 'col', class: 'num' }, 'Relative lift'),
            cuped
              ? h(
                  'th',
                  { scope: 'col', class: 'num' },
                  'CUPED lift',
                  h('span', { class: 'interval' }, 'variance-adjusted'),
                )
              : null,
            h('th', { scope: 'col' }, h('span', {}, 'Interval vs 0')),
            h('th', { scope: 'col', class: 'num' }, pHeader),
            h('th', { scope: 'col', class: 'num' }, 'Chance to win'),
            h('th', { scope: 'col', class: 'num' }, 'Risk'),
            h('th', { scope: 'col' }, 'Verdict'),
          ),
        ),
        h('tbody', {}, rows),
      ),
    ),
  );
}

/** What a metric's mean is, for its heading. */
function metricKind(metric: ResultsMetric): string {
  if (metric.type === 'binomial') return 'conversion rate';
  if (metric.type === 'ratio') return `ratio ${metric.numerator ?? '?'} / ${metric.denominator ?? '?'}`;
  return 'mean per user';
}

/** The CUPED-adjusted relative lift, its interval and the variance reduction (a treatment row). */
function cupedCell(comparison: Comparison | null): HTMLElement {
  const adjusted = comparison?.cuped;
  if (!adjusted) return h('td', { class: 'num', 'data-col': 'cuped' }, MISSING);
  const reduction = adjusted.varianceReduction;
  return h(
    'td',
    { class: 'num', 'data-col': 'cuped' },
    formatPercent(adjusted.relative.estimate, 1, true),
    adjusted.relative.estimate !== null
      ? h(
          'span',
          { class: 'interval' },
          formatInterval(adjusted.relative.ciLow, adjusted.relative.ciHigh, (v) => formatPercent(v, 1, true)),
        )
      : null,
    reduction !== null
      ? h(
          'span',
          { class: 'interval', 'data-variance-reduction': String(reduction) },
          `variance ${reduction >= 0 ? '−' : '+'}${formatPercent(Math.abs(reduction), 0)}`,
        )
      : null,
    adjusted.warnings.map((w) => h('span', { class: 'warning', 'data-warning': w }, ` ⚠ ${warningText(w)}`)),
  );
}
