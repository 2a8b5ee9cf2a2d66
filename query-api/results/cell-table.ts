/**
 * Pure grouping of counter cells: totals per variant and metric, and segment cells per
 * dimension and value. Also the arithmetic that makes "(other)" and cross-checks exact:
 * cells are sufficient statistics, so merging is adding.
 */
import { EXPOSURE_METRIC, type CellStatistics } from '../../common/counter-layout.js';
import { EXTRA_CELL_FIELDS } from './read-counters.js';
import type { CounterCell } from './read-counters.js';

/** metricKey → statistics, for one variant (`$exposure` included). */
export type MetricCells = Map<string, CellStatistics>;
/** variantId → that variant's metric cells. */
export type VariantCells = Map<string, MetricCells>;

export interface CellTable {
  totals: VariantCells;
  /** dimension → value → variant cells. */
  segments: Map<string, Map<string, VariantCells>>;
  /** Latest event time over all cells (epoch ms). */
  lastEventAt?: number;
}

export const EMPTY_CELL: Readonly<CellStatistics> = Object.freeze({ events: 0, units: 0, sum: 0, sumSquares: 0 });

/** Adds two cells; the later `lastEventAt` wins; an extra attribute is kept when either cell has it. */
export function addCells(a: CellStatistics, b: CellStatistics): CellStatistics {
  const lastEventAt = Math.max(a.lastEventAt ?? -Infinity, b.lastEventAt ?? -Infinity);
  const sum: CellStatistics = {
    events: a.events + b.events,
    units: a.units + b.units,
    sum: a.sum + b.sum,
    sumSquares: a.sumSquares + b.sumSquares,
    ...(Number.isFinite(lastEventAt) ? { lastEventAt } : {}),
  };
  for (const field of EXTRA_CELL_FIELDS) {
    if (a[field] !== undefined || b[field] !== undefined) sum[field] = (a[field] ?? 0) + (b[field] ?? 0);
  }
  return sum;
}

function addInto(target: VariantCells, variantId: string, metricKey: string, cell: CellStatistics): void {
  let metrics = target.get(variantId);
  if (!metrics) target.set(variantId, (metrics = new Map<string, CellStatistics>()));
  const previous = metrics.get(metricKey);
  metrics.set(metricKey, previous ? addCells(previous, cell) : cell);
}

/** Groups decoded cells into totals and segments. */
export function buildCellTable(cells: readonly CounterCell[]): CellTable {
  const table: CellTable = { totals: new Map(), segments: new Map() };
  for (const cell of cells) {
    if (cell.lastEventAt !== undefined) table.lastEventAt = Math.max(table.lastEventAt ?? 0, cell.lastEventAt);
    if (!cell.segment) {
      addInto(table.totals, cell.variantId, cell.metricKey, cell);
      continue;
    }
    let values = table.segments.get(cell.segment.dimension);
    if (!values) table.segments.set(cell.segment.dimension, (values = new Map<string, VariantCells>()));
    let variants = values.get(cell.segment.value);
    if (!variants) values.set(cell.segment.value, (variants = new Map<string, MetricCells>()));
    addInto(variants, cell.variantId, cell.metricKey, cell);
  }
  return table;
}

/** Merges several segment values' cells into one (for "(other)"). */
export function mergeVariantCells(parts: readonly VariantCells[]): VariantCells {
  const merged: VariantCells = new Map();
  for (const part of parts) {
    for (const [variantId, metrics] of part) {
      for (const [metricKey, cell] of metrics) addInto(merged, variantId, metricKey, cell);
    }
  }
  return merged;
}

/** Exposed users of a set of variant cells (all variants). */
export function exposedUsers(cells: VariantCells): number {
  let users = 0;
  for (const metrics of cells.values()) users += metrics.get(EXPOSURE_METRIC)?.units ?? 0;
  return users;
}

/** A mismatch between the sum of segment cells and the total cell. */
export interface CellDiscrepancy {
  variantId: string;
  metricKey: string;
  field: keyof Omit<CellStatistics, 'lastEventAt'>;
  total: number;
  sumOfSegments: number;
}

const COMPARED_FIELDS = ['events', 'units', 'sum', 'sumSquares', ...EXTRA_CELL_FIELDS] as const;
/** Counts are integers and must match exactly; sums of real values may differ by rounding of the addition order. */
const SUM_RELATIVE_TOLERANCE = 1e-9;

/** Checks that the segment values of one dimension add up to the totals; returns every difference. */
export function segmentDiscrepancies(totals: VariantCells, parts: readonly VariantCells[]): CellDiscrepancy[] {
  const merged = mergeVariantCells(parts);
  const found: CellDiscrepancy[] = [];
  const variantIds = new Set([...totals.keys(), ...merged.keys()]);
  for (const variantId of variantIds) {
    const totalMetrics = totals.get(variantId) ?? new Map<string, CellStatistics>();
    const mergedMetrics = merged.get(variantId) ?? new Map<string, CellStatistics>();
    for (const metricKey of new Set([...totalMetrics.keys(), ...mergedMetrics.keys()])) {
      const total = totalMetrics.get(metricKey) ?? EMPTY_CELL;
      const sumOfSegments = mergedMetrics.get(metricKey) ?? EMPTY_CELL;
      for (const field of COMPARED_FIELDS) {
        const exact = field === 'events' || field === 'units';
        const totalValue = total[field] ?? 0;
        const segmentsValue = sumOfSegments[field] ?? 0;
        const difference = Math.abs(totalValue - segmentsValue);
        const allowed = exact ? 0 : SUM_RELATIVE_TOLERANCE * Math.max(1, Math.abs(totalValue));
        if (difference > allowed) {
          found.push({ variantId, metricKey, field, total: totalValue, sumOfSegments: segmentsValue });
        }
      }
    }
  }
  return found;
}
