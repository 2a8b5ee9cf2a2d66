/**
 * The exactly-once `CounterSink`: state outcomes from the `UserStateStore`, cell deltas
 * from the pure aggregation, conditional writes to DynamoDB (shared with the batches of other
 * shards that reach their writes together: cell-write-groups.ts), then the shard's committed
 * position. README.md in this folder explains the protocol and what it assumes.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoItemClient } from '../../common/dynamo-item-client.js';
import { EMPTY_COUNTER_PLAN, type CounterPlan, type CounterPlanSource } from '../../common/counter-plan.js';
import { PipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { RetryPolicy } from '../../common/retry.js';
import { observeStage, type ProcessorMetrics } from '../metrics.js';
import { recordPosition } from '../sequence-number.js';
import type { CounterRefusal, CounterSink, CounterWriteResult, ValidEvent } from '../types.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { ANSWER } from '../state/state-answers.js';
import type { StateRequest, UserStateStore } from '../state/types.js';
import { aggregateCounterDeltas, type AnsweredEvent } from './aggregate.js';
import { NO_SEGMENTS, sortedSegments } from '../../common/sorted-segments.js';
import { metricKeyOf } from './cell-keys.js';
import { CellWriteGroups, type GroupTicket } from './cell-write-groups.js';
import { writeShardCells } from './merged-cell-writes.js';
import { scaledNumber } from './exact-value.js';
import { establishStateEpoch } from './state-epoch.js';

export interface CounterSinkDeps {
  dynamo: DynamoDBClient;
  /** The counter writes' client (dynamo-cell-writer.ts, `CellWriterDeps.items`); absent: `dynamo`. */
  items?: DynamoItemClient;
  tableName: string;
  /** The per-event state; its limits (segment cap, de-dup window, user-total limit) apply. */
  state: UserStateStore;
  /** Counter UpdateItem requests in flight per batch. */
  writeConcurrency: number;
  retryPolicy?: RetryPolicy;
  logger?: Logger;
  /** Where the per-batch stage times go (`state`, `cell_writes`, `mark_committed`); none when absent. */
  metrics?: Pick<ProcessorMetrics, 'stageDuration'>;
  /**
   * Each experiment's counter plan (capped, CUPED and ratio sums: common/counter-plan.ts),
   * asked once per experiment per batch before the state step; a rejection fails the batch
   * (retriable), nothing is counted without the plan. Absent: EMPTY_COUNTER_PLAN for every experiment.
   */
  plans?: CounterPlanSource;
  /**
   * Longest wait of a batch's cell writes for the other shards' batches in the sink, to write the cells they
   * share with one UpdateItem each (cell-write-groups.ts); 0 writes each batch alone. Default
   * DEFAULT_CELL_WRITE_GROUP_WAIT_MS.
   */
  cellWriteGroupWaitMs?: number;
}

/** A batch's cell writes wait at most this long for the other shards' batches in the sink (PROCESSOR_CELL_WRITE_GROUP_WAIT_MS's default). */
export const DEFAULT_CELL_WRITE_GROUP_WAIT_MS = 100;

const EMPTY_RESULT: CounterWriteResult = Object.freeze({
  counted: 0,
  duplicates: 0,
  cells: 0,
  writeRequests: 0,
  refused: [],
});

/** The joined pairs of `variantMetricOf`, by variant, then metric key. */
const variantMetrics = new Map<string, Map<string, string>>();
let variantMetricCount = 0;
const VARIANT_METRIC_LIMIT = 100_000;

/**
 * `${variantId}#${metricKey}`, one string per pair for the process: the state rules match it
 * against a user's running totals on every event, and the same string object compares by
 * identity where a fresh one per event would compare character by character (and be
 * allocated). Bounded: emptied when it holds VARIANT_METRIC_LIMIT pairs.
 *
 * @example
 *   variantMetricOf('control', 'purchase') === variantMetricOf('control', 'purchase') // same object
 */
