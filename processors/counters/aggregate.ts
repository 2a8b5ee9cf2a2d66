/**
 * The pure core of the counter sink: turns a micro-batch of events and their state
 * answers (`StateAnswers`, one per event, in columns) into one delta per counter cell
 * (DESIGN.md step 3). A partially applied cell is re-applied from its watermark:
 * `CellDelta.totalsAfter(watermark)` re-derives what the batch's records newer than it add,
 * from the batch itself (it is rare: a replay, a re-cut batch after a crash), so a batch
 * keeps no per-record contribution lists.
 *
 * Cost per event is what bounds the processors, so the hot loop allocates nothing per event
 * and adds numbers, not BigInts: sums are exact integers of scaled units kept as doubles
 * below 2^53 (`ExactTotal`, exact-value.ts), each event's increment lives in one reused
 * scratch `Contribution`, and the cells an event feeds are resolved once per (experiment,
 * variant, metric, segments) and reached through slots across batches (cell-directory.ts).
 *
 * The extra sums an experiment's counter plan asks for (capped, CUPED and ratio sums,
 * common/counter-plan.ts) are exact BigInts in `Contribution.extra`; events of metrics
 * without extras never create one, so their cost is one Map lookup per event.
 */
import type { EXTRA_COUNTER_ATTRIBUTES } from '../../common/counter-layout.js';
import type { CounterPlan, MetricCounterPlan } from '../../common/counter-plan.js';
import { PipelineError } from '../../common/errors.js';
import type { StreamEvent } from '../../common/event-contract.js';
import type { StateAnswers } from '../state/state-answers.js';
import { CellDirectory, type CellSlot } from './cell-directory.js';
import { metricKeyOf } from './cell-keys.js';
import { ExactTotal, addSquareIncrement, newSquareTotal, scaledNumber, toScaledValue } from './exact-value.js';

/** The extra sums of a cell (common/counter-layout.ts, EXTRA_COUNTER_ATTRIBUTES). */
export type ExtraField = keyof typeof EXTRA_COUNTER_ATTRIBUTES;

/**
 * Extra sums as exact scaled integers: `cappedSum` and `covariateSum` in VALUE_DECIMALS units
 * (like `sum`), the others products of two values in SQUARE_DECIMALS units (like `sum_squares`).
 * A field is absent when it is 0.
 */
export type ExtraSums = { [field in ExtraField]?: bigint };

/** What one record adds to each cell it feeds. Sums are scaled (see exact-value.ts). */
export interface Contribution {
  position: string;
  events: number;
  units: number;
  /** The event's value in scaled units (exact: |value| ≤ 1e8 → ≤ 1e14). */
  sum: number;
  /** The exact growth of the user's squared total (an ExactTotal holding this one increment). */
  sumSquares: ExactTotal;
  receivedAt: number;
  /** Extra sums (capped, CUPED, ratio); undefined for events of metrics without extras. */
  extra?: ExtraSums | undefined;
}

/** What a batch adds to one cell, and how to re-derive what its newer records add. */
export interface CellDelta {
  experimentId: string;
  sortKey: string;
  /** What the whole batch adds to the cell (what the first write adds); undefined when nothing. */
  readonly totals: DeltaTotals | undefined;
  /**
   * What the batch's records newer than `after` (a cell watermark) add; all of it when `after`
   * is undefined, undefined when none is newer (the cell already holds all of them).
   */
  totalsAfter(after: string | undefined): DeltaTotals | undefined;
}

/** The totals of a run of contributions: what one UpdateItem adds. */
export interface DeltaTotals {
  events: number;
  units: number;
  /** Σx in VALUE_DECIMALS scaled units. */
  sum: ExactTotal;
  /** Σx² growth in SQUARE_DECIMALS scaled units. */
  sumSquares: ExactTotal;
  /** Σ of the contributions' extra sums; undefined when none carries one (fields may end at 0). */
  extra: ExtraSums | undefined;
  lastEventAt: number;
  /** Position of the oldest contribution: the cell must not hold it yet for the whole delta to apply. */
  minPosition: string;
  /** Position of the newest contribution: the cell's new watermark. */
  maxPosition: string;
}

/**
 * One event of the batch with its record position; the store's answer to it is the batch's
 * `StateAnswers` entry at the event's index.
 */
export interface AnsweredEvent {
  event: StreamEvent;
  position: string;
  /** The event's value as `scaledNumber` gives it, when the caller has it already. */
  scaledValue?: number;
  /**
   * The experiment's counter plan (EMPTY_COUNTER_PLAN when absent). Must be the plan the
   * state request was built with: `partnerTotals` answer its ratio memberships in order.
   */
  plan?: CounterPlan;
}

