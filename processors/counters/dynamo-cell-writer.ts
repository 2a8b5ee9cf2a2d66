/**
 * The DynamoDB adapter of the counter sink: one conditional UpdateItem per cell per batch
 * (DESIGN.md steps 2–3).
 *
 *   ADD events, units, sum, sum_squares  SET wm_<shard> = :newest, last_event_at
 *   IF attribute_not_exists(wm_<shard>) OR wm_<shard> < :oldest
 *
 * A delta with extra sums (capped, CUPED, ratio: common/counter-plan.ts) also ADDs each of
 * them that is not 0 (`capped_sum`, `cross_sum`, …), under the same condition and on the
 * same re-apply path; a delta of extra sums alone (a ratio cell, a CUPED cell fed by an
 * impression: `events` 0) ADDs only those, so such cells hold no zero `events`/`units`/`sum`.
 *
 * Total cells also get `SET metric_key` (their metric key), which puts them in the sparse
 * `metric-totals` index (common/counter-layout.ts, METRIC_INDEX); segment cells do not.
 *
 * The condition compares with the batch's OLDEST contribution to the cell, not its newest
 * (DESIGN.md's first sketch): a re-cut batch that extends past a crashed one has a newer
 * maximum than the cell's watermark yet starts with records the cell already holds.
 * When the condition fails the cell already holds some of the batch (a replay or a re-cut
 * batch): read its watermark with a consistent read and add only the contributions newer
 * than it, conditioned on that very watermark. Throttling and 5xx are retried with the
 * shared jittered backoff; anything else is a non-retriable `SINK_REJECTED`.
 *
 * This module writes one cell (`writeCell`); the cells of batches go through one worker pool in
 * merged-cell-writes.ts (`writeShardCells` for a group of shards' batches, `writeCellDeltas` for one).
 */
import {
  ConditionalCheckFailedException,
  type AttributeValue,
  type DynamoDBClient,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { sdkItemClient, type DynamoItemClient } from '../../common/dynamo-item-client.js';
import {
  COUNTER_ATTRIBUTES,
  COUNTER_PARTITION_KEY,
  COUNTER_SORT_KEY,
  EXTRA_COUNTER_ATTRIBUTES,
  METRIC_INDEX,
  metricIndexAttributes,
  watermarkAttribute,
} from '../../common/counter-layout.js';
import { PipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryOptions, type RetryPolicy } from '../../common/retry.js';
import type { CellDelta, DeltaTotals, ExtraField } from './aggregate.js';
import { EXTRA_DECIMALS, SQUARE_DECIMALS, VALUE_DECIMALS, formatScaled } from './exact-value.js';

/** Re-reads of a watermark before giving up: more than one means a second writer on the shard. */
const MAX_WATERMARK_ROUNDS = 4;

const THROTTLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);
const TRANSIENT_NAMES = new Set(['InternalServerError', 'ServiceUnavailable', 'TimeoutError', 'RequestTimeout']);
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

interface AwsLikeError {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** True for DynamoDB throttling, 5xx and dropped connections: worth another try. */
export function isTransientDynamoError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, code, $metadata } = error as AwsLikeError;
  if (name && (THROTTLE_NAMES.has(name) || TRANSIENT_NAMES.has(name))) return true;
  if (code && TRANSIENT_CODES.has(code)) return true;
  return ($metadata?.httpStatusCode ?? 0) >= 500;
}

/** Wraps a DynamoDB failure in the pipeline's error vocabulary: throttled, transient (retriable) or rejected. */
export function toSinkError(error: unknown, what: string): PipelineError {
  if (error instanceof PipelineError) return error;
  const name = (error as AwsLikeError | null)?.name ?? 'Error';
  if (THROTTLE_NAMES.has(name))
    return new PipelineError('SINK_THROTTLED', `${what}: throttled (${name})`, { cause: error });
  if (isTransientDynamoError(error)) return new PipelineError('SINK_FAILED', `${what}: ${name}`, { cause: error });
  return new PipelineError('SINK_REJECTED', `${what}: ${name}`, { cause: error });
}

export interface CellWriterDeps {
  dynamo: DynamoDBClient;
  /**
   * The client of the UpdateItems and watermark reads (common/dynamo-item-client.ts); absent:
   * `dynamo` itself. The processors pass the JSON client (under a third of the SDK's CPU per request).
   */
  items?: DynamoItemClient;
  tableName: string;
  writeConcurrency: number;
  retryPolicy?: RetryPolicy;
  logger?: Logger;
}