export function variantMetricOf(variantId: string, metricKey: string): string {
  let byMetric = variantMetrics.get(variantId);
  if (byMetric === undefined) variantMetrics.set(variantId, (byMetric = new Map<string, string>()));
  let joined = byMetric.get(metricKey);
  if (joined === undefined) {
    if (variantMetricCount >= VARIANT_METRIC_LIMIT) {
      variantMetrics.clear();
      variantMetricCount = 0;
      variantMetrics.set(variantId, (byMetric = new Map<string, string>()));
    }
    byMetric.set(metricKey, (joined = `${variantId}#${metricKey}`));
    variantMetricCount++;
  }
  return joined;
}

/**
 * One event on its way through the sink: its state request and what the aggregation reads with
 * the store's answer to it (`AnsweredEvent`). One object per event serves both steps, and the
 * objects are reused from batch to batch (`PendingEventSets`): every field is written for each
 * event (`fillPendingEvent`), so they keep one shape.
 */
interface PendingEvent extends StateRequest, AnsweredEvent {
  scaledValue: number;
}

/** A pending event holding nothing yet, with every field present (one hidden class for all). */
const blankPendingEvent = (): PendingEvent => ({
  eventId: '',
  position: '',
  experimentId: '',
  userId: '',
  variantMetric: '',
  segments: NO_SEGMENTS,
  scaledValue: 0,
  event: undefined as unknown as StreamEvent,
  plan: undefined,
  covariates: undefined,
  partners: undefined,
});

/** Writes `event`'s state request and aggregation input over `request` (every field). */
function fillPendingEvent(
  request: PendingEvent,
  event: StreamEvent,
  position: string,
  plan: CounterPlan | undefined,
): PendingEvent {
  const metricKey = metricKeyOf(event);
  request.eventId = event.eventId;
  request.position = position;
  request.experimentId = event.experimentId;
  request.userId = event.userId;
  request.variantMetric = variantMetricOf(event.variantId, metricKey);
  request.segments = sortedSegments(event.segments);
  request.scaledValue = scaledNumber(event.value);
  request.event = event;
  request.plan = plan;
  request.covariates = undefined;
  request.partners = undefined;
  if (plan === undefined || plan.metrics.size === 0) return request;
  if (event.type === 'impression') {
    const covariates = planCovariates(event.covariates, plan.covariateMetrics);
    if (covariates.length > 0) request.covariates = covariates;
  } else {
    const ratios = plan.metrics.get(metricKey)?.ratios;
    if (ratios !== undefined && ratios.length > 0) {
      request.partners = ratios.map((ratio) => variantMetricOf(event.variantId, ratio.partner));
    }
  }
  return request;
}

/**
 * The sink's pending-event objects, reused from batch to batch instead of one new object per
 * event: a batch holds its events' objects until it has written its cells and its commit
 * (its aggregation's replay, `CellDelta.totalsAfter`, reads them during the writes), so a batch
 * takes a set of its own when it starts and gives it back when it ends, and batches of other
 * shards in flight meanwhile take other sets. Nothing else keeps a pending event past the call
 * that read it (the stores copy what they keep, the aggregation keeps positions and numbers).
 *
 * Why: a batch's objects live through several scavenges, so V8 allocates them in old space
 * directly (pretenuring, bench/README.md "Where the allocations are"); rewriting kept objects
 * costs stores only. Given back, a set lets go of its events (`event`, and the strings of the
 * request), so a finished batch's events do not stay alive until the next batch of its size.
 */
class PendingEventSets {
  readonly #free: PendingEvent[][] = [];

  /** A set for one batch: the objects of an earlier batch (the batch adds blank ones where it needs more). */
  take(): PendingEvent[] {
    return this.#free.pop() ?? [];
  }