/** New totals holding nothing yet, for a run whose first contribution is `first`. */
export const newTotals = (first: Pick<Contribution, 'position'>): DeltaTotals => ({
  events: 0,
  units: 0,
  sum: new ExactTotal(),
  sumSquares: newSquareTotal(),
  extra: undefined,
  lastEventAt: 0,
  minPosition: first.position,
  maxPosition: first.position,
});

/**
 * Adds a contribution (copying what it holds: a contribution may be reused afterwards).
 * Contributions arrive in record order, so the newest is the last; the oldest is tracked
 * anyway (a position is a string compare).
 */
export function addContribution(totals: DeltaTotals, c: Contribution): void {
  totals.events += c.events;
  totals.units += c.units;
  totals.sum.add(c.sum);
  totals.sumSquares.addTotal(c.sumSquares);
  if (c.extra !== undefined) addExtra((totals.extra ??= {}), c.extra);
  if (c.receivedAt > totals.lastEventAt) totals.lastEventAt = c.receivedAt;
  if (c.position < totals.minPosition) totals.minPosition = c.position;
  totals.maxPosition = c.position;
}

function addExtra(into: ExtraSums, extra: ExtraSums): void {
  for (const field in extra) {
    const value = extra[field as ExtraField] as bigint;
    into[field as ExtraField] = (into[field as ExtraField] ?? 0n) + value;
  }
}

/**
 * A batch's events, kept by its cells to re-derive what the records newer than a watermark add
 * (`CellDelta.totalsAfter`): the batch is aggregated again without the older records, once per
 * distinct watermark asked (after a crash the cells of a batch hold one of a few watermarks).
 */
class BatchReplay {
  readonly #byWatermark = new Map<string | undefined, Map<string, DeltaTotals>>();
  constructor(
    private readonly events: readonly AnsweredEvent[],
    private readonly answers: StateAnswers,
  ) {}

  totalsAfter(after: string | undefined, cellId: string): DeltaTotals | undefined {
    let totals = this.#byWatermark.get(after);
    if (totals === undefined) {
      if (this.#byWatermark.size >= MAX_REPLAYED_WATERMARKS) this.#byWatermark.clear();
      totals = new Map();
      for (const cell of aggregate(this.events, this.answers, after, this)) totals.set(cell.id, cell.totals);
      this.#byWatermark.set(after, totals);
    }
    return totals.get(cellId);
  }
}

/** Re-derived watermarks a batch keeps the answers of (more would mean a second writer). */
const MAX_REPLAYED_WATERMARKS = 16;

/** A cell being built. */
class CellAccumulator implements CellDelta {
  readonly totals: DeltaTotals;
  constructor(
    readonly experimentId: string,
    readonly sortKey: string,
    first: Contribution,
    private readonly replay: BatchReplay,
  ) {
    this.totals = newTotals(first);
  }
  /** The cell's id among a batch's cells. */
  get id(): string {
    return `${this.experimentId}\u0000${this.sortKey}`;
  }
  totalsAfter(after: string | undefined): DeltaTotals | undefined {
    return after === undefined ? this.totals : this.replay.totalsAfter(after, this.id);
  }
}

/**
 * The cells of every process-wide (experiment, variant, metric, segments), kept across
 * batches (cell-directory.ts): a batch reaches each cell through its slot, without a key
 * string or a map lookup per cell and event.
 */
const directory = new CellDirectory<CellAccumulator>();

/** How many cells the directory holds now (for tests of its bound, CELL_SLOT_LIMIT). */
export const cellDirectorySize = (): number => directory.size;

/** The batch being aggregated: its directory stamp, the cells it touched (first-touch order), its replay. */
interface BatchCells {
  stamp: number;
  slots: CellSlot<CellAccumulator>[];
  replay: BatchReplay;
}

/** Adds a contribution to every cell of (experiment, variant, metric key, the user's segments). */
function feedCells(
  batch: BatchCells,
  event: StreamEvent,
  metricKey: string,
  segments: readonly (readonly [string, string])[],
  contribution: Contribution,
): void {
  const slots = directory.slotsOf(event.experimentId, event.variantId, metricKey, segments);
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i] as CellSlot<CellAccumulator>;
    let cell = slot.value;
    if (slot.stamp !== batch.stamp || cell === undefined) {
      slot.stamp = batch.stamp;
      slot.value = cell = new CellAccumulator(slot.experimentId, slot.sortKey, contribution, batch.replay);
      batch.slots.push(slot);
    }
    addContribution(cell.totals, contribution);
  }
}

/** One event's increment, reused for every event (its fields are copied into the cells' totals). */
const scratch: Contribution = {
  position: '',
  events: 1,
  units: 0,
  sum: 0,
  sumSquares: newSquareTotal(),
  receivedAt: 0,
  extra: undefined,
};

