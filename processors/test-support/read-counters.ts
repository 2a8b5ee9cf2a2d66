/**
 * Reads the whole counters table into the ground-truth shape, so a test or the bench can
 * compare every cell with `computeExpectedCounters`: the extra attributes (capped, CUPED,
 * ratio sums) appear when they are not 0, and an item whose every statistic is 0 (a ratio
 * cell whose cross terms cancelled out) reads as no cell, as in the ground truth.
 */
import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  COUNTER_ATTRIBUTES,
  COUNTER_PARTITION_KEY,
  COUNTER_SORT_KEY,
  EXTRA_COUNTER_ATTRIBUTES,
  STATE_EPOCH_ITEM_KEY,
} from '../../common/counter-layout.js';
import type { CounterCellValues, CounterTable } from './counter-ground-truth.js';

/** Bounds the scan: a test or bench table beyond this many pages is a mistake, not a workload. */
const MAX_PAGES = 10_000;

const numberOf = (item: Record<string, AttributeValue>, name: string): number => Number(item[name]?.N ?? '0');

/**
 * Scans `tableName` (consistent reads) into `${experiment_id}|${variant_metric}` → counters.
 *
 * @example const actual = await readCounters(dynamo, 'ExperimentCounters');
 */
export async function readCounters(dynamo: DynamoDBClient, tableName: string): Promise<CounterTable> {
  const table: CounterTable = new Map();
  let startKey: Record<string, AttributeValue> | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const out = await dynamo.send(
      new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }),
    );
    for (const item of out.Items ?? []) {
      if (item[COUNTER_PARTITION_KEY]?.S === STATE_EPOCH_ITEM_KEY.partition) continue; // not a cell
      const cell: CounterCellValues = {
        events: numberOf(item, COUNTER_ATTRIBUTES.events),
        units: numberOf(item, COUNTER_ATTRIBUTES.units),
        sum: numberOf(item, COUNTER_ATTRIBUTES.sum),
        sumSquares: numberOf(item, COUNTER_ATTRIBUTES.sumSquares),
      };
      let extras = false;
      for (const field of Object.keys(EXTRA_COUNTER_ATTRIBUTES) as (keyof typeof EXTRA_COUNTER_ATTRIBUTES)[]) {
        const value = numberOf(item, EXTRA_COUNTER_ATTRIBUTES[field]);
        if (value === 0) continue;
        cell[field] = value;
        extras = true;
      }
      if (!extras && cell.events === 0 && cell.units === 0 && cell.sum === 0 && cell.sumSquares === 0) continue;
      table.set(`${item[COUNTER_PARTITION_KEY]?.S ?? ''}|${item[COUNTER_SORT_KEY]?.S ?? ''}`, cell);
    }
    startKey = out.LastEvaluatedKey;
    if (!startKey) return table;
  }
  throw new Error(`counters table ${tableName} has more than ${MAX_PAGES} pages`);
}
