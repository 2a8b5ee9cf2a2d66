/**
 * The local consumer (adapter 1): reads every shard of a stream with GetRecords, one reader
 * per shard, checkpoints in DynamoDB, and follows resharding (children start only after
 * their parents finished). Lifecycle: `start()` → running → `stop()` (each reader finishes
 * and checkpoints its batch in hand, then `stop()` resolves).
 *
 * A shard whose reader ends with `state-lost` (the exactly-once state store lost data) is
 * never restarted: it stays at its checkpoint until an operator follows the lost-state
 * runbook in processors/README.md and restarts the processors; `processor_state_lost` is 1 and
 * `GET /ready` answers 503 meanwhile.
 *
 * @example
 *   const consumer = createLocalConsumer({ kinesis, streamName, checkpoints, pipeline, logger, metrics });
 *   await consumer.start();
 *   process.once('SIGTERM', () => void consumer.stop());
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards } from '../../common/kinesis/list-shards.js';
import type { Logger } from '../../common/logger.js';
import { DEFAULT_RETRY_POLICY } from '../../common/retry.js';
import type { ProcessorMetrics } from '../metrics.js';
import type { BatchOutcome, Pipeline } from '../pipeline.js';
import type { CheckpointStore } from './checkpoint-store.js';
import { interruptibleSleep } from './interruptible-sleep.js';
import { processBatchBudget, readShard, type ShardReaderOptions } from './shard-reader.js';
import { ALL_SHARDS, assignedTo, type ShardAssignment } from './shard-assignment.js';
import { shardsReadyToRead, type ShardLineage } from './shard-lineage.js';

/** Consumer tuning. Defaults in DEFAULT_CONSUMER_OPTIONS; tests pass short ones. */
export interface LocalConsumerOptions extends ShardReaderOptions {
  /** How often the shard list is re-read to discover children after a reshard. */
  shardRefreshMs: number;
  /** Wait before restarting a reader that failed. */
  readerRestartDelayMs: number;
  /** Which shards this process reads when several share the stream (shard-assignment.ts); default all. */
  assignment: ShardAssignment;
}

/**
 * Documented defaults: at most 10,000 records per GetRecords, 200 ms idle poll (Kinesis allows 5 GetRecords/s
 * per shard), batches in hand of at most 16 MiB of record bytes and 200,000 user records in all, divided among
 * the shards the process reads (processors/README.md, "Memory bound").
 */
export const DEFAULT_CONSUMER_OPTIONS: Readonly<LocalConsumerOptions> = Object.freeze({
  batchMaxRecords: 10_000,
  pollIntervalMs: 200,
  flushIntervalMs: 0,
  batchBudgetBytes: 16 * 1024 * 1024,
  batchBudgetUserRecords: 200_000,
  throttleRetry: { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 5_000 },
  batchRetry: DEFAULT_RETRY_POLICY,
  shardRefreshMs: 5_000,
  readerRestartDelayMs: 1_000,
  assignment: ALL_SHARDS,
});

/** What the local consumer needs. */
export interface LocalConsumerDeps {
  kinesis: KinesisClient;
  streamName: string;
  checkpoints: CheckpointStore;
  pipeline: Pipeline;
  logger: Logger;
  metrics: ProcessorMetrics;
  options?: Partial<LocalConsumerOptions>;
  /** Called after each batch is checkpointed, with the commit time: the bench measures freshness with it. */
  onBatchCommitted?: (outcome: BatchOutcome, committedAt: number) => void;
}

/** A running consumer. */
export interface LocalConsumer {
  /** Reads the shard list and starts the readers; resolves once they are started. */
  start(): Promise<void>;
  /** Finishes every batch in hand, checkpoints, and stops. Idempotent. */
  stop(): Promise<void>;
  /** Shards currently being read. */
  activeShards(): string[];
}

