/**
 * The DynamoDB adapter of the results: one paginated Query on `experiment_id` returns
 * every counter cell of an experiment (totals and segment cells), decoded with the
 * shared layout. Watermark attributes are not projected: readers never need them.
 */
import { QueryCommand, type DynamoDBClient, type AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  COUNTER_ATTRIBUTES,
  COUNTER_PARTITION_KEY,
  COUNTER_SORT_KEY,
  decodeCellKey,
  type CellKey,
  type CellStatistics,
} from '../../common/counter-layout.js';

/** One counter cell: where it sits and what it counts. */
export type CounterCell = CellKey & CellStatistics;

/** Bounds the read of one experiment: 1 MB pages, so this caps it near 200 MB. */
const MAX_PAGES = 200;

const PROJECTED = [
  COUNTER_SORT_KEY,
  COUNTER_ATTRIBUTES.events,
  COUNTER_ATTRIBUTES.units,
  COUNTER_ATTRIBUTES.sum,
  COUNTER_ATTRIBUTES.sumSquares,
  COUNTER_ATTRIBUTES.lastEventAt,
];
// `sum` and friends collide with DynamoDB reserved words: always go through names.
const NAMES = Object.fromEntries(PROJECTED.map((name, i) => [`#a${i}`, name]));

const numberOf = (value: AttributeValue | undefined): number => (value?.N === undefined ? 0 : Number(value.N));

/** Decodes one item; undefined for items this layout did not write (they are skipped). */
export function decodeCounterItem(item: Record<string, AttributeValue>): CounterCell | undefined {
  const sortKey = item[COUNTER_SORT_KEY]?.S;
  if (!sortKey) return undefined;
  let key: CellKey;
  try {
    key = decodeCellKey(sortKey);
  } catch {
    return undefined;
  }
  const lastEventAt = item[COUNTER_ATTRIBUTES.lastEventAt]?.N;
  return {
    ...key,
    events: numberOf(item[COUNTER_ATTRIBUTES.events]),
    units: numberOf(item[COUNTER_ATTRIBUTES.units]),
    sum: numberOf(item[COUNTER_ATTRIBUTES.sum]),
    sumSquares: numberOf(item[COUNTER_ATTRIBUTES.sumSquares]),
    ...(lastEventAt === undefined ? {} : { lastEventAt: Number(lastEventAt) }),
  };
}

/** Reads every cell of an experiment with one paginated Query. */
export async function readExperimentCells(
  dynamo: DynamoDBClient,
  tableName: string,
  experimentId: string,
): Promise<CounterCell[]> {
  const cells: CounterCell[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const out = await dynamo.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: '#pk = :experimentId',
        ExpressionAttributeNames: { '#pk': COUNTER_PARTITION_KEY, ...NAMES },
        ExpressionAttributeValues: { ':experimentId': { S: experimentId } },
        ProjectionExpression: Object.keys(NAMES).join(', '),
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of out.Items ?? []) {
      const cell = decodeCounterItem(item);
      if (cell) cells.push(cell);
    }
    startKey = out.LastEvaluatedKey;
    if (!startKey) return cells;
  }
  throw new Error(`experiment ${experimentId} has more than ${MAX_PAGES} pages of counters`);
}
