/**
 * The cells of several shards' batches written together: a cell that two or more of the batches
 * touch gets ONE UpdateItem carrying all of their deltas, each guarded by its own shard's
 * watermark, where writing them one batch at a time takes one per shard. Writes per event then
 * fall with the shards one process reads (the protocol's floor is one write per touched cell and
 * shard and batch; this makes it one per touched cell and group of batches).
 *
 *   ADD events, units, sum, sum_squares (the parts' sums)
 *   SET wm_<a> = :newest_a, wm_<b> = :newest_b, last_event_at
 *   IF (attribute_not_exists(wm_<a>) OR wm_<a> < :oldest_a) AND (attribute_not_exists(wm_<b>) OR wm_<b> < :oldest_b)
 *
 * Why it stays exact: an UpdateItem is atomic, so the merged write adds every part or none, and
 * each part is added only under the very condition its own write would carry (DESIGN.md step 3:
 * the cell holds none of that shard's batch). When the condition fails (a cell holds part of one
 * of the batches: a replay, a re-cut batch) or DynamoDB rejects the request, nothing was added,
 * and each part is written on its own shard's path (dynamo-cell-writer.ts, `writeCell`), which
 * reads that shard's watermark and adds only what the cell lacks. A throttled or failing request
 * is retried like any other; once the retries are spent, every batch of the merged write fails
 * (retriably) and is delivered again.
 *
 * Each batch learns its own outcome: a part refused on its own shard's path fails that batch only.
 *
 * @example
 *   const settled = await writeShardCells(deps, [{ shardId: 'shardId-0', cells: a }, { shardId: 'shardId-1', cells: b }]);
 *   // settled[i]: { status: 'fulfilled', value: { requests } } or { status: 'rejected', reason }
 */
