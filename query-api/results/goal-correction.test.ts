/**
 * The main results' correction across goal metrics × treatment variants, checked against
 * independent implementations (query-api/test-support/independent-statistics.ts: Holm and the
 * fixed-horizon Welch interval; Benjamini-Hochberg written out below from the paper).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EXPOSURE_METRIC, type CellStatistics } from '../../common/counter-layout.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import { resolveAnalysisSettings } from './analysis-settings.js';
import { assembleVariants } from './assemble-results.js';
import type { VariantCells } from './cell-table.js';
import { adjustedLevel, correctGoalMetrics } from './goal-correction.js';
import { holmReference, welchReference, type Sample } from '../test-support/independent-statistics.js';

const definition = (analysis: ExperimentDefinition['analysis']): ExperimentDefinition => ({
  key: 'goal-correction',
  name: 'goal correction',
  status: 'running',
  variants: [
    { id: 'control', weight: 1 / 3 },
    { id: 'green', weight: 1 / 3 },
    { id: 'blue', weight: 1 / 3 },
  ],
  controlVariantId: 'control',
  coverage: 1,
  hashSeed: 'goal-correction',
  hashVersion: 2,
  metrics: [
    { key: 'signup', type: 'binomial', lowerIsBetter: false },
    { key: 'revenue', type: 'mean', lowerIsBetter: false },
    { key: 'latency', type: 'mean', lowerIsBetter: true, guardrail: true },
  ],
  segmentDimensions: [],
  ...(analysis ? { analysis } : {}),
});

const cell = (units: number, sum: number, sumSquares: number): CellStatistics => ({
  events: units,
  units,
  sum,
  sumSquares,
});
/** 2000 exposed users per variant; green clearly lifts signups, blue barely moves anything. */
const cells: VariantCells = new Map([
  [
    'control',
    new Map([
      [EXPOSURE_METRIC, cell(2000, 0, 0)],
      ['signup', cell(200, 200, 200)],
      ['revenue', cell(600, 10_000, 400_000)],
      ['latency', cell(2000, 4000, 10_000)],
    ]),
  ],
  [
    'green',
    new Map([
      [EXPOSURE_METRIC, cell(2000, 0, 0)],
      ['signup', cell(262, 262, 262)],
      ['revenue', cell(640, 11_200, 440_000)],
      ['latency', cell(2000, 4400, 11_000)],
    ]),
  ],
  [
    'blue',
    new Map([
      [EXPOSURE_METRIC, cell(2000, 0, 0)],
      ['signup', cell(205, 205, 205)],
      ['revenue', cell(610, 10_300, 410_000)],
      ['latency', cell(2000, 3900, 9800)],
    ]),
  ],
]);

const sampleOf = (variantId: string, metric: string): Sample => {
  const metricCell = cells.get(variantId)!.get(metric)!;
  const n = cells.get(variantId)!.get(EXPOSURE_METRIC)!.units;
  return metric === 'signup'
    ? { n, sum: metricCell.units, sumSquares: metricCell.units }
    : { n, sum: metricCell.sum, sumSquares: metricCell.sumSquares };
};

/** Benjamini & Hochberg (1995): p̃₍ᵢ₎ = min over j ≥ i of min(1, m·p₍ⱼ₎/j), written independently. */
function benjaminiHochbergReference(pValues: number[]): number[] {
  const m = pValues.length;
  return pValues.map((_, i) => {
    const rank = pValues.filter((p) => p <= pValues[i]!).length;
    const candidates = pValues.flatMap((p) => {
      const pRank = pValues.filter((q) => q <= p).length;
      return pRank >= rank ? [Math.min(1, (m * p) / pRank)] : [];
    });
    return Math.min(...candidates);
  });
}

function analyse(analysis: ExperimentDefinition['analysis']) {
  const experiment = definition(analysis);
  const { variants } = assembleVariants(experiment, cells, {});
  const summary = correctGoalMetrics(experiment, cells, variants, resolveAnalysisSettings(experiment, {}));
  const comparison = (variantId: string, metric: string) =>
    variants.find((variant) => variant.variantId === variantId)!.metrics[metric]!.vsControl!;
  return { summary, comparison };
}

const FAMILY = [
  ['green', 'signup'],
  ['green', 'revenue'],
  ['blue', 'signup'],
  ['blue', 'revenue'],
] as const;

