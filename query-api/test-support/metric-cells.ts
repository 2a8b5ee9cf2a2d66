/**
 * Test support: raw per-user data aggregated into every counter cell the processors keep for
 * an experiment's counter plan (common/counter-plan.ts) — base sums and the extras of
 * common/counter-layout.ts (capped, CUPED, ratio cross sums) — from each user's FINAL totals
 * (Σ min(T, C), Σ T·c, Σ N·D, …: the values the processors' incremental updates telescope
 * to), in exact scaled integers. The cells are written through the processors' own writer
 * (processors/counters/dynamo-cell-writer.ts), one delta per cell.
 *
 * @example
 *   const cells = aggregatePlannedCells(users, counterPlanOf(definition), Date.now());
 *   await writePlannedCells(dynamo, table, 'checkout', cells);
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  EXPOSURE_METRIC,
  EXTRA_COUNTER_ATTRIBUTE_KINDS,
  encodeCellKey,
  encodePairSegment,
  type CellKey,
} from '../../common/counter-layout.js';
import type { CounterPlan } from '../../common/counter-plan.js';
import type { CellDelta, ExtraSums } from '../../processors/counters/aggregate.js';
import { writeCellDeltas } from '../../processors/counters/merged-cell-writes.js';
import { SQUARE_DECIMALS, VALUE_DECIMALS, formatScaled, toScaledValue } from '../../processors/counters/exact-value.js';
import type { CounterCell } from '../results/read-counters.js';
import { singleContributionDelta } from './simulated-counters.js';

/** One user's raw data: what the producer sent, before any aggregation. */
export interface RawUser {
  variantId: string;
  /** Impression events (≥ 1 for an exposed user). */
  impressions: number;
  segments: Record<string, string>;
  /** metric key → the pre-exposure covariate on the user's first impression (absent: none). */
  covariates: Record<string, number>;
  /** metric key → the values of the user's conversion events. */
  conversions: Record<string, number[]>;
}

/** One cell's exact sums, scaled like the processors' (values × 1e6, products × 1e12). */
export interface PlannedCell extends CellKey {
  events: number;
  units: number;
  sum: bigint;
  sumSquares: bigint;
  extra: ExtraSums;
}

const SCALE = 1_000_000n;

/** A user's scaled total of a metric (Σ of their event values), undefined without events. */
function totalOf(user: RawUser, metricKey: string): bigint | undefined {
  const values = user.conversions[metricKey];
  if (!values || values.length === 0) return undefined;
  return values.reduce((sum, value) => sum + toScaledValue(value), 0n);
}

/** Every segment location of a user: the total cell, one per dimension, one per pair of dimensions. */
function locationsOf(user: RawUser): (CellKey['segment'] | undefined)[] {
  const dimensions = Object.keys(user.segments).sort();
  const single = dimensions.map((dimension) => ({ dimension, value: user.segments[dimension]! }));
  const pairs = single.flatMap((a, i) => single.slice(i + 1).map((b) => encodePairSegment(a, b)));
  return [undefined, ...single, ...pairs];
}