import type { AttributeValue, UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import {
  COUNTER_ATTRIBUTES,
  COUNTER_PARTITION_KEY,
  COUNTER_SORT_KEY,
  METRIC_INDEX,
  metricIndexAttributes,
} from '../../common/counter-layout.js';
import { PipelineError } from '../../common/errors.js';
import { sumOfTotals, type CellDelta, type DeltaTotals } from './aggregate.js';
import {
  addClauses,
  addValues,
  cellWriteContext,
  isConditionFailure,
  send,
  writeCell,
  writtenExtras,
  type CellWriteContext,
  type CellWriterDeps,
} from './dynamo-cell-writer.js';

/** One batch's cells, written in a group with other shards' batches. */
export interface ShardCells {
  shardId: string;
  cells: readonly CellDelta[];
}

/** One batch's part of a cell. */
interface CellPart {
  /** Index of the batch in the group. */
  batch: number;
  shardId: string;
  cell: CellDelta;
  totals: DeltaTotals;
}

/** What one UpdateItem (or, after a failed merged write, one per part) writes: a cell's parts, one per shard. */
type WriteUnit = CellPart[];

/**
 * The group's cells as write units: the parts of one cell from different shards in one unit, in
 * the batches' order. A second part of the same shard (two batches of one shard in a group: never
 * with one batch in hand per shard, but not assumed) gets a unit of its own.
 */
function writeUnits(batches: readonly ShardCells[]): WriteUnit[] {
  const units: WriteUnit[] = [];
  const byCell = new Map<string, WriteUnit>();
  batches.forEach(({ shardId, cells }, batch) => {
    for (const cell of cells) {
      const totals = cell.totals;
      if (totals === undefined) continue;
      const key = `${cell.experimentId}\u0000${cell.sortKey}`;
      const unit = byCell.get(key);
      const part: CellPart = { batch, shardId, cell, totals };
      if (unit !== undefined && unit.every((other) => other.shardId !== shardId)) unit.push(part);
      else {
        const own: WriteUnit = [part];
        units.push(own);
        if (unit === undefined) byCell.set(key, own);
      }
    }
  });
  return units;
}

/** The UpdateItem that adds every part of `unit` under each part's own watermark condition. */
function mergedUpdate(contexts: readonly CellWriteContext[], unit: WriteUnit): UpdateItemCommandInput {
  const { cell } = unit[0] as CellPart;
  const indexed = metricIndexAttributes(cell.sortKey);
  const names: Record<string, string> = {
    '#last': COUNTER_ATTRIBUTES.lastEventAt,
    ...(indexed ? { '#mk': METRIC_INDEX.partitionKey } : {}),
  };
  const sum = sumOfTotals(unit.map((part) => part.totals));
  const values: Record<string, AttributeValue> = { ':last': { N: String(sum.lastEventAt) } };
  if (indexed) values[':mk'] = { S: indexed.metric_key };
  const sets: string[] = [];
  const conditions: string[] = [];
  unit.forEach((part, index) => {
    names[`#wm${index}`] = (contexts[part.batch] as CellWriteContext).watermark;
    values[`:position${index}`] = { S: part.totals.maxPosition };
    values[`:first${index}`] = { S: part.totals.minPosition };
    sets.push(`#wm${index} = :position${index}`);
    conditions.push(`(attribute_not_exists(#wm${index}) OR #wm${index} < :first${index})`);
  });
  const extras = writtenExtras(sum);
  const adds = addClauses(sum, extras, names);
  addValues(sum, extras, values);
  const set = `SET ${sets.join(', ')}, #last = :last${indexed ? ', #mk = :mk' : ''}`;
  const first = contexts[(unit[0] as CellPart).batch] as CellWriteContext;
  return {
    TableName: first.tableName,
    Key: { [COUNTER_PARTITION_KEY]: { S: cell.experimentId }, [COUNTER_SORT_KEY]: { S: cell.sortKey } },
    UpdateExpression: adds.length > 0 ? `ADD ${adds.join(', ')} ${set}` : set,
    ConditionExpression: conditions.join(' AND '),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** True when the merged write failed for a reason its parts' own writes may not share (a condition, a rejection). */
function worthWritingApart(error: unknown): boolean {
  return isConditionFailure(error) || (error instanceof PipelineError && error.code === 'SINK_REJECTED');
}

/**
 * Writes the cells of every batch (`writeConcurrency` requests in flight in all), merging the parts
 * of a cell that several shards touch, and settles each batch: its DynamoDB requests (a merged
 * request counts for the first batch it carries), or the first error of one of its cells.
 */
export async function writeShardCells(
  deps: CellWriterDeps,
  batches: readonly ShardCells[],
): Promise<PromiseSettledResult<{ requests: number }>[]> {
  const contexts = batches.map(({ shardId }) => cellWriteContext(deps, shardId));
  /** The first error of each failed batch, by its index. */
  const failures = new Map<number, unknown>();
  const fail = (batch: number, error: unknown): void => {
    if (!failures.has(batch)) failures.set(batch, error);
  };
  /** Writes one part on its own shard's path; a failure fails that part's batch only. */
  const writeApart = async (part: CellPart): Promise<void> => {
    try {
      await writeCell(contexts[part.batch] as CellWriteContext, part.cell, part.totals);
    } catch (error) {
      fail(part.batch, error);
    }
  };
  const writeUnit = async (unit: WriteUnit): Promise<void> => {
    const live = unit.filter((part) => !failures.has(part.batch));
    if (live.length === 0) return; // every batch of the unit failed already: each is delivered again
    if (live.length === 1) return writeApart(live[0] as CellPart);
    const counting = contexts[(live[0] as CellPart).batch] as CellWriteContext;
    try {
      await send(counting, 'counter update', () => {
        counting.requests.count++;
        return counting.items.updateItem(mergedUpdate(contexts, live));
      });
    } catch (error) {
      if (!worthWritingApart(error)) {
        for (const part of live) fail(part.batch, error);
        return;
      }
      // Nothing was added: each part goes its own way (and learns what the cell already holds of it).
      for (const part of live) await writeApart(part);
    }
  };
  const units = writeUnits(batches);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < units.length) await writeUnit(units[next++] as WriteUnit);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(deps.writeConcurrency, units.length)) }, worker));
  return batches.map((_, batch) =>
    failures.has(batch)
      ? { status: 'rejected', reason: failures.get(batch) }
      : { status: 'fulfilled', value: { requests: (contexts[batch] as CellWriteContext).requests.count } },
  );
}

/**
 * Writes every cell of one batch with at most `writeConcurrency` requests in flight: a group of
 * one, so each cell is written on its shard's own path (`writeCell`). Resolves with the number of
 * DynamoDB requests issued (including reads and retries) once every cell holds the batch; rejects
 * with the batch's first error otherwise (no cell is started after it).
 *
 * @example
 *   const { requests } = await writeCellDeltas(deps, 'shardId-000000000000', cells);
 */
export async function writeCellDeltas(
  deps: CellWriterDeps,
  shardId: string,
  cells: readonly CellDelta[],
): Promise<{ requests: number }> {
  const [settled] = (await writeShardCells(deps, [{ shardId, cells }])) as [PromiseSettledResult<{ requests: number }>];
  if (settled.status === 'rejected') throw settled.reason;
  return settled.value;
}