/**
 * Groups the batch into cells: `events[i]` was answered `answers` entry i. Duplicates, committed
 * and refused events contribute nothing; an applied (or replayed) event adds one
 * event, one unit if it is the user's first for the metric, its value to Σx and the
 * exact growth of the user's squared total to Σx². With a counter plan it also adds the
 * extra sums (metricExtras, addRatioContributions, addCovariateContributions). Input must be in record order.
 */
export function aggregateCounterDeltas(events: readonly AnsweredEvent[], answers: StateAnswers): CellDelta[] {
  if (answers.length !== events.length) {
    throw new PipelineError('INTERNAL', `${answers.length} state answers for ${events.length} events`);
  }
  return aggregate(events, answers, undefined, new BatchReplay(events, answers));
}

/** The cells of the batch's records after `after` (all when undefined). */
function aggregate(
  events: readonly AnsweredEvent[],
  answers: StateAnswers,
  after: string | undefined,
  replay: BatchReplay,
): CellAccumulator[] {
  const cells: BatchCells = { stamp: directory.beginBatch(), slots: [], replay };
  const squares = scratch.sumSquares;
  const answerSegments = answers.segments;
  for (let index = 0; index < events.length; index++) {
    if (!answers.counts(index)) continue;
    const { event, position, scaledValue, plan } = events[index] as AnsweredEvent;
    if (after !== undefined && position <= after) continue;
    const segments = answerSegments[index] as readonly (readonly [string, string])[];
    const scaled = scaledValue ?? scaledNumber(event.value);
    const before = answers.totalBefore(index);
    squares.clear();
    addSquareIncrement(squares, before, event.value, scaled);
    const metricKey = metricKeyOf(event);
    const metricPlan = plan === undefined || plan.metrics.size === 0 ? undefined : plan.metrics.get(metricKey);
    scratch.position = position;
    scratch.units = before === undefined ? 1 : 0;
    scratch.sum = scaled;
    scratch.receivedAt = event.receivedAt;
    scratch.extra =
      metricPlan === undefined
        ? undefined
        : metricExtras(metricPlan, scaled, before, answers.covariates(index), metricKey);
    feedCells(cells, event, metricKey, segments, scratch);
    if (plan === undefined || plan.metrics.size === 0) continue;
    if (metricPlan !== undefined && metricPlan.ratios.length > 0) {
      const partnerTotals = answers.partnerTotals(index);
      addRatioContributions(cells, event, metricKey, metricPlan, scaled, segments, before, partnerTotals, position);
    }
    if (before === undefined && event.type === 'impression' && plan.covariateMetrics.length > 0) {
      addCovariateContributions(cells, event, plan.covariateMetrics, segments, answers.covariates(index), position);
    }
  }
  // The slots let go of the batch's cells: the directory outlives them.
  const deltas = new Array<CellAccumulator>(cells.slots.length);
  for (let i = 0; i < cells.slots.length; i++) {
    const slot = cells.slots[i] as CellSlot<CellAccumulator>;
    deltas[i] = slot.value as CellAccumulator;
    slot.value = undefined;
  }
  return deltas;
}

/** Contributions of extra sums alone carry no Σx² growth: one shared, never-written zero. */
const NO_SQUARES = newSquareTotal();

const extraOnly = (position: string, receivedAt: number, extra: ExtraSums): Contribution => ({
  position,
  events: 0,
  units: 0,
  sum: 0,
  sumSquares: NO_SQUARES,
  receivedAt,
  extra,
});

/** The user's fixed covariate for `metricKey` (0 when their first event carried none), as a BigInt for products. */
function covariateOf(covariates: readonly (readonly [string, number])[], metricKey: string): bigint {
  for (const [key, value] of covariates) if (key === metricKey) return BigInt(value);
  return 0n;
}

/** min(total, cap): the cap is an upper cap only. */
const capped = (total: bigint, cap: bigint): bigint => (total < cap ? total : cap);

/** The cap in scaled units (`toScaledValue` of the plan's cap), computed once per plan entry. */
const scaledCaps = new WeakMap<MetricCounterPlan, bigint>();
function scaledCapOf(metricPlan: MetricCounterPlan & { cap: number }): bigint {
  let cap = scaledCaps.get(metricPlan);
  if (cap === undefined) scaledCaps.set(metricPlan, (cap = toScaledValue(metricPlan.cap)));
  return cap;
}

/**
 * The extra sums an event adds to its own metric's cells, T the user's total before (Tb,
 * `undefined` → 0) and after (Ta = Tb + δ) the event, C the cap, c the user's covariate:
 *   capped_sum              += min(Ta,C) − min(Tb,C)
 *   capped_sum_squares      += min(Ta,C)² − min(Tb,C)²
 *   covariate_cross         += δ·c
 *   capped_covariate_cross  += (min(Ta,C) − min(Tb,C))·c
 *   converter_covariate_sum += c on the user's first event of the metric (Tb undefined)
 * Summed over a user's events they telescope to min(T,C), min(T,C)², T·c, min(T,C)·c and
 * c once per converting user.
 * Zero sums are left out; `undefined` when nothing is left.
 */