/** What the writer asks DynamoDB, as named in retry logs and errors. */
export type RequestKind = 'counter update' | 'counter re-apply' | 'read counter watermark';

export interface CellWriteContext extends CellWriterDeps {
  items: DynamoItemClient;
  watermark: string;
  requests: { count: number };
  /** The retry options of each kind of request, built once per batch (not per cell). */
  retry: Readonly<Record<RequestKind, RetryOptions>>;
}

function retryOptionsOf(deps: CellWriterDeps): Record<RequestKind, RetryOptions> {
  const options = (what: RequestKind): RetryOptions => ({
    policy: deps.retryPolicy ?? DEFAULT_RETRY_POLICY,
    shouldRetry: isTransientDynamoError,
    onRetry: (error, attempt, delayMs) => deps.logger?.warn({ err: error, attempt, delayMs }, `${what}: retrying`),
  });
  return {
    'counter update': options('counter update'),
    'counter re-apply': options('counter re-apply'),
    'read counter watermark': options('read counter watermark'),
  };
}

/**
 * Sends a request with the shared retries (`attempt` sends it once and counts it in
 * `context.requests`); failures become PipelineErrors.
 */
export async function send<T>(context: CellWriteContext, what: RequestKind, attempt: () => Promise<T>): Promise<T> {
  try {
    return await withRetry(attempt, context.retry[what]);
  } catch (error) {
    throw toSinkError(error, what);
  }
}

/** The extra sums of a delta that are written: those that are not 0, in the layout's order. */
export function writtenExtras(totals: DeltaTotals): [ExtraField, bigint][] {
  const written: [ExtraField, bigint][] = [];
  if (totals.extra === undefined) return written;
  for (const field of Object.keys(EXTRA_DECIMALS) as ExtraField[]) {
    const value = totals.extra[field];
    if (value !== undefined && value !== 0n) written.push([field, value]);
  }
  return written;
}

/** The ADD clauses of a delta, with their names. */
export function addClauses(
  totals: DeltaTotals,
  extras: readonly [ExtraField, bigint][],
  names: Record<string, string>,
) {
  const clauses: string[] = [];
  if (totals.events !== 0) {
    clauses.push('#events :events', '#units :units', '#sum :sum', '#sq :sq');
    names['#events'] = COUNTER_ATTRIBUTES.events;
    names['#units'] = COUNTER_ATTRIBUTES.units;
    names['#sum'] = COUNTER_ATTRIBUTES.sum;
    names['#sq'] = COUNTER_ATTRIBUTES.sumSquares;
  }
  for (const [field] of extras) {
    clauses.push(`#${field} :${field}`);
    names[`#${field}`] = EXTRA_COUNTER_ATTRIBUTES[field];
  }
  return clauses;
}

/** The values of a delta's ADD clauses. */
export function addValues(
  totals: DeltaTotals,
  extras: readonly [ExtraField, bigint][],
  values: Record<string, AttributeValue>,
): void {
  if (totals.events !== 0) {
    values[':events'] = { N: String(totals.events) };
    values[':units'] = { N: String(totals.units) };
    values[':sum'] = { N: totals.sum.format(VALUE_DECIMALS) };
    values[':sq'] = { N: totals.sumSquares.format(SQUARE_DECIMALS) };
  }
  for (const [field, value] of extras) values[`:${field}`] = { N: formatScaled(value, EXTRA_DECIMALS[field]) };
}

/** The parts of an UpdateItem that depend only on the shard, the cell kind, the sums written and the condition. */
interface UpdateTemplate {
  names: Readonly<Record<string, string>>;
  updateExpression: string;
  conditionExpression: string;
}

function buildTemplate(
  watermark: string,
  indexed: boolean,
  reapply: boolean,
  totals: DeltaTotals,
  extras: readonly [ExtraField, bigint][],
): UpdateTemplate {
  const names: Record<string, string> = {
    '#last': COUNTER_ATTRIBUTES.lastEventAt,
    '#wm': watermark,
    ...(indexed ? { '#mk': METRIC_INDEX.partitionKey } : {}),
  };
  const adds = addClauses(totals, extras, names);
  const set = `SET #wm = :position, #last = :last${indexed ? ', #mk = :mk' : ''}`;
  return {
    names,
    updateExpression: adds.length > 0 ? `ADD ${adds.join(', ')} ${set}` : set,
    conditionExpression: reapply ? '#wm = :expected' : 'attribute_not_exists(#wm) OR #wm < :first',
  };
}

/**
 * Templates of the plain deltas (events, units, Σx and Σx², no extra sums: most writes) per
 * shard watermark, by kind (indexed total cell or not × first write or re-apply): built once
 * per shard and shared by its writes, never mutated.
 */
