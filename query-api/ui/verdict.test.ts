/**
 * The pages' pure parts: verdicts (the words the list and the tables show) and number
 * formatting (what the browser tests compare against the API's numbers).
 */
import { describe, expect, it } from 'vitest';
import type { Comparison, ResultsResponse } from './src/api-types.js';
import {
  formatAbsolute,
  formatAgo,
  formatInterval,
  formatMean,
  formatNumber,
  formatPercent,
  formatPValue,
  formatSrmPValue,
} from './src/format.js';
import { metricVerdict, variantVerdict, warningText } from './src/verdict.js';

const comparison = (pValue: number | null, relative: number | null, adjustedPValue?: number): Comparison => ({
  absolute: { estimate: relative, ciLow: null, ciHigh: null },
  relative: { estimate: relative, ciLow: null, ciHigh: null },
  pValue,
  ...(adjustedPValue === undefined ? {} : { adjustedPValue }),
  chanceToWin: null,
  riskOfLoss: null,
  warnings: [],
});

const results = (
  lifts: (Comparison | null)[],
  options: { srm?: boolean; lowerIsBetter?: boolean } = {},
): ResultsResponse => ({
  experimentId: 'e',
  controlVariantId: 'v0',
  computedAt: '2026-11-26T00:00:00Z',
  lastEventAt: null,
  alpha: 0.05,
  sequential: true,
  metrics: [{ key: 'm', type: 'binomial', lowerIsBetter: options.lowerIsBetter ?? false }],
  srm: { pValue: options.srm ? 1e-6 : 0.5, mismatch: options.srm ?? false },
  variants: [null, ...lifts].map((vsControl, i) => ({
    variantId: `v${i}`,
    users: 100,
    impressions: 100,
    metrics: { m: { users: 10, events: 10, sum: 10, sumSquares: 10, mean: 0.1, vsControl } },
  })),
});

describe('verdicts', () => {
  it('calls a significant lift the better way winning, the other way losing, else inconclusive', () => {
    expect(variantVerdict(comparison(0.01, 0.2), 0.05, false)).toBe('winning');
    expect(variantVerdict(comparison(0.01, -0.2), 0.05, false)).toBe('losing');
    expect(variantVerdict(comparison(0.01, -0.2), 0.05, true)).toBe('winning');
    expect(variantVerdict(comparison(0.01, 0.2), 0.05, true)).toBe('losing');
    expect(variantVerdict(comparison(0.05, 0.2), 0.05, false)).toBe('inconclusive');
    expect(variantVerdict(comparison(0.3, 0.2), 0.05, false)).toBe('inconclusive');
    expect(variantVerdict(comparison(null, null), 0.05, false)).toBe('no-data');
    expect(variantVerdict(null, 0.05, false)).toBe('control');
  });

  it('uses the corrected p-value in breakdowns', () => {
    expect(variantVerdict(comparison(0.01, 0.2, 0.2), 0.05, false, true)).toBe('inconclusive');
    expect(variantVerdict(comparison(0.01, 0.2, 0.2), 0.05, false, false)).toBe('winning');
  });

  it('gives an experiment SRM first, then winning if any treatment wins, losing if all decided ones lose', () => {
    expect(metricVerdict(results([comparison(0.01, 0.2)], { srm: true }), 'm')).toBe('srm');
    expect(metricVerdict(results([comparison(0.01, -0.1), comparison(0.01, 0.2)]), 'm')).toBe('winning');
    expect(metricVerdict(results([comparison(0.01, -0.1), comparison(null, null)]), 'm')).toBe('losing');
    expect(metricVerdict(results([comparison(0.01, -0.1), comparison(0.4, 0.1)]), 'm')).toBe('inconclusive');
    expect(metricVerdict(results([comparison(null, null)]), 'm')).toBe('no-data');
    expect(metricVerdict(results([comparison(0.01, -0.1)], { lowerIsBetter: true }), 'm')).toBe('winning');
    expect(metricVerdict(results([comparison(0.01, 0.1)]), 'unknown')).toBe('no-data');
  });

  it('words the API warnings', () => {
    expect(warningText('too-few-units')).toBe('too few users');
    expect(warningText('zero-variance')).toBe('zero variance');
    expect(warningText('something-new')).toBe('something-new');
  });
});

describe('formatting', () => {
  it('formats rates, lifts and intervals with signs and a true minus', () => {
    expect(formatPercent(0.2512)).toBe('25.1%');
    expect(formatPercent(0.12, 1, true)).toBe('+12.0%');
    expect(formatPercent(-0.053, 1, true)).toBe('−5.3%');
    expect(formatPercent(null)).toBe('—');
    expect(formatPercent(Number.NaN)).toBe('—');
    expect(formatAbsolute(0.025, 'binomial')).toBe('+2.5 pp');
    expect(formatAbsolute(-0.025, 'binomial')).toBe('−2.5 pp');
    expect(formatAbsolute(1.63, 'mean')).toBe('+1.63');
    expect(formatMean(0.55, 'binomial')).toBe('55.0%');
    expect(formatMean(12.3456, 'mean')).toBe('12.35');
    expect(formatNumber(1234.56)).toBe('1,234.6');
    expect(formatNumber(0.012345)).toBe('0.0123');
    expect(formatInterval(null, 0.1, (v) => formatPercent(v, 1, true))).toBe('[−∞, +10.0%]');
  });

  it('formats p-values for reading and SRM p-values for comparing with 0.001', () => {
    expect(formatPValue(0.0004)).toBe('< 0.001');
    expect(formatPValue(0.0123)).toBe('0.012');
    expect(formatPValue(null)).toBe('—');
    expect(formatSrmPValue(2.1e-7)).toBe('2.1e-7');
    expect(formatSrmPValue(0.0004)).toBe('0.0004');
    expect(formatSrmPValue(0.412)).toBe('0.412');
    expect(formatSrmPValue(0)).toBe('0');
  });

  it('says how long ago in the largest whole unit', () => {
    const now = new Date('2026-11-26T12:00:00Z');
    const ago = (ms: number) => formatAgo(new Date(now.getTime() - ms), now);
    expect(ago(3_000)).toBe('3 s ago');
    expect(ago(59_400)).toBe('59 s ago');
    expect(ago(60_000)).toBe('1 min ago');
    expect(ago(2 * 3600_000)).toBe('2 h ago');
    expect(ago(3 * 86_400_000)).toBe('3 d ago');
    expect(ago(-5_000)).toBe('0 s ago');
  });
});
