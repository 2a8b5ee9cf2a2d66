/**
 * Test and bench support: simulated users aggregated into counter cells exactly as the
 * layout in common/counter-layout.ts describes (totals, one-dimension and pair segment
 * cells), written to DynamoDB with UpdateItem — an independent re-implementation of the
 * processors' aggregation, so the query API is checked against ground truth.
 */
import { UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  COUNTER_ATTRIBUTES,
  COUNTER_PARTITION_KEY,
  COUNTER_SORT_KEY,
  EXPOSURE_METRIC,
  encodeCellKey,
  encodePairSegment,
  type CellStatistics,
} from '../common/counter-layout.js';

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

/** Writes cells with UpdateItem ADD (as the processors do), `concurrency` at a time. */
export async function writeCells(
  dynamo: DynamoDBClient,
  tableName: string,
  experimentId: string,
  cells: readonly Cell[],
  concurrency = 16,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < cells.length) {
      const cell = cells[next++]!;
      await dynamo.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: { [COUNTER_PARTITION_KEY]: { S: experimentId }, [COUNTER_SORT_KEY]: { S: encodeCellKey(cell) } },
          UpdateExpression: 'ADD #events :events, #units :units, #sum :sum, #sumSquares :sumSquares SET #last = :last',
          ExpressionAttributeNames: {
            '#events': COUNTER_ATTRIBUTES.events,
            '#units': COUNTER_ATTRIBUTES.units,
            '#sum': COUNTER_ATTRIBUTES.sum,
            '#sumSquares': COUNTER_ATTRIBUTES.sumSquares,
            '#last': COUNTER_ATTRIBUTES.lastEventAt,
          },
          ExpressionAttributeValues: {
            ':events': { N: String(cell.events) },
            ':units': { N: String(cell.units) },
            ':sum': { N: String(cell.sum) },
            ':sumSquares': { N: String(cell.sumSquares) },
            ':last': { N: String(cell.lastEventAt ?? 0) },
          },
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, cells.length) }, worker));
}

/** The processors' seeded PRNG (mulberry32), so simulated workloads are reproducible. */
export { seededRandom } from '../processors/counters/test-workload.js';
