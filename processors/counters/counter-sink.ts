/**
 * The exactly-once `CounterSink`: state outcomes from the `UserStateStore`, cell deltas
 * from the pure aggregation, conditional writes to DynamoDB, then the shard's committed
 * position. README.md in this folder explains the protocol and what it assumes.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { RetryPolicy } from '../../common/retry.js';
import { recordPosition } from '../sequence-number.js';
import type { CounterSink, CounterWriteResult, ValidEvent } from '../types.js';
import type { StateRequest, UserStateStore } from '../state/types.js';
import { aggregateCounterDeltas, type OutcomeOfEvent } from './aggregate.js';
import { metricKeyOf, sortedSegments } from './cell-keys.js';
import { writeCellDeltas } from './dynamo-cell-writer.js';
import { toScaledValue } from './exact-value.js';

export interface CounterSinkDeps {
  dynamo: DynamoDBClient;
  tableName: string;
  state: UserStateStore;
  /** Kept for the caller's convenience: the state store enforces it (see createUserStateStore). */
  segmentValueCap: number;
  /** Kept for the caller's convenience: the state store enforces it (see createUserStateStore). */
  dedupWindowSeconds: number;
  /** Counter UpdateItem requests in flight per batch. */
  writeConcurrency: number;
  retryPolicy?: RetryPolicy;
  logger?: Logger;
}

const EMPTY_RESULT: CounterWriteResult = Object.freeze({ counted: 0, duplicates: 0, cells: 0, writeRequests: 0 });

function toStateRequest(event: ValidEvent['event'], position: string): StateRequest {
  return {
    eventId: event.eventId,
    position,
    experimentId: event.experimentId,
    userId: event.userId,
    variantMetric: `${event.variantId}#${metricKeyOf(event)}`,
    segments: sortedSegments(event.segments),
    scaledValue: toScaledValue(event.value),
  };
}

/**
 * Creates the counter sink. `writeBatch(shardId, events)` must receive the valid events of
 * a contiguous run of the shard's records, in order; after a failed batch the next batch of
 * that shard must start at or before the failed one (every Kinesis consumer does this).
 *
 * @example
 *   const sink = createCounterSink({ dynamo, tableName, state, segmentValueCap: 50,
 *     dedupWindowSeconds: 86_400, writeConcurrency: 16 });
 *   await sink.writeBatch('shardId-000000000000', events);
 */
export function createCounterSink(deps: CounterSinkDeps): CounterSink {
  const logger = deps.logger?.child({ component: 'counter-sink' });
  return {
    async writeBatch(shardId, events) {
      if (events.length === 0) return EMPTY_RESULT;
      const committed = await deps.state.readCommitted(shardId);
      const pending: { event: ValidEvent['event']; position: string }[] = [];
      let batchEnd = '';
      for (const { id, event } of events) {
        const position = recordPosition(id.sequenceNumber, id.subSequenceNumber);
        if (position > batchEnd) batchEnd = position;
        // Records at or before the committed position are in every cell already.
        if (committed === undefined || position > committed) pending.push({ event, position });
      }
      const outcomes = await deps.state.apply(
        shardId,
        committed,
        pending.map(({ event, position }) => toStateRequest(event, position)),
      );
      if (outcomes.length !== pending.length) {
        throw new PipelineError('INTERNAL', `state store answered ${outcomes.length} of ${pending.length} requests`);
      }
      const batch: OutcomeOfEvent[] = pending.map((item, index) => ({ ...item, outcome: outcomes[index]! }));
      const cells = aggregateCounterDeltas(batch);
      const { requests } = await writeCellDeltas(deps, shardId, cells);
      await deps.state.markCommitted(shardId, batchEnd);
      const result: CounterWriteResult = {
        counted: outcomes.filter((outcome) => outcome.kind === 'applied').length,
        duplicates: outcomes.filter((outcome) => outcome.kind === 'duplicate').length,
        cells: cells.length,
        writeRequests: requests,
      };
      logger?.debug(
        { shardId, events: events.length, skipped: events.length - pending.length, ...result },
        'counters written',
      );
      return result;
    },
  };
}
