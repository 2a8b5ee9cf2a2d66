/**
 * Which counter cells an event feeds, resolved once per (experiment, variant, metric, user
 * segments) and kept across batches, so the aggregation reaches each cell through a slot
 * instead of building a key string and looking it up per cell and event.
 *
 * Lookup per event: the user's segments array → its `SegmentCells` (a WeakMap: stores hand
 * out one array per user, and arrays of equal content share one `SegmentCells` through their
 * key string) → experiment → variant → metric key (Maps keyed by the event's own strings,
 * whose hashes V8 keeps on the string) → the slots, total cell first (cell-keys.ts).
 *
 * Two properties the exactly-once protocol needs:
 * - **One slot per cell.** Within a generation every path to a cell id ends at the same slot,
 *   so a batch holds one accumulator per cell: two writes of one cell in one batch would each
 *   be conditioned on a watermark the other moves.
 * - **Bounded.** When the slots reach `CELL_SLOT_LIMIT`, the next batch (`beginBatch`, never
 *   in the middle of one) starts a new generation with empty maps: older `SegmentCells` are
 *   unreachable from it, so no batch mixes slots of two generations.
 *
 * @example
 *   const batch = directory.beginBatch();
 *   for (const slot of directory.slotsOf('exp', 'control', '$exposure', [['country', 'DE']])) {
 *     if (slot.stamp !== batch) { slot.stamp = batch; slot.value = newAccumulator(slot); }
 *   }
 */
import { cellSortKeys } from './cell-keys.js';

/** Slots a generation holds before the next batch starts a new one (bounds memory; one slot ≈ 150 B). */
export const CELL_SLOT_LIMIT = 50_000;

/** One counter cell, and what the batch that touches it keeps there. */
export interface CellSlot<T> {
  readonly experimentId: string;
  readonly sortKey: string;
  /** The `beginBatch` stamp of the batch that last set `value`. */
  stamp: number;
  /** The current batch's value for this cell (valid only while `stamp` is that batch's). */
  value: T | undefined;
}

type Segments = readonly (readonly [string, string])[];

/** The cells of one segments combination: experiment → variant → metric key → slots. */
type SegmentCells<T> = Map<string, Map<string, Map<string, readonly CellSlot<T>[]>>>;

/** `segments` as one string (names and values cannot hold U+0000). */
function segmentsKey(segments: Segments): string {
  let key = '';
  for (const [dimension, value] of segments) key += `\u0000${dimension}\u0000${value}`;
  return key;
}

export class CellDirectory<T> {
  #slots = new Map<string, CellSlot<T>>();
  #byKey = new Map<string, SegmentCells<T>>();
  #byArray = new WeakMap<Segments, SegmentCells<T>>();
  #stamp = 0;

  constructor(private readonly slotLimit = CELL_SLOT_LIMIT) {}

  /** Starts a batch: returns its stamp, and starts a new generation when the slots reached the limit. */
  beginBatch(): number {
    if (this.#slots.size >= this.slotLimit) {
      this.#slots = new Map();
      this.#byKey = new Map();
      this.#byArray = new WeakMap();
    }
    return ++this.#stamp;
  }

  /** Slots of the current generation (for tests of the bound). */
  get size(): number {
    return this.#slots.size;
  }

  /** The slots of every cell an event of (experiment, variant, metric, the user's segments) feeds, total cell first. */
  slotsOf(experimentId: string, variantId: string, metricKey: string, segments: Segments): readonly CellSlot<T>[] {
    const byExperiment = this.#segmentCells(segments);
    let byVariant = byExperiment.get(experimentId);
    if (byVariant === undefined)
      byExperiment.set(experimentId, (byVariant = new Map<string, Map<string, readonly CellSlot<T>[]>>()));
    let byMetric = byVariant.get(variantId);
    if (byMetric === undefined) byVariant.set(variantId, (byMetric = new Map<string, readonly CellSlot<T>[]>()));
    let slots = byMetric.get(metricKey);
    if (slots === undefined) {
      slots = cellSortKeys(variantId, metricKey, segments).map((sortKey) => this.#slot(experimentId, sortKey));
      byMetric.set(metricKey, slots);
    }
    return slots;
  }

  #segmentCells(segments: Segments): SegmentCells<T> {
    let cells = this.#byArray.get(segments);
    if (cells !== undefined) return cells;
    const key = segmentsKey(segments);
    cells = this.#byKey.get(key);
    if (cells === undefined) this.#byKey.set(key, (cells = new Map() as SegmentCells<T>));
    this.#byArray.set(segments, cells);
    return cells;
  }

  #slot(experimentId: string, sortKey: string): CellSlot<T> {
    const id = `${experimentId}\u0000${sortKey}`;
    let slot = this.#slots.get(id);
    if (slot === undefined) this.#slots.set(id, (slot = { experimentId, sortKey, stamp: 0, value: undefined }));
    return slot;
  }
}