/** Aggregates raw users into every cell the processors would write under `plan`. */
export function aggregatePlannedCells(users: readonly RawUser[], plan: CounterPlan): PlannedCell[] {
  const cells = new Map<string, PlannedCell>();
  const cellAt = (key: CellKey): PlannedCell => {
    const sortKey = encodeCellKey(key);
    let cell = cells.get(sortKey);
    if (!cell) cells.set(sortKey, (cell = { ...key, events: 0, units: 0, sum: 0n, sumSquares: 0n, extra: {} }));
    return cell;
  };
  const addExtra = (cell: PlannedCell, field: keyof ExtraSums, value: bigint) => {
    cell.extra[field] = (cell.extra[field] ?? 0n) + value;
  };
  for (const user of users) {
    for (const segment of locationsOf(user)) {
      const at = (metricKey: string) =>
        cellAt({ variantId: user.variantId, metricKey, ...(segment ? { segment } : {}) });
      if (user.impressions > 0) {
        const exposure = at(EXPOSURE_METRIC);
        const impressions = BigInt(user.impressions) * SCALE;
        exposure.events += user.impressions;
        exposure.units += 1;
        exposure.sum += impressions;
        exposure.sumSquares += impressions * impressions;
        for (const metricKey of plan.covariateMetrics) {
          const covariate = toScaledValue(user.covariates[metricKey] ?? 0);
          if (covariate === 0n) continue;
          addExtra(at(metricKey), 'covariateSum', covariate);
          addExtra(at(metricKey), 'covariateSumSquares', covariate * covariate);
        }
      }
      for (const [metricKey, values] of Object.entries(user.conversions)) {
        const total = totalOf(user, metricKey);
        if (total === undefined) continue;
        const cell = at(metricKey);
        cell.events += values.length;
        cell.units += 1;
        cell.sum += total;
        cell.sumSquares += total * total;
        const metricPlan = plan.metrics.get(metricKey);
        if (!metricPlan) continue;
        const covariate = metricPlan.cuped ? toScaledValue(user.covariates[metricKey] ?? 0) : 0n;
        if (metricPlan.cuped) addExtra(cell, 'covariateCross', total * covariate);
        if (metricPlan.cuped) addExtra(cell, 'converterCovariateSum', covariate);
        if (metricPlan.cap !== undefined) {
          const cap = toScaledValue(metricPlan.cap);
          const capped = total < cap ? total : cap;
          addExtra(cell, 'cappedSum', capped);
          addExtra(cell, 'cappedSumSquares', capped * capped);
          if (metricPlan.cuped) addExtra(cell, 'cappedCovariateCross', capped * covariate);
        }
        for (const ratio of metricPlan.ratios) {
          if (ratio.side !== 'numerator') continue;
          const partner = totalOf(user, ratio.partner) ?? 0n;
          if (partner !== 0n) addExtra(at(ratio.cellMetricKey), 'crossSum', total * partner);
        }
      }
    }
  }
  return [...cells.values()];
}

/** The processors' delta of one planned cell: a single contribution at `position`. */
const deltaOf = (experimentId: string, cell: PlannedCell, position: string, lastEventAt: number): CellDelta =>
  singleContributionDelta(experimentId, cell, { ...cell, lastEventAt }, position);

/** Writes planned cells with the processors' conditional writer (shard `shardId-seed`, one position). */
export async function writePlannedCells(
  dynamo: DynamoDBClient,
  tableName: string,
  experimentId: string,
  cells: readonly PlannedCell[],
  lastEventAt = Date.now(),
): Promise<void> {
  const position = '00000000000000000000000000000000000000000000000001';
  await writeCellDeltas(
    { dynamo, tableName, writeConcurrency: 16 },
    'shardId-seed',
    cells.map((cell) => deltaOf(experimentId, cell, position, lastEventAt)),
  );
}

/** Planned cells as the query API decodes them (what a read of the written items returns), for pure tests. */
export function plannedCellsAsCounterCells(cells: readonly PlannedCell[]): CounterCell[] {
  const decimalsOf = (field: keyof ExtraSums) =>
    EXTRA_COUNTER_ATTRIBUTE_KINDS[field] === 'value' ? VALUE_DECIMALS : SQUARE_DECIMALS;
  return cells.map((cell) => {
    const { extra, sum, sumSquares, ...rest } = cell;
    const decoded: CounterCell = {
      ...rest,
      sum: Number(formatScaled(sum, VALUE_DECIMALS)),
      sumSquares: Number(formatScaled(sumSquares, SQUARE_DECIMALS)),
    };
    for (const [field, value] of Object.entries(extra) as [keyof ExtraSums, bigint][]) {
      decoded[field] = Number(formatScaled(value, decimalsOf(field)));
    }
    return decoded;
  });
}
