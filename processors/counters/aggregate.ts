/**
 * The pure core of the counter sink: turns a micro-batch of events and their state
 * outcomes into one delta per counter cell, keeping each record's contribution so a
 * partially applied cell can be re-applied from any watermark (DESIGN.md step 3).
 */
import type { StreamEvent } from '../../common/event-contract.js';
import type { StateOutcome } from '../state/types.js';
import { cellSortKeys, metricKeyOf } from './cell-keys.js';
import { squareIncrement, toScaledValue } from './exact-value.js';

/** What one record adds to one cell. Sums are scaled (see exact-value.ts). */
export interface Contribution {
  position: string;
  events: number;
  units: number;
  sum: bigint;
  sumSquares: bigint;
  receivedAt: number;
}

/** All of a batch's contributions to one cell, in record order. */
export interface CellDelta {
  experimentId: string;
  sortKey: string;
  contributions: Contribution[];
}

/** The totals of a run of contributions: what one UpdateItem adds. */
export interface DeltaTotals {
  events: number;
  units: number;
  sum: bigint;
  sumSquares: bigint;
  lastEventAt: number;
  /** Position of the oldest contribution: the cell must not hold it yet for the whole delta to apply. */
  minPosition: string;
  /** Position of the newest contribution: the cell's new watermark. */
  maxPosition: string;
}

/** One event of the batch with its record position and state outcome. */
export interface OutcomeOfEvent {
  event: StreamEvent;
  position: string;
  outcome: StateOutcome;
}

/**
 * Groups the batch into cells. Duplicates contribute nothing; an applied event adds one
 * event, one unit if it is the user's first for the metric, its value to Σx and the
 * exact growth of the user's squared total to Σx². Input must be in record order.
 */
export function aggregateCounterDeltas(batch: readonly OutcomeOfEvent[]): CellDelta[] {
  const cells = new Map<string, CellDelta>();
  for (const { event, position, outcome } of batch) {
    if (outcome.kind !== 'applied') continue;
    const value = toScaledValue(event.value);
    const before = outcome.totalBefore;
    const contribution: Contribution = {
      position,
      events: 1,
      units: before === undefined ? 1 : 0,
      sum: value,
      sumSquares: squareIncrement(before ?? 0n, value),
      receivedAt: event.receivedAt,
    };
    for (const sortKey of cellSortKeys(event.variantId, metricKeyOf(event), outcome.segments)) {
      const id = `${event.experimentId}\u0000${sortKey}`;
      let cell = cells.get(id);
      if (!cell) cells.set(id, (cell = { experimentId: event.experimentId, sortKey, contributions: [] }));
      cell.contributions.push(contribution);
    }
  }
  return [...cells.values()];
}

/**
 * Adds up the contributions newer than `after` (all when `after` is undefined);
 * `undefined` when none is newer, i.e. the cell already holds all of them.
 */
export function totalContributions(contributions: readonly Contribution[], after?: string): DeltaTotals | undefined {
  let totals: DeltaTotals | undefined;
  for (const c of contributions) {
    if (after !== undefined && c.position <= after) continue;
    if (!totals) {
      totals = {
        events: 0,
        units: 0,
        sum: 0n,
        sumSquares: 0n,
        lastEventAt: 0,
        minPosition: c.position,
        maxPosition: c.position,
      };
    }
    totals.events += c.events;
    totals.units += c.units;
    totals.sum += c.sum;
    totals.sumSquares += c.sumSquares;
    totals.lastEventAt = Math.max(totals.lastEventAt, c.receivedAt);
    if (c.position < totals.minPosition) totals.minPosition = c.position;
    if (c.position > totals.maxPosition) totals.maxPosition = c.position;
  }
  return totals;
}