/** The stream's shards with their lineage (closed parents included: children wait for them). */
async function listAllShards(kinesis: KinesisClient, streamName: string): Promise<ShardLineage[]> {
  return (await listShards(kinesis, streamName)).map((shard) => ({
    shardId: shard.ShardId!,
    ...(shard.ParentShardId ? { parentShardId: shard.ParentShardId } : {}),
    ...(shard.AdjacentParentShardId ? { adjacentParentShardId: shard.AdjacentParentShardId } : {}),
  }));
}

/** Creates the consumer; nothing is read until `start()`. */
export function createLocalConsumer(deps: LocalConsumerDeps): LocalConsumer {
  const options: LocalConsumerOptions = { ...DEFAULT_CONSUMER_OPTIONS, ...deps.options };
  const logger = deps.logger.child({ component: 'local-consumer', stream: deps.streamName });
  const stopping = new AbortController();
  const finished = new Set<string>();
  /** Shards stopped because state was lost: never restarted by this consumer. */
  const stateLost = new Set<string>();
  const readers = new Map<string, Promise<void>>();
  let wakeRefresh = new AbortController();
  let refreshLoop: Promise<void> | undefined;

  // One budget for every shard this process reads: more shards, smaller batches, the same memory.
  const processBudget = processBatchBudget(options);
  // One flush grid for every shard read here: their batches meet in the counter sink (shard-reader.ts).
  const flushGridOrigin = Date.now();

  const startReader = (shardId: string) => {
    const leave = processBudget.join(); // a share of the budget while this shard is read
    const run = readShard({
      ...deps,
      shardId,
      options,
      signal: stopping.signal,
      logger,
      processBudget,
      flushGridOrigin,
    })
      .then((end) => {
        if (end === 'finished') finished.add(shardId);
        if (end === 'state-lost') {
          stateLost.add(shardId);
          if (stateLost.size === 1) {
            logger.error(
              { shardId, code: 'STATE_LOST' },
              'exactly-once state was lost: this shard stays at its checkpoint and will not be restarted. ' +
                'Counting further would count returning users and retried records again. Follow the runbook for ' +
                'lost state in processors/README.md (find out what happened to the state store, restore or ' +
                'rebuild it), then restart the processors.',
            );
          } else {
            logger.warn({ shardId, code: 'STATE_LOST' }, 'state lost on another shard: it stops too');
          }
        }
      })
      .catch(async (error: unknown) => {
        logger.error({ err: error, shardId }, 'shard reader failed; restarting it from its checkpoint');
        await interruptibleSleep(options.readerRestartDelayMs, stopping.signal);
      })
      .finally(() => {
        leave();
        readers.delete(shardId);
        wakeRefresh.abort(); // a finished parent may unblock its children at once
      });
    readers.set(shardId, run);
  };

  const mine = assignedTo(options.assignment);
  const refresh = async () => {
    const shards = await listAllShards(deps.kinesis, deps.streamName);
    const notToStart = new Set([...readers.keys(), ...stateLost]);
    for (const shardId of shardsReadyToRead(shards, finished, notToStart)) {
      if (!mine(shardId)) continue;
      if (stopping.signal.aborted) return;
      startReader(shardId);
    }
  };

  const runRefreshLoop = async () => {
    while (!stopping.signal.aborted) {
      wakeRefresh = new AbortController();
      const wake = AbortSignal.any([stopping.signal, wakeRefresh.signal]);
      await interruptibleSleep(options.shardRefreshMs, wake);
      if (stopping.signal.aborted) return;
      await refresh().catch((error: unknown) => logger.warn({ err: error }, 'could not refresh the shard list'));
    }
  };

  return {
    activeShards: () => [...readers.keys()],

    async start() {
      for (const [shardId, checkpoint] of await deps.checkpoints.readAll()) {
        if (checkpoint.finished) finished.add(shardId);
      }
      await refresh();
      refreshLoop = runRefreshLoop();
      logger.info({ shards: readers.size }, 'local consumer started');
    },

    async stop() {
      stopping.abort();
      await refreshLoop;
      while (readers.size > 0) await Promise.all([...readers.values()]);
      logger.info('local consumer stopped: batches in hand finished and checkpointed');
    },
  };
}
