import { describe, expect, it } from 'vitest';
import { EXPOSURE_METRIC, OTHER_SEGMENT_VALUE } from '../../common/counter-layout.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import { buildCellTable } from './cell-table.js';
import type { CounterCell } from './read-counters.js';
import { buildBreakdown, segmentDimensionOf } from './segment-breakdown.js';

const definition: ExperimentDefinition = {
  key: 'exp',
  name: 'exp',
  status: 'running',
  variants: [
    { id: 'a', weight: 0.5 },
    { id: 'b', weight: 0.5 },
  ],
  controlVariantId: 'a',
  coverage: 1,
  hashSeed: 'exp',
  hashVersion: 2,
  metrics: [{ key: 'buy', type: 'binomial', lowerIsBetter: false }],
  segmentDimensions: ['country', 'device'],
};

const cell = (variantId: string, metricKey: string, units: number, segment?: [string, string]): CounterCell => ({
  variantId,
  metricKey,
  events: units,
  units,
  sum: units,
  sumSquares: units,
  ...(segment ? { segment: { dimension: segment[0], value: segment[1] } } : {}),
});

/** Totals of 100 exposed users per variant, split 60/30/10 over US/DE/(other) as the processors cap values. */
const consistentCells = (): CounterCell[] => [
  ...['a', 'b'].flatMap((variant) => [
    cell(variant, EXPOSURE_METRIC, 100),
    cell(variant, 'buy', 20),
    cell(variant, EXPOSURE_METRIC, 60, ['country', 'US']),
    cell(variant, EXPOSURE_METRIC, 30, ['country', 'DE']),
    cell(variant, EXPOSURE_METRIC, 10, ['country', OTHER_SEGMENT_VALUE]),
    cell(variant, 'buy', 12, ['country', 'US']),
    cell(variant, 'buy', 6, ['country', 'DE']),
    cell(variant, 'buy', 2, ['country', OTHER_SEGMENT_VALUE]),
  ]),
];

const request = {
  dimension: 'country',
  limit: 20,
  correction: 'none' as const,
  analysis: { alpha: 0.05, sequential: false },
};

describe('buildBreakdown (pure)', () => {
  it('keeps the processors’ (other) bucket last and confirms the cells add up', () => {
    const breakdown = buildBreakdown(definition, buildCellTable(consistentCells()), request);
    expect(breakdown.segments.map((s) => [s.value, s.users])).toEqual([
      ['US', 120],
      ['DE', 60],
      [OTHER_SEGMENT_VALUE, 20],
    ]);
    expect(breakdown.cellsAddUp).toBe(true);
    expect(breakdown.discrepancies).toEqual([]);
  });

  it('merges values beyond the limit into (other) by adding their cells', () => {
    const breakdown = buildBreakdown(definition, buildCellTable(consistentCells()), { ...request, limit: 1 });
    const other = breakdown.segments[1]!;
    expect(other.value).toBe(OTHER_SEGMENT_VALUE);
    expect(other.variants.map((v) => [v.users, v.metrics.buy!.users])).toEqual([
      [40, 8],
      [40, 8],
    ]);
  });

  it('reports exactly which cells do not add up to the totals', () => {
    const cells = consistentCells().filter(
      (c) => !(c.variantId === 'b' && c.metricKey === 'buy' && c.segment?.value === 'DE'),
    );
    const breakdown = buildBreakdown(definition, buildCellTable(cells), request);
    expect(breakdown.cellsAddUp).toBe(false);
    expect(breakdown.discrepancies).toEqual(
      ['events', 'units', 'sum', 'sumSquares'].map((field) => ({
        variantId: 'b',
        metricKey: 'buy',
        field,
        total: 20,
        sumOfSegments: 14,
      })),
    );
  });

  it('names pair dimensions in sorted order whatever the request order', () => {
    expect(segmentDimensionOf('device', 'country')).toBe('country+device');
    expect(segmentDimensionOf('country', 'device')).toBe('country+device');
    expect(segmentDimensionOf('country')).toBe('country');
  });
});
