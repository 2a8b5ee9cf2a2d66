/**
 * Counter cells built from explicit per-record contributions, for tests of the cell writer
 * that need exact control over positions (the aggregation itself keeps no contribution lists:
 * aggregate.ts re-derives what is newer than a watermark from the batch).
 */
import { recordPosition } from '../../sequence-number.js';
import { addContribution, newTotals, type CellDelta, type Contribution, type DeltaTotals } from '../aggregate.js';
import { newSquareTotal } from '../exact-value.js';

/**
 * Adds up the contributions newer than `after` (all when `after` is undefined);
 * `undefined` when none is newer, i.e. the cell already holds all of them.
 */
export function totalContributions(contributions: readonly Contribution[], after?: string): DeltaTotals | undefined {
  let totals: DeltaTotals | undefined;
  for (const c of contributions) {
    if (after !== undefined && c.position <= after) continue;
    totals ??= newTotals(c);
    addContribution(totals, c);
  }
  return totals;
}

/** A cell as the contributions of its batch's records. */
export interface ContributionCell {
  experimentId: string;
  sortKey: string;
  contributions: readonly Contribution[];
}

/** The delta of a cell whose batch is exactly these contributions (in any order). */
export function contributionCell(cell: ContributionCell): CellDelta & ContributionCell {
  return {
    ...cell,
    totals: totalContributions(cell.contributions),
    totalsAfter: (after) => totalContributions(cell.contributions, after),
  };
}

/** The contribution of record `sequence` (subsequence 0) holding one first event of value 1 of a user. */
export function oneEventContribution(sequence: number): Contribution {
  const sumSquares = newSquareTotal();
  sumSquares.addUnits(1);
  return {
    position: recordPosition(`4959${String(sequence).padStart(52, '0')}`, 0),
    events: 1,
    units: 1,
    sum: 1_000_000,
    sumSquares,
    receivedAt: 1_700_000_000_000 + sequence,
  };
}
