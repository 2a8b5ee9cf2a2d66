/**
 * The DynamoDB adapter of GET /api/v1/metrics/{metricKey}/totals: one page of the sparse
 * `metric-totals` index (common/counter-layout.ts, METRIC_INDEX), i.e. the per-variant total
 * cells of every experiment that counts this metric key, ordered by experiment id. Pages are
 * continued with an opaque cursor (the page's last key, base64url JSON); one experiment's
 * variants may continue on the next page.
 */
import { QueryCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { COUNTER_PARTITION_KEY, COUNTER_SORT_KEY, METRIC_INDEX } from '../../common/counter-layout.js';
import { PipelineError } from '../../common/errors.js';
import { decodeCounterItem } from './read-counters.js';

/** One variant's total cell of the metric in one experiment. */
export interface MetricTotal {
  experimentId: string;
  variantId: string;
  events: number;
  units: number;
  sum: number;
  sumSquares: number;
  lastEventAt?: number;
}

export interface MetricTotalsPage {
  totals: MetricTotal[];
  /** Present when more totals follow: pass it as `cursor` to read them. */
  nextCursor?: string;
}

const CURSOR_KEYS = [METRIC_INDEX.partitionKey, COUNTER_PARTITION_KEY, COUNTER_SORT_KEY] as const;

/** The cursor of a page's last key. */
export function encodeCursor(key: Record<string, AttributeValue>): string {
  const plain = Object.fromEntries(CURSOR_KEYS.map((name) => [name, key[name]?.S ?? '']));
  return Buffer.from(JSON.stringify(plain), 'utf8').toString('base64url');
}

/** The index key a cursor stands for; VALIDATION_FAILED (400, field `cursor`) for anything else. */
export function decodeCursor(cursor: string, metricKey: string): Record<string, AttributeValue> {
  const invalid = (rule: string, message: string) =>
    new PipelineError('VALIDATION_FAILED', `cursor ${message}`, { details: [{ field: 'cursor', rule, message }] });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid('format', 'is not a cursor returned by this route');
  }
  const values = parsed as Record<string, unknown> | null;
  if (values === null || typeof values !== 'object' || !CURSOR_KEYS.every((name) => typeof values[name] === 'string')) {
    throw invalid('format', 'is not a cursor returned by this route');
  }
  if (values[METRIC_INDEX.partitionKey] !== metricKey) {
    throw invalid('same-metric', 'belongs to another metric key');
  }
  return Object.fromEntries(CURSOR_KEYS.map((name) => [name, { S: values[name] as string }]));
}

/** Reads one page (at most `limit` totals) of a metric key's totals across experiments. */
export async function readMetricTotals(
  dynamo: DynamoDBClient,
  tableName: string,
  metricKey: string,
  page: { limit: number; cursor?: string },
): Promise<MetricTotalsPage> {
  const out = await dynamo.send(
    new QueryCommand({
      TableName: tableName,
      IndexName: METRIC_INDEX.name,
      KeyConditionExpression: '#metric = :metric',
      ExpressionAttributeNames: { '#metric': METRIC_INDEX.partitionKey },
      ExpressionAttributeValues: { ':metric': { S: metricKey } },
      Limit: page.limit,
      ...(page.cursor === undefined ? {} : { ExclusiveStartKey: decodeCursor(page.cursor, metricKey) }),
    }),
  );
  const totals: MetricTotal[] = [];
  for (const item of out.Items ?? []) {
    const cell = decodeCounterItem(item);
    const experimentId = item[COUNTER_PARTITION_KEY]?.S;
    if (!cell || cell.segment || experimentId === undefined || cell.metricKey !== metricKey) continue;
    const { variantId, events, units, sum, sumSquares, lastEventAt } = cell;
    totals.push({
      experimentId,
      variantId,
      events,
      units,
      sum,
      sumSquares,
      ...(lastEventAt === undefined ? {} : { lastEventAt }),
    });
  }
  return {
    totals,
    ...(out.LastEvaluatedKey ? { nextCursor: encodeCursor(out.LastEvaluatedKey) } : {}),
  };
}
