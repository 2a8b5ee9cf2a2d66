/**
 * The OpenSearch sink: bulk-indexes raw events into daily indices, `_id` = eventId.
 *
 * Batching: events from concurrent `index()` calls share `_bulk` requests, which are
 * bounded by count (`maxBatchCount`), bytes (`maxBatchBytes`) and time: a partial batch
 * is sent `maxWaitMs` after its oldest event arrived. At most `maxConcurrentRequests`
 * requests are in flight; more queue behind them, and since `index()` resolves only
 * after its events are settled, a slow cluster slows the pipeline instead of growing a
 * queue without bound.
 *
 * Retries (common/retry.ts backoff): items that fail with 429, 5xx or another transient
 * status are sent again, and only they; a whole-request failure (connection refused,
 * 503 from the cluster) resends the request. Mapping errors come back as `rejected` for
 * the pipeline to dead-letter. When attempts run out, `index()` rejects with a retriable
 * PipelineError('SINK_FAILED') and the pipeline must not checkpoint.
 */
import type { Client } from '@opensearch-project/opensearch';
import { PipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { MicroBatcher } from '../../common/micro-batcher.js';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from '../../common/retry.js';
import type { EventIndexSink, IndexResult, ValidEvent } from '../types.js';
import { buildBulkBody, toBulkAction, type BulkAction, type BulkLimits } from './bulk-body.js';
import { classifyBulkItems, type BulkResponseBody, type FailedAction } from './bulk-items.js';
import { ensureIndexTemplate } from './index-template.js';
import { createOpenSearchClient } from './opensearch-client.js';

export interface EventIndexSinkOptions {
  /** The cluster URL; ignored when `client` is given. */
  endpoint?: string;
  /** A ready client (tests, or a caller that shares one). */
  client?: Client;
  /** Daily indices are `${indexPrefix}-YYYY.MM.DD` (`OPENSEARCH_INDEX_PREFIX`). */
  indexPrefix: string;
  logger: Logger;
  /** Signing region for AWS endpoints whose hostname does not name one. */
  region?: string;
  /** Documents per `_bulk` request. Default 1,000. */
  maxBatchCount?: number;
  /** Bytes per `_bulk` request (AWS domains refuse more than 10–100 MiB by instance size). Default 5 MiB. */
  maxBatchBytes?: number;
  /** How long a partial batch waits for more events from concurrent calls. Default 10 ms. */
  maxWaitMs?: number;
  /** `_bulk` requests in flight at once. Default 2. */
  maxConcurrentRequests?: number;
  retryPolicy?: RetryPolicy;
}

/** The sink plus its lifecycle. */
export interface EventIndexSinkHandle extends EventIndexSink {
  /** Installs the index template. Called by `index()` on first use if not before; call it at start-up to fail early. */
  start(): Promise<void>;
  /**
   * Sends what is queued at once, waits for the `index()` calls already made to settle,
   * refuses new ones (`SHUTTING_DOWN`), and closes the client. Idempotent.
   */
  stop(): Promise<void>;
}

export const EVENT_INDEX_DEFAULTS = Object.freeze({
  maxBatchCount: 1_000,
  maxBatchBytes: 5 * 1024 * 1024,
  maxWaitMs: 10,
  maxConcurrentRequests: 2,
});

type ActionOutcome = { indexed: true } | { indexed: false; reason: string };

interface QueuedAction {
  action: BulkAction;
  settle: (outcome: ActionOutcome) => void;
  fail: (error: unknown) => void;
}

/** An error of the whole `_bulk` call, typed: HTTP 429/5xx and network failures are retriable. */
function classifyRequestError(error: unknown): PipelineError {
  const statusCode = (error as { meta?: { statusCode?: number } } | undefined)?.meta?.statusCode;
  const retriable = statusCode === undefined || statusCode === 429 || statusCode >= 500;
  const message = `OpenSearch _bulk request failed${statusCode === undefined ? '' : ` with HTTP ${statusCode}`}`;
  return new PipelineError(statusCode === 429 ? 'SINK_THROTTLED' : 'SINK_FAILED', message, { cause: error, retriable });
}

/**
 * Creates the OpenSearch sink of processors/types.ts.
 *
 * @example
 *   const sink = createEventIndexSink({ endpoint: 'https://search-x.us-east-1.es.amazonaws.com',
 *     indexPrefix: 'experimentation-events', logger });
 *   await sink.start();                           // installs the index template
 *   const { indexed, rejected } = await sink.index(events); // dead-letter `rejected`
 */
export function createEventIndexSink(options: EventIndexSinkOptions): EventIndexSinkHandle {
  if (!options.client && !options.endpoint) throw new Error('createEventIndexSink needs an endpoint or a client');
  const client =
    options.client ??
    createOpenSearchClient({ endpoint: options.endpoint ?? '', region: options.region ?? 'us-east-1' });
  const logger = options.logger.child({ component: 'opensearch-sink' });
  const limits: BulkLimits = {
    maxCount: options.maxBatchCount ?? EVENT_INDEX_DEFAULTS.maxBatchCount,
    maxBytes: options.maxBatchBytes ?? EVENT_INDEX_DEFAULTS.maxBatchBytes,
  };
  const maxWaitMs = options.maxWaitMs ?? EVENT_INDEX_DEFAULTS.maxWaitMs;
  const maxConcurrent = options.maxConcurrentRequests ?? EVENT_INDEX_DEFAULTS.maxConcurrentRequests;
  const policy = options.retryPolicy ?? DEFAULT_RETRY_POLICY;

  let template: Promise<void> | undefined;
  /** `index()` calls not yet returned: `stop()` waits for them too, not only for the queue. */
  let activeCalls = 0;
  let stopping = false;
  let stopped: Promise<void> | undefined;
  const idle = new Set<() => void>();

  async function sendOnce(actions: readonly BulkAction[]): Promise<BulkResponseBody> {
    try {
      // The low-level request takes the NDJSON string as is: no second serialization of every document.
      const response = await client.transport.request({
        method: 'POST',
        path: '/_bulk',
        bulkBody: buildBulkBody(actions),
      });
      return response.body as BulkResponseBody;
    } catch (error) {
      throw classifyRequestError(error);
    }
  }

  /** Sends one batch until every action is indexed or rejected, retrying only what failed. */
  async function sendBatch(batch: QueuedAction[]): Promise<void> {
    let pending = batch;
    let lastFailures: FailedAction[] = [];
    try {
      await withRetry(
        async () => {
          const classified = classifyBulkItems(
            await sendOnce(pending.map((queued) => queued.action)),
            pending.map((queued) => queued.action),
          );
          const byAction = new Map(pending.map((queued) => [queued.action, queued]));
          for (const action of classified.indexed) byAction.get(action)?.settle({ indexed: true });
          for (const failed of classified.rejected)
            byAction.get(failed.action)?.settle({ indexed: false, reason: failed.reason });
          lastFailures = classified.retry;
          pending = classified.retry.flatMap((failed) => byAction.get(failed.action) ?? []);
          if (pending.length > 0) {
            throw new PipelineError('SINK_THROTTLED', `${pending.length} of ${batch.length} documents not indexed yet`);
          }
        },
        {
          policy,
          onRetry: (error, attempt, delayMs) =>
            logger.warn(
              { err: error, attempt, delayMs, retrying: pending.length, firstReason: lastFailures[0]?.reason },
              'retrying OpenSearch bulk items',
            ),
        },
      );
    } catch (error) {
      const failure = new PipelineError(
        'SINK_FAILED',
        `OpenSearch indexing failed for ${pending.length} documents: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error, retriable: error instanceof PipelineError ? error.retriable : true },
      );
      for (const queued of pending) queued.fail(failure);
    }
  }

  // Events from concurrent `index()` calls share `_bulk` requests (common/micro-batcher.ts).
  const batcher = new MicroBatcher<QueuedAction>({
    limits,
    lingerMs: maxWaitMs,
    concurrency: maxConcurrent,
    sizeOf: (queued) => queued.action.bytes,
    send: sendBatch,
    onSendError: (batch, error) => {
      for (const queued of batch) queued.fail(error);
    },
  });

  const enqueue = (action: BulkAction): { queued: QueuedAction; outcome: Promise<ActionOutcome> } => {
    let queued: QueuedAction | undefined;
    const outcome = new Promise<ActionOutcome>((settle, fail) => (queued = { action, settle, fail }));
    return { queued: queued!, outcome };
  };

  const start = (): Promise<void> => {
    template ??= ensureIndexTemplate(client, options.indexPrefix).catch((error: unknown) => {
      template = undefined; // let the next call try again
      throw error;
    });
    return template;
  };

  return {
    start,

    async index(events: readonly ValidEvent[]): Promise<IndexResult> {
      if (events.length === 0) return { indexed: 0, rejected: [] };
      if (stopping) throw new PipelineError('SHUTTING_DOWN', 'the OpenSearch sink is stopping');
      activeCalls += 1;
      let settled: ActionOutcome[];
      try {
        await start();
        const entries = events.map((event) => enqueue(toBulkAction(event, options.indexPrefix)));
        batcher.add(entries.map((entry) => entry.queued));
        // Stopping: nothing waits for company any longer.
        if (stopping) void batcher.drain();
        settled = await Promise.all(entries.map((entry) => entry.outcome));
      } finally {
        activeCalls -= 1;
        if (activeCalls === 0) {
          for (const resolve of idle) resolve();
          idle.clear();
        }
      }
      const result: IndexResult = { indexed: 0, rejected: [] };
      settled.forEach((outcome, position) => {
        if (outcome.indexed) result.indexed += 1;
        else result.rejected.push({ event: events[position]!, reason: outcome.reason });
      });
      if (result.rejected.length > 0) {
        logger.warn(
          { rejected: result.rejected.length, firstReason: result.rejected[0]?.reason },
          'documents refused by the mapping',
        );
      }
      return result;
    },

    stop(): Promise<void> {
      stopped ??= (async () => {
        stopping = true; // nothing waits for company any longer, and no new calls are taken
        await batcher.drain();
        // Calls that were still installing the template queue their events after the drain above.
        while (activeCalls > 0) {
          const callsDone = new Promise<void>((resolve) => idle.add(resolve));
          void batcher.drain();
          await callsDone;
        }
        await client.close();
      })();
      return stopped;
    },
  };
}
