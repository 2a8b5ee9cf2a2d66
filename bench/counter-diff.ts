/**
 * Compares a counters table with its ground truth, cell by cell, exactly. Any
 * difference — a missing cell, an extra cell, one count off — is a correctness failure.
 */
import type { CounterCellValues, CounterTable } from '../processors/test-support/counter-ground-truth.js';

export interface CellDifference {
  cell: string;
  expected: CounterCellValues | undefined;
  actual: CounterCellValues | undefined;
}

const FIELDS: (keyof CounterCellValues)[] = ['events', 'units', 'sum', 'sumSquares'];

/** Every cell whose counters differ, missing or unexpected. Empty when the tables are equal. */
export function diffCounters(expected: CounterTable, actual: CounterTable): CellDifference[] {
  const differences: CellDifference[] = [];
  for (const [cell, want] of expected) {
    const got = actual.get(cell);
    if (!got || FIELDS.some((field) => got[field] !== want[field]))
      differences.push({ cell, expected: want, actual: got });
  }
  for (const [cell, got] of actual) {
    if (!expected.has(cell)) differences.push({ cell, expected: undefined, actual: got });
  }
  return differences;
}

/** A readable diff for the terminal and the report: the first `limit` differences. */
export function describeDifferences(differences: readonly CellDifference[], limit = 10): string {
  const show = (values: CounterCellValues | undefined): string =>
    values ? FIELDS.map((field) => `${field}=${values[field]}`).join(' ') : '(missing)';
  const lines = differences
    .slice(0, limit)
    .map((d) => `  ${d.cell}\n    expected ${show(d.expected)}\n    actual   ${show(d.actual)}`);
  if (differences.length > limit) lines.push(`  … and ${differences.length - limit} more`);
  return lines.join('\n');
}