  /** Gives back a set a batch took, its first `used` objects written by that batch. */
  give(set: PendingEvent[], used: number): void {
    for (let i = 0; i < used && i < set.length; i++) {
      const request = set[i] as PendingEvent;
      request.event = undefined as unknown as StreamEvent;
      request.eventId = request.position = request.userId = '';
      request.segments = NO_SEGMENTS;
      request.plan = request.covariates = request.partners = undefined;
    }
    this.#free.push(set);
  }
}

/**
 * An impression's covariates restricted to the plan's CUPED metrics, scaled like values,
 * sorted by metric key (`covariateMetrics` is sorted); keys the plan does not name are ignored.
 */
export function planCovariates(
  covariates: Readonly<Record<string, number>> | undefined,
  covariateMetrics: readonly string[],
): [string, number][] {
  const scaled: [string, number][] = [];
  if (covariates === undefined) return scaled;
  for (const metricKey of covariateMetrics) {
    const value = Object.hasOwn(covariates, metricKey) ? covariates[metricKey] : undefined;
    if (value !== undefined) scaled.push([metricKey, scaledNumber(value)]);
  }
  return scaled;
}

/** Why a plan could not be had, as the retriable error that fails the batch. */
function planUnavailable(experimentId: string, error: unknown): PipelineError {
  if (error instanceof PipelineError && error.retriable) return error;
  return new PipelineError(
    'DEPENDENCY_UNAVAILABLE',
    `counter plan of experiment ${experimentId} unavailable: the batch waits, nothing is counted without it`,
    { cause: error, retriable: true },
  );
}

/**
 * The plan of each distinct experiment of a batch, asked once; synchronous answers (a warm
 * cache) await nothing. Rejects with a retriable error when any plan cannot be had.
 */
async function plansOfBatch(
  source: CounterPlanSource,
  events: readonly ValidEvent[],
): Promise<Map<string, CounterPlan>> {
  const plans = new Map<string, CounterPlan>();
  let pending: Promise<void>[] | undefined;
  for (const { event } of events) {
    const experimentId = event.experimentId;
    if (plans.has(experimentId)) continue;
    let answer: Promise<CounterPlan> | CounterPlan;
    try {
      answer = source.planOf(experimentId);
    } catch (error) {
      throw planUnavailable(experimentId, error);
    }
    plans.set(experimentId, answer instanceof Promise ? EMPTY_COUNTER_PLAN : answer);
    if (answer instanceof Promise) {
      (pending ??= []).push(
        answer.then(
          (plan) => void plans.set(experimentId, plan),
          (error: unknown) => {
            throw planUnavailable(experimentId, error);
          },
        ),
      );
    }
  }
  if (pending !== undefined) await Promise.all(pending);
  return plans;
}

/** The user-total limit as the rejection a dead letter carries. */
const userTotalRefusal = (valid: ValidEvent): CounterRefusal => ({
  event: valid,
  rule: 'user-total-limit',
  message: `the user's running total of ${valid.event.experimentId}/${valid.event.variantId}/${metricKeyOf(valid.event)} would leave the allowed range (see the event contract's MAX_USER_TOTAL)`,
});

/**
 * Creates the counter sink. `writeBatch(shardId, events)` must receive the valid events of
 * a contiguous run of the shard's records, in order; after a failed batch the next batch of
 * that shard must start at or before the failed one (every Kinesis consumer does this).
 * The first batch binds the sink to the state store's epoch (state-epoch.ts); a store that
 * lost its data fails every batch with `STATE_LOST`.
 *
 * @example
 *   const sink = createCounterSink({ dynamo, tableName, state, writeConcurrency: 16 });
 *   await sink.writeBatch('shardId-000000000000', events);
 */
