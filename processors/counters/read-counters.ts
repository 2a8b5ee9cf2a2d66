/**
 * Reads the whole counters table into the ground-truth shape, so a test or the bench can
 * compare every cell with `computeExpectedCounters`.
 */
import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  COUNTER_ATTRIBUTES,
  COUNTER_PARTITION_KEY,
  COUNTER_SORT_KEY,
  STATE_EPOCH_ITEM_KEY,
} from '../../common/counter-layout.js';
import type { CounterTable } from './ground-truth.js';

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
      table.set(`${item[COUNTER_PARTITION_KEY]?.S ?? ''}|${item[COUNTER_SORT_KEY]?.S ?? ''}`, {
        events: numberOf(item, COUNTER_ATTRIBUTES.events),
        units: numberOf(item, COUNTER_ATTRIBUTES.units),
        sum: numberOf(item, COUNTER_ATTRIBUTES.sum),
        sumSquares: numberOf(item, COUNTER_ATTRIBUTES.sumSquares),
      });
    }
    startKey = out.LastEvaluatedKey;
    if (!startKey) return table;
  }
  throw new Error(`counters table ${tableName} has more than ${MAX_PAGES} pages`);
}
