/**
 * How far a counters table is from its ground truth, per kind of cell (total, segment,
 * pair): how many cells differ and by how much, so a failing end-to-end proof says what
 * broke, not only that something did. The cell-by-cell comparison is the bench's own
 * (`bench/counter-diff.ts`).
 *
 * @example
 *   const report = reportCounterCells(expected, actual);
 *   expect(report.differing, report.text).toBe(0);
 */
import { decodeCellKey, parsePairSegment } from '../../common/counter-layout.js';
import { describeDifferences, diffCounters, type CellDifference } from '../../bench/counter-diff.js';
import type { CounterCellValues, CounterTable } from '../../processors/test-support/counter-ground-truth.js';

export type CellKind = 'total' | 'segment' | 'pair';

export interface KindReport {
  /** Cells of this kind in the ground truth. */
  expected: number;
  /** Cells that differ (wrong, missing or unexpected). */
  differing: number;
  /** Largest |actual − expected| per field over the differing cells (a missing cell counts as 0). */
  maxDeviation: CounterCellValues;
  /** Σ (actual − expected) per field: positive means over-counted. */
  netDeviation: CounterCellValues;
}

export interface CounterCellReport {
  cells: number;
  differing: number;
  byKind: Record<CellKind, KindReport>;
  /** A readable summary plus the first differing cells. */
  text: string;
}

/** The base sums (the extra sums of capped, CUPED and ratio metrics are optional fields, compared by the proofs). */
const FIELDS = ['events', 'units', 'sum', 'sumSquares'] as const satisfies readonly (keyof CounterCellValues)[];
const zero = (): CounterCellValues => ({ events: 0, units: 0, sum: 0, sumSquares: 0 });

/** The kind of a `${experimentId}|${sortKey}` cell. */
export function cellKind(cell: string): CellKind {
  const { segment } = decodeCellKey(cell.slice(cell.indexOf('|') + 1));
  if (!segment) return 'total';
  return parsePairSegment(segment) ? 'pair' : 'segment';
}

/**
 * Compares `actual` with `expected` cell by cell and summarises the differences per kind.
 *
 * @example reportCounterCells(computeExpectedCounters(events, { segmentValueCap: 50 }), await readCounters(dynamo, table))
 */
export function reportCounterCells(expected: CounterTable, actual: CounterTable): CounterCellReport {
  const differences: CellDifference[] = diffCounters(expected, actual);
  const byKind = Object.fromEntries(
    (['total', 'segment', 'pair'] as const).map((kind) => [
      kind,
      { expected: 0, differing: 0, maxDeviation: zero(), netDeviation: zero() },
    ]),
  ) as Record<CellKind, KindReport>;
  for (const cell of expected.keys()) byKind[cellKind(cell)].expected += 1;
  for (const difference of differences) {
    const kind = byKind[cellKind(difference.cell)];
    kind.differing += 1;
    for (const field of FIELDS) {
      const delta = (difference.actual?.[field] ?? 0) - (difference.expected?.[field] ?? 0);
      kind.netDeviation[field] += delta;
      kind.maxDeviation[field] = Math.max(kind.maxDeviation[field], Math.abs(delta));
    }
  }
  const line = (name: CellKind): string => {
    const kind = byKind[name];
    const net = FIELDS.map(
      (field) => `${field} ${kind.netDeviation[field] >= 0 ? '+' : ''}${kind.netDeviation[field]}`,
    );
    const max = FIELDS.map((field) => `${field} ${kind.maxDeviation[field]}`);
    return `  ${name.padEnd(7)} ${kind.differing} of ${kind.expected} cells differ; net ${net.join(', ')}; max per cell ${max.join(', ')}`;
  };
  const text = [
    `${differences.length} of ${expected.size} cells differ from the ground truth (${actual.size} cells in the table)`,
    line('total'),
    line('segment'),
    line('pair'),
    describeDifferences(differences, 12),
  ].join('\n');
  return { cells: expected.size, differing: differences.length, byKind, text };
}
