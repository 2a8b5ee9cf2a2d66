/**
 * Test and bench support: simulated users aggregated into counter cells exactly as the
 * layout in common/counter-layout.ts describes (totals, one-dimension and pair segment
 * cells) — an independent re-implementation of the processors' aggregation, so the query
 * API is checked against ground truth. The cells are written through the processors' own
 * writer (processors/counters/dynamo-cell-writer.ts), so the items hold exactly what the
 * processors would write (watermark, metric index key, decimal strings).
 *
 * @example
 *   await writeCells(dynamo, table, 'checkout', aggregateUsers(users, Date.now()));
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  EXPOSURE_METRIC,
  encodeCellKey,
  encodePairSegment,
  type CellKey,
  type CellStatistics,
} from '../../common/counter-layout.js';
import type { CellDelta, DeltaTotals, ExtraSums } from '../../processors/counters/aggregate.js';
import { writeCellDeltas } from '../../processors/counters/merged-cell-writes.js';
import { ExactTotal, SQUARE_DECIMALS, VALUE_DECIMALS, newSquareTotal } from '../../processors/counters/exact-value.js';
import { recordPosition } from '../../processors/sequence-number.js';

export interface SimulatedUser {
  variantId: string;
  impressions: number;
  segments: Record<string, string>;
  /** metric key → the user's events of that metric (values). */
  conversions: Record<string, number[]>;
}

export interface Cell extends CellStatistics {
  variantId: string;
  metricKey: string;
  segment?: { dimension: string; value: string };
}

/** Aggregates users into every cell the processors would write (pairs for every two dimensions). */
export function aggregateUsers(users: readonly SimulatedUser[], lastEventAt: number): Cell[] {
  const cells = new Map<string, Cell>();
  const add = (cell: Omit<Cell, 'events' | 'units' | 'sum' | 'sumSquares'>, events: number, total: number) => {
    const key = encodeCellKey(cell);
    const current = cells.get(key) ?? { ...cell, events: 0, units: 0, sum: 0, sumSquares: 0, lastEventAt };
    current.events += events;
    current.units += 1;
    current.sum += total;
    current.sumSquares += total * total;
    cells.set(key, current);
  };
  for (const user of users) {
    const dimensions = Object.keys(user.segments).sort();
    const segments: ({ dimension: string; value: string } | undefined)[] = [
      undefined,
      ...dimensions.map((dimension) => ({ dimension, value: user.segments[dimension]! })),
    ];
    for (let i = 0; i < dimensions.length; i++) {
      for (let j = i + 1; j < dimensions.length; j++) {
        const a = { dimension: dimensions[i]!, value: user.segments[dimensions[i]!]! };
        const b = { dimension: dimensions[j]!, value: user.segments[dimensions[j]!]! };
        segments.push(encodePairSegment(a, b));
      }
    }
    for (const segment of segments) {
      const where = { variantId: user.variantId, ...(segment ? { segment } : {}) };
      add({ ...where, metricKey: EXPOSURE_METRIC }, user.impressions, user.impressions);
      for (const [metricKey, values] of Object.entries(user.conversions)) {
        if (values.length === 0) continue;
        add(
          { ...where, metricKey },
          values.length,
          values.reduce((sum, value) => sum + value, 0),
        );
      }
    }
  }
  return [...cells.values()];
}

/** The shard the simulated cells are written as (its watermark attribute is `wm_shardId_simulated`). */
const SIMULATED_SHARD = 'shardId-simulated';

let lastSequence = 0n;
/**
 * A position after every earlier write of this process (and, being time-based, of earlier
 * processes): each `writeCells` call is a new batch the writer's watermark condition accepts,
 * so a second call adds to the cells like the next batch of the processors would.
 */
function nextPosition(): string {
  const now = BigInt(Date.now()) * 1000n;
  lastSequence = now > lastSequence ? now : lastSequence + 1n;
  return recordPosition(String(lastSequence), 0);
}

/** A number as a scaled integer with `decimals` decimals (rounded by `toFixed`; integers exactly). */
function scaled(value: number, decimals: number): bigint {
  if (Number.isInteger(value)) return BigInt(value) * 10n ** BigInt(decimals);
  return BigInt(value.toFixed(decimals).replace('.', ''));
}

/** Scaled statistics of one cell (sums in VALUE_DECIMALS, products in SQUARE_DECIMALS units). */
export interface ScaledCellStatistics {
  events: number;
  units: number;
  sum: bigint;
  sumSquares: bigint;
  extra?: ExtraSums | undefined;
  lastEventAt: number;
}

/**
 * A cell as the processors' delta: one contribution at `position` (what `writeCellDeltas` takes).
 * Shared by every test helper that writes cells through the processors' writer.
 */
export function singleContributionDelta(
  experimentId: string,
  key: CellKey,
  stats: ScaledCellStatistics,
  position: string,
): CellDelta {
  const sum = new ExactTotal();
  sum.addBig(stats.sum);
  const sumSquares = newSquareTotal();
  sumSquares.addBig(stats.sumSquares);
  const extra = stats.extra !== undefined && Object.keys(stats.extra).length > 0 ? stats.extra : undefined;
  const totals: DeltaTotals = {
    events: stats.events,
    units: stats.units,
    sum,
    sumSquares,
    extra,
    lastEventAt: stats.lastEventAt,
    minPosition: position,
    maxPosition: position,
  };
  return {
    experimentId,
    sortKey: encodeCellKey(key),
    totalsAfter: (after) => (after !== undefined && position <= after ? undefined : totals),
    totals,
  };
}

/** A cell as the processors' delta: one contribution at `position`. */
const deltaOf = (experimentId: string, cell: Cell, position: string): CellDelta =>
  singleContributionDelta(
    experimentId,
    cell,
    {
      events: cell.events,
      units: cell.units,
      sum: scaled(cell.sum, VALUE_DECIMALS),
      sumSquares: scaled(cell.sumSquares, SQUARE_DECIMALS),
      lastEventAt: cell.lastEventAt ?? 0,
    },
    position,
  );

/**
 * Adds cells to the table with the processors' conditional writer (`concurrency` requests in
 * flight), as one batch of shard `shardId-simulated` per call: calling it again adds again.
 * A cell listed twice is added twice (the second copy in a later batch). A cell without
 * events but with users or sums is refused: the processors never write one (the writer adds
 * the sums only with events).
 */
export async function writeCells(
  dynamo: DynamoDBClient,
  tableName: string,
  experimentId: string,
  cells: readonly Cell[],
  concurrency = 16,
): Promise<void> {
  const rounds: Cell[][] = [];
  const seen = new Map<string, number>();
  for (const cell of cells) {
    if (cell.events === 0 && (cell.units !== 0 || cell.sum !== 0 || cell.sumSquares !== 0)) {
      throw new Error(`cell ${encodeCellKey(cell)} has users or sums but no events: the processors never write one`);
    }
    const key = encodeCellKey(cell);
    const round = seen.get(key) ?? 0;
    seen.set(key, round + 1);
    (rounds[round] ??= []).push(cell);
  }
  for (const round of rounds) {
    const position = nextPosition();
    await writeCellDeltas(
      { dynamo, tableName, writeConcurrency: concurrency },
      SIMULATED_SHARD,
      round.map((cell) => deltaOf(experimentId, cell, position)),
    );
  }
}

/** The processors' seeded PRNG (mulberry32), so simulated workloads are reproducible. */
export { seededRandom } from '../../local/test-support/counter-workload.js';