export function metricExtras(
  metricPlan: MetricCounterPlan,
  scaledValue: number,
  before: number | undefined,
  covariates: readonly (readonly [string, number])[],
  metricKey: string,
): ExtraSums | undefined {
  // Products of two scaled values reach 10^28: the extra sums are exact BigInts.
  const scaled = BigInt(scaledValue);
  let extra: ExtraSums | undefined;
  let cappedDelta: bigint | undefined;
  if (metricPlan.cap !== undefined) {
    const cap = scaledCapOf(metricPlan as MetricCounterPlan & { cap: number });
    const totalBefore = BigInt(before ?? 0);
    const cappedBefore = capped(totalBefore, cap);
    const cappedAfter = capped(totalBefore + scaled, cap);
    cappedDelta = cappedAfter - cappedBefore;
    if (cappedDelta !== 0n) {
      extra = {
        cappedSum: cappedDelta,
        cappedSumSquares: cappedAfter * cappedAfter - cappedBefore * cappedBefore,
      };
    }
  }
  if (metricPlan.cuped) {
    const covariate = covariateOf(covariates, metricKey);
    if (covariate !== 0n) {
      if (before === undefined) (extra ??= {}).converterCovariateSum = covariate;
      if (scaled !== 0n) (extra ??= {}).covariateCross = scaled * covariate;
      if (cappedDelta !== undefined && cappedDelta !== 0n)
        (extra ??= {}).cappedCovariateCross = cappedDelta * covariate;
    }
  }
  return extra;
}

/**
 * Ratio cells: an event of one side adds δ × the other side's running total at this event
 * (`partnerTotals`, `undefined` → 0) to the ratio cell's cross_sum. Over a user's events this
 * is Σ N·D exactly: each (N-event, D-event) pair is counted once, by whichever came second.
 * A ratio of a metric with itself adds the growth of T² on its numerator side only.
 */
function addRatioContributions(
  cells: BatchCells,
  event: StreamEvent,
  metricKey: string,
  metricPlan: MetricCounterPlan,
  scaledValue: number,
  segments: readonly (readonly [string, string])[],
  totalBefore: number | undefined,
  partnerTotals: readonly (number | undefined)[],
  position: string,
): void {
  if (scaledValue === 0) return;
  const scaled = BigInt(scaledValue); // cross products reach 10^28: exact BigInts
  metricPlan.ratios.forEach((ratio, index) => {
    let cross: bigint;
    if (ratio.partner === metricKey) {
      if (ratio.side !== 'numerator') return;
      const before = BigInt(totalBefore ?? 0);
      cross = 2n * before * scaled + scaled * scaled;
    } else {
      cross = scaled * BigInt(partnerTotals[index] ?? 0);
    }
    if (cross === 0n) return;
    feedCells(cells, event, ratio.cellMetricKey, segments, extraOnly(position, event.receivedAt, { crossSum: cross }));
  });
}

/**
 * The user's first impression in a variant exposes them: every CUPED metric's cells of that
 * variant (and the user's segments) get covariate_sum += c and covariate_sum_squares += c²,
 * c the user's fixed covariate for that metric. Zero covariates add nothing.
 */
function addCovariateContributions(
  cells: BatchCells,
  event: StreamEvent,
  covariateMetrics: readonly string[],
  segments: readonly (readonly [string, string])[],
  covariates: readonly (readonly [string, number])[],
  position: string,
): void {
  for (const metricKey of covariateMetrics) {
    const covariate = covariateOf(covariates, metricKey);
    if (covariate === 0n) continue;
    const extra: ExtraSums = { covariateSum: covariate, covariateSumSquares: covariate * covariate };
    feedCells(cells, event, metricKey, segments, extraOnly(position, event.receivedAt, extra));
  }
}

/**
 * Totals holding the sum of `parts` (each left as it is): what one UpdateItem adds for a cell that
 * several shards' batches touch (merged-cell-writes.ts). Positions are the first part's:
 * a merged write conditions on each part's own.
 */
export function sumOfTotals(parts: readonly DeltaTotals[]): DeltaTotals {
  const first = parts[0] as DeltaTotals;
  const sum = newTotals({ position: first.minPosition });
  sum.maxPosition = first.maxPosition;
  for (const part of parts) {
    sum.events += part.events;
    sum.units += part.units;
    sum.sum.addTotal(part.sum);
    sum.sumSquares.addTotal(part.sumSquares);
    if (part.extra !== undefined) addExtra((sum.extra ??= {}), part.extra);
    if (part.lastEventAt > sum.lastEventAt) sum.lastEventAt = part.lastEventAt;
  }
  return sum;
}