describe('correctGoalMetrics', () => {
  it("leaves the results untouched with correction 'none', and names goal and guardrail metrics", () => {
    const { summary, comparison } = analyse({ sequential: false });
    expect(summary).toEqual({
      method: 'none',
      comparisons: 0,
      intervals: null,
      goalMetrics: ['signup', 'revenue'],
      guardrailMetrics: ['latency'],
    });
    for (const [variantId, metric] of [...FAMILY, ['green', 'latency'] as const]) {
      expect(comparison(variantId, metric).adjustedPValue).toBeUndefined();
      expect(comparison(variantId, metric).adjustedIntervals).toBeUndefined();
    }
  });

  it('Holm: adjusts the 4 goal p-values as an independent Holm does, with Bonferroni intervals at α/4', () => {
    const { summary, comparison } = analyse({ sequential: false, correction: 'holm' });
    expect(summary).toMatchObject({ method: 'holm', comparisons: 4, intervals: 'bonferroni' });
    const raw = FAMILY.map(([variantId, metric]) => comparison(variantId, metric).pValue!);
    const expected = holmReference(raw);
    FAMILY.forEach(([variantId, metric], index) => {
      const served = comparison(variantId, metric);
      expect(served.adjustedPValue).toBeCloseTo(expected[index]!, 12);
      expect(served.adjustedIntervals!.alpha).toBe(0.05 / 4);
      const reference = welchReference(
        sampleOf('control', metric),
        sampleOf(variantId, metric),
        metric === 'signup',
        0.0125,
      );
      expect(served.adjustedIntervals!.relative.ciLow).toBeCloseTo(reference.relative.ciLow, 6);
      expect(served.adjustedIntervals!.relative.ciHigh).toBeCloseTo(reference.relative.ciHigh, 6);
      expect(served.adjustedIntervals!.absolute.ciLow).toBeCloseTo(reference.absolute.ciLow, 6);
      // Wider than the unadjusted interval, around the same estimate.
      expect(served.adjustedIntervals!.relative.estimate).toBe(served.relative.estimate);
      expect(served.adjustedIntervals!.relative.ciLow!).toBeLessThan(served.relative.ciLow!);
      expect(served.adjustedIntervals!.relative.ciHigh!).toBeGreaterThan(served.relative.ciHigh!);
    });
    // The guardrail keeps its own p-value, uncorrected.
    expect(comparison('green', 'latency').adjustedPValue).toBeUndefined();
    expect(comparison('green', 'latency').pValue).not.toBeNull();
  });

  it('Benjamini-Hochberg: adjusts as the paper does; FCR intervals at R·α/m for the R selected, none for the rest', () => {
    const { summary, comparison } = analyse({ sequential: false, correction: 'bh' });
    expect(summary).toMatchObject({ method: 'bh', comparisons: 4, intervals: 'false-coverage-rate' });
    const raw = FAMILY.map(([variantId, metric]) => comparison(variantId, metric).pValue!);
    const expected = benjaminiHochbergReference(raw);
    const selected = expected.filter((p) => p <= 0.05).length;
    // The workload is built so that BH selects some comparisons but not all.
    expect(selected).toBeGreaterThan(0);
    expect(selected).toBeLessThan(4);
    FAMILY.forEach(([variantId, metric], index) => {
      const served = comparison(variantId, metric);
      expect(served.adjustedPValue).toBeCloseTo(expected[index]!, 12);
      if (expected[index]! <= 0.05) {
        const level = (selected * 0.05) / 4;
        expect(served.adjustedIntervals!.alpha).toBeCloseTo(level, 15);
        const reference = welchReference(
          sampleOf('control', metric),
          sampleOf(variantId, metric),
          metric === 'signup',
          level,
        );
        expect(served.adjustedIntervals!.relative.ciLow).toBeCloseTo(reference.relative.ciLow, 6);
        expect(served.adjustedIntervals!.relative.ciHigh).toBeCloseTo(reference.relative.ciHigh, 6);
      } else {
        expect(served.adjustedIntervals).toEqual({
          alpha: null,
          relative: { estimate: served.relative.estimate, ciLow: null, ciHigh: null },
          absolute: { estimate: served.absolute.estimate, ciLow: null, ciHigh: null },
        });
      }
    });
  });

  it("computes adjusted intervals with the experiment's own procedure: sequential, one-sided", () => {
    const { comparison } = analyse({ correction: 'holm', alternative: 'greater', expectedSampleSize: 6000 });
    const served = comparison('green', 'signup');
    expect(served.adjustedIntervals!.relative.ciHigh).toBeNull();
    expect(served.adjustedIntervals!.relative.ciLow!).toBeLessThan(served.relative.ciLow!);
  });
});