export function createCounterSink(deps: CounterSinkDeps): CounterSink {
  const logger = deps.logger?.child({ component: 'counter-sink' });
  let epoch: Promise<string> | undefined;
  const currentEpoch = (): Promise<string> =>
    (epoch ??= establishStateEpoch(deps.dynamo, deps.tableName, deps.state, deps.retryPolicy).catch(
      (error: unknown) => {
        epoch = undefined; // checked again with the next batch
        throw error;
      },
    ));

  const pendingSets = new PendingEventSets();
  const groups = new CellWriteGroups(
    (batches) => writeShardCells(deps, batches),
    deps.cellWriteGroupWaitMs ?? DEFAULT_CELL_WRITE_GROUP_WAIT_MS,
  );

  const writeBatch = async (
    shardId: string,
    events: readonly ValidEvent[],
    ticket: GroupTicket,
    pending: PendingEvent[],
  ): Promise<CounterWriteResult> => {
    const stateEpoch = await currentEpoch();
    const plans = deps.plans === undefined ? undefined : await plansOfBatch(deps.plans, events);
    let batchEnd = '';
    const requests = new Array<PendingEvent>(events.length);
    for (let index = 0; index < events.length; index++) {
      const { id, event } = events[index] as ValidEvent;
      const position = recordPosition(id.sequenceNumber, id.subSequenceNumber);
      if (position > batchEnd) batchEnd = position;
      requests[index] = fillPendingEvent(
        pending[index] ?? (pending[index] = blankPendingEvent()),
        event,
        position,
        plans === undefined ? undefined : (plans.get(event.experimentId) ?? EMPTY_COUNTER_PLAN),
      );
    }
    const metrics = deps.metrics;
    let stageStart = performance.now();
    /** Observes the stage that just ended and starts the next one. */
    const stageDone = (stage: 'state' | 'cell_writes' | 'mark_committed'): void => {
      const now = performance.now();
      if (metrics) observeStage(metrics, stage, (now - stageStart) / 1000);
      stageStart = now;
    };
    const answers = await deps.state.apply(shardId, stateEpoch, requests);
    stageDone('state');
    if (answers.length !== events.length) {
      throw new PipelineError('INTERNAL', `state store answered ${answers.length} of ${events.length} requests`);
    }
    const refused: CounterRefusal[] = [];
    let counted = 0;
    let duplicates = 0;
    const kinds = answers.kinds;
    for (let index = 0; index < kinds.length; index++) {
      const kind = kinds[index];
      if (kind === ANSWER.applied || kind === ANSWER.replayed) {
        counted++;
        const partners = (requests[index] as PendingEvent).partners;
        if (partners !== undefined && answers.partnerTotals(index).length !== partners.length) {
          throw new PipelineError(
            'INTERNAL',
            `state store answered ${answers.partnerTotals(index).length} of ${partners.length} partner totals`,
          );
        }
      } else if (kind === ANSWER.duplicate) duplicates++;
      else if (kind === ANSWER.refused) refused.push(userTotalRefusal(events[index] as ValidEvent));
      else if (kind !== ANSWER.committed) {
        throw new PipelineError('INTERNAL', `state store left request ${index} of ${events.length} unanswered`);
      }
    }
    const cells = aggregateCounterDeltas(requests, answers);
    stageStart = performance.now();
    const { requests: writeRequests } = await ticket.submit(shardId, cells);
    stageDone('cell_writes');
    await deps.state.markCommitted(shardId, batchEnd);
    stageDone('mark_committed');
    const result: CounterWriteResult = { counted, duplicates, cells: cells.length, writeRequests, refused };
    logger?.debug(
      { shardId, events: events.length, counted, duplicates, refused: refused.length, cells: cells.length },
      'counters written',
    );
    return result;
  };

  return {
    writeBatch(shardId, events) {
      if (events.length === 0) return Promise.resolve(EMPTY_RESULT);
      const ticket = groups.enter();
      const pending = pendingSets.take();
      return writeBatch(shardId, events, ticket, pending).finally(() => {
        ticket.leave();
        pendingSets.give(pending, events.length);
      });
    },
  };
}