const plainTemplates = new Map<string, (UpdateTemplate | undefined)[]>();

function updateTemplate(
  watermark: string,
  indexed: boolean,
  reapply: boolean,
  totals: DeltaTotals,
  extras: readonly [ExtraField, bigint][],
): UpdateTemplate {
  if (extras.length > 0 || totals.events === 0) return buildTemplate(watermark, indexed, reapply, totals, extras);
  let kinds = plainTemplates.get(watermark);
  if (kinds === undefined) {
    if (plainTemplates.size >= 1_024) plainTemplates.clear(); // a process sees few shards
    plainTemplates.set(watermark, (kinds = []));
  }
  const kind = (indexed ? 2 : 0) + (reapply ? 1 : 0);
  return (kinds[kind] ??= Object.freeze(buildTemplate(watermark, indexed, reapply, totals, extras)));
}

function addDeltas(
  context: CellWriteContext,
  cell: CellDelta,
  totals: DeltaTotals,
  expectedWatermark?: string,
): UpdateItemCommandInput {
  const indexed = metricIndexAttributes(cell.sortKey);
  const values: Record<string, AttributeValue> = {
    ':last': { N: String(totals.lastEventAt) },
    ':position': { S: totals.maxPosition },
  };
  if (indexed) values[':mk'] = { S: indexed.metric_key };
  if (expectedWatermark === undefined) values[':first'] = { S: totals.minPosition };
  else values[':expected'] = { S: expectedWatermark };
  const extras = writtenExtras(totals);
  addValues(totals, extras, values);
  const template = updateTemplate(
    context.watermark,
    indexed !== undefined,
    expectedWatermark !== undefined,
    totals,
    extras,
  );
  return {
    TableName: context.tableName,
    Key: { [COUNTER_PARTITION_KEY]: { S: cell.experimentId }, [COUNTER_SORT_KEY]: { S: cell.sortKey } },
    UpdateExpression: template.updateExpression,
    ConditionExpression: template.conditionExpression,
    ExpressionAttributeNames: template.names,
    ExpressionAttributeValues: values,
  };
}

async function readWatermark(context: CellWriteContext, cell: CellDelta): Promise<string | undefined> {
  const out = await send(context, 'read counter watermark', () => {
    context.requests.count++;
    return context.items.getItem({
      TableName: context.tableName,
      Key: { [COUNTER_PARTITION_KEY]: { S: cell.experimentId }, [COUNTER_SORT_KEY]: { S: cell.sortKey } },
      ProjectionExpression: '#wm',
      ExpressionAttributeNames: { '#wm': context.watermark },
      ConsistentRead: true,
    });
  });
  return out.Item?.[context.watermark]?.S;
}

/** True when the failure is the watermark condition (the cell already holds part of the batch). */
export function isConditionFailure(error: unknown): boolean {
  const cause = error instanceof PipelineError ? error.cause : error;
  return (
    cause instanceof ConditionalCheckFailedException ||
    (cause as AwsLikeError | null)?.name === 'ConditionalCheckFailedException'
  );
}

/**
 * Writes one cell's delta (`all`: the cell's totals, which the caller found present): the whole
 * delta, or after a failed condition only what the cell lacks.
 */
export async function writeCell(context: CellWriteContext, cell: CellDelta, all: DeltaTotals): Promise<void> {
  try {
    await send(context, 'counter update', () => {
      context.requests.count++;
      return context.items.updateItem(addDeltas(context, cell, all));
    });
    return;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
  for (let round = 0; round < MAX_WATERMARK_ROUNDS; round++) {
    const watermark = await readWatermark(context, cell);
    const missing = cell.totalsAfter(watermark);
    if (!missing) return;
    try {
      await send(context, 'counter re-apply', () => {
        context.requests.count++;
        return context.items.updateItem(addDeltas(context, cell, missing, watermark));
      });
      return;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }
  throw new PipelineError(
    'SINK_FAILED',
    `watermark of ${cell.experimentId}/${cell.sortKey} kept moving: is a second writer processing this shard?`,
  );
}

/** The context of one shard's writes: its watermark attribute, its request count, the retry options. */
export function cellWriteContext(deps: CellWriterDeps, shardId: string): CellWriteContext {
  return {
    ...deps,
    items: deps.items ?? sdkItemClient(deps.dynamo),
    watermark: watermarkAttribute(shardId),
    requests: { count: 0 },
    retry: retryOptionsOf(deps),
  };
}
