/**
 * The pure core of the counter sink: turns a micro-batch of events and their state
 * outcomes into one delta per counter cell, keeping each record's contribution so a
 * partially applied cell can be re-applied from any watermark (DESIGN.md step 3).
 *
 * Cost per event is what bounds the processors, so the hot loop allocates one contribution
 * per event and adds numbers, not BigInts: sums are exact integers of scaled units kept as
 * doubles below 2^53 (`ExactTotal`, exact-value.ts), and the cell ids an event feeds are
 * built once per (experiment, variant, metric, segments) and reused across batches.
 */
import type { StreamEvent } from '../../common/event-contract.js';
import type { StateOutcome } from '../state/types.js';
import { cellSortKeys, metricKeyOf } from './cell-keys.js';
import { ExactTotal, addSquareIncrement, newSquareTotal, toScaledValue } from './exact-value.js';

/** What one record adds to the cells it feeds. Sums are scaled (see exact-value.ts). */
export interface Contribution {
  position: string;
  events: number;
  units: number;
  /** The event's value in scaled units (exact: |value| ≤ 1e8 → ≤ 1e14). */
  sum: number;
  /** The exact growth of the user's squared total (an ExactTotal holding this one increment). */
  sumSquares: ExactTotal;
  receivedAt: number;
}

/** All of a batch's contributions to one cell (in record order), and their totals. */
export interface CellDelta {
  experimentId: string;
  sortKey: string;
  readonly contributions: readonly Contribution[];
  /** `totalContributions(contributions)`, computed while aggregating: what the first write adds. */
  readonly totals?: DeltaTotals;
}

/** The totals of a run of contributions: what one UpdateItem adds. */
export interface DeltaTotals {
  events: number;
  units: number;
  /** Σx in VALUE_DECIMALS scaled units. */
  sum: ExactTotal;
  /** Σx² growth in SQUARE_DECIMALS scaled units. */
  sumSquares: ExactTotal;
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
  /** The event's value as `toScaledValue` gives it, when the caller has it already. */
  scaledValue?: bigint;
}

const newTotals = (first: Contribution): DeltaTotals => ({
  events: 0,
  units: 0,
  sum: new ExactTotal(),
  sumSquares: newSquareTotal(),
  lastEventAt: 0,
  minPosition: first.position,
  maxPosition: first.position,
});

/** Adds a contribution; contributions arrive in record order, so the newest is the last. */
function addContribution(totals: DeltaTotals, c: Contribution): void {
  totals.events += c.events;
  totals.units += c.units;
  totals.sum.add(c.sum);
  totals.sumSquares.addTotal(c.sumSquares);
  if (c.receivedAt > totals.lastEventAt) totals.lastEventAt = c.receivedAt;
  totals.maxPosition = c.position;
}

/** A cell being built. */
class CellAccumulator implements CellDelta {
  readonly contributions: Contribution[] = [];
  readonly totals: DeltaTotals;
  constructor(
    readonly experimentId: string,
    readonly sortKey: string,
    first: Contribution,
  ) {
    this.totals = newTotals(first);
  }
}

/** A cell's identity: its id in a batch's map, its experiment and its sort key. */
interface CellId {
  id: string;
  experimentId: string;
  sortKey: string;
}

/**
 * The cells of each (experiment, variant, metric, segments), shared across batches: the same
 * users and segment values come back, and a cached id string keeps its hash, so a batch's map
 * lookups do not hash a new string per cell and event.
 */
const cellIdCache = new Map<string, CellId[]>();
/** Entries the cell-id cache holds at most: reaching it empties the cache (memory stays bounded). */
export const CELL_ID_CACHE_LIMIT = 50_000;

/** How many (experiment, variant, metric, segments) the cell-id cache holds now (for tests of its bound). */
export const cellIdCacheSize = (): number => cellIdCache.size;

function cellIdsOf(key: string, event: StreamEvent, metricKey: string, outcome: AppliedOutcome): CellId[] {
  let ids = cellIdCache.get(key);
  if (!ids) {
    if (cellIdCache.size >= CELL_ID_CACHE_LIMIT) cellIdCache.clear();
    ids = cellSortKeys(event.variantId, metricKey, outcome.segments).map((sortKey) => ({
      id: `${event.experimentId}\u0000${sortKey}`,
      experimentId: event.experimentId,
      sortKey,
    }));
    cellIdCache.set(key, ids);
  }
  return ids;
}

type AppliedOutcome = Extract<StateOutcome, { kind: 'applied' }>;

/** Segments arrays seen before (stores hand out one array per user) and their key. */
const segmentKeys = new WeakMap<object, string>();

/** `segments` as one string (names and values cannot hold U+0000). */
function segmentsKey(segments: readonly (readonly [string, string])[]): string {
  let key = segmentKeys.get(segments);
  if (key !== undefined) return key;
  key = '';
  for (const [dimension, value] of segments) key += `\u0000${dimension}\u0000${value}`;
  segmentKeys.set(segments, key);
  return key;
}

/**
 * Groups the batch into cells. Duplicates contribute nothing; an applied event adds one
 * event, one unit if it is the user's first for the metric, its value to Σx and the
 * exact growth of the user's squared total to Σx². Input must be in record order.
 */
export function aggregateCounterDeltas(batch: readonly OutcomeOfEvent[]): CellDelta[] {
  const cells = new Map<string, CellAccumulator>();
  for (const { event, position, outcome, scaledValue } of batch) {
    if (outcome.kind !== 'applied') continue;
    const scaled = scaledValue ?? toScaledValue(event.value);
    const before = outcome.totalBefore;
    const sumSquares = newSquareTotal();
    addSquareIncrement(sumSquares, before, event.value, scaled);
    const contribution: Contribution = {
      position,
      events: 1,
      units: before === undefined ? 1 : 0,
      sum: Number(scaled),
      sumSquares,
      receivedAt: event.receivedAt,
    };
    const metricKey = metricKeyOf(event);
    const key = `${event.experimentId}\u0001${event.variantId}\u0000${metricKey}${segmentsKey(outcome.segments)}`;
    for (const cellId of cellIdsOf(key, event, metricKey, outcome)) {
      let cell = cells.get(cellId.id);
      if (!cell) cells.set(cellId.id, (cell = new CellAccumulator(cellId.experimentId, cellId.sortKey, contribution)));
      cell.contributions.push(contribution);
      addContribution(cell.totals, contribution);
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
    totals ??= newTotals(c);
    addContribution(totals, c);
    if (c.position < totals.minPosition) totals.minPosition = c.position;
  }
  return totals;
}