describe('correctGoalMetrics on arbitrary counters (fast-check)', () => {
  const arm = fc
    .record({ exposed: fc.integer({ min: 0, max: 5000 }), rate: fc.double({ min: 0, max: 1, noNaN: true }) })
    .chain(({ exposed, rate }) =>
      fc.record({
        exposed: fc.constant(exposed),
        converted: fc.constant(Math.floor(exposed * rate)),
        revenueSum: fc.double({ min: 0, max: 1e5, noNaN: true }),
        spread: fc.double({ min: 1, max: 50, noNaN: true }),
      }),
    );
  const cellsOf = (arms: { exposed: number; converted: number; revenueSum: number; spread: number }[]): VariantCells =>
    new Map(
      ['control', 'green', 'blue'].map((variantId, index) => {
        const { exposed, converted, revenueSum, spread } = arms[index]!;
        const revenueSquares = exposed > 0 ? (revenueSum * revenueSum) / exposed + spread * revenueSum : 0;
        return [
          variantId,
          new Map([
            [EXPOSURE_METRIC, cell(exposed, 0, 0)],
            ['signup', cell(converted, converted, converted)],
            ['revenue', cell(converted, revenueSum, revenueSquares)],
            ['latency', cell(exposed, exposed * 2, exposed * 4 + spread)],
          ]),
        ];
      }),
    );

  it('never lowers a p-value, never narrows an interval, selects exactly the adjusted p ≤ α, and leaves guardrails alone', () => {
    fc.assert(
      fc.property(
        fc.array(arm, { minLength: 3, maxLength: 3 }),
        fc.constantFrom('holm' as const, 'bh' as const),
        fc.boolean(),
        (arms, correction, sequential) => {
          const experiment = definition({ correction, sequential });
          const table = cellsOf(arms);
          const { variants } = assembleVariants(experiment, table, {});
          const summary = correctGoalMetrics(experiment, table, variants, resolveAnalysisSettings(experiment, {}));
          const family = FAMILY.map(
            ([variantId, metric]) => variants.find((v) => v.variantId === variantId)!.metrics[metric]!.vsControl!,
          );
          expect(summary.comparisons).toBe(family.filter((c) => c.pValue !== null).length);
          for (const comparison of family) {
            if (comparison.pValue === null) {
              expect(comparison.adjustedPValue).toBeNull();
              expect(comparison.adjustedIntervals!.alpha).toBeNull();
              continue;
            }
            expect(comparison.adjustedPValue!).toBeGreaterThanOrEqual(comparison.pValue);
            expect(comparison.adjustedPValue!).toBeLessThanOrEqual(1);
            const { alpha, relative } = comparison.adjustedIntervals!;
            if (correction === 'bh') expect(alpha !== null).toBe(comparison.adjustedPValue! <= 0.05);
            if (alpha !== null && relative.ciLow !== null && comparison.relative.ciLow !== null) {
              expect(relative.ciLow).toBeLessThanOrEqual(comparison.relative.ciLow + 1e-12);
              expect(relative.ciHigh!).toBeGreaterThanOrEqual(comparison.relative.ciHigh! - 1e-12);
            }
          }
          for (const variant of variants) {
            expect(variant.metrics.latency!.vsControl?.adjustedPValue).toBeUndefined();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('adjustedLevel', () => {
  it('is α/m for Holm, R·α/m for a BH-selected comparison, and null otherwise', () => {
    expect(adjustedLevel('holm', 0.05, 4, 0, 0.3)).toBe(0.0125);
    expect(adjustedLevel('bh', 0.05, 4, 3, 0.04)).toBeCloseTo(0.0375, 15);
    expect(adjustedLevel('bh', 0.05, 4, 3, 0.06)).toBeNull();
    expect(adjustedLevel('holm', 0.05, 4, 0, null)).toBeNull();
    expect(adjustedLevel('holm', 0.05, 0, 0, 0.01)).toBeNull();
  });
});
