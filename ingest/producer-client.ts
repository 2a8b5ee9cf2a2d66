/**
 * A producer client for Node services: buffers events, sends them to the collector in
 * batches, retries with backoff, bounds its memory, flushes on close, and reports every
 * event it could not deliver — never silently drops one.
 *
 * Each event gets its `eventId` here when it has none, so a retried batch carries the
 * same ids and the processors count it once.
 *
 * @example
 *   const producer = createProducer({ endpoint: 'http://127.0.0.1:8081', onUndeliverable: (r) => log.warn(r) });
 *   producer.send({ type: 'impression', experimentId: 'checkout', variantId: 'b', userId: 'u-1' });
 *   await producer.close();
 */
import { randomUUID } from 'node:crypto';
import type { EventRejection, IncomingEvent } from '../common/event-contract.js';
import { MicroBatcher } from '../common/micro-batcher.js';
import { backoffDelayMs, sleep, type RetryPolicy } from '../common/retry.js';

export type UndeliverableReason = 'buffer-full' | 'rejected' | 'retries-exhausted' | 'refused' | 'closed';

export interface UndeliverableReport {
  reason: UndeliverableReason;
  events: IncomingEvent[];
  /** Validation reasons from the collector (for `rejected`), indexed within `events`. */
  rejections?: EventRejection[];
  /** The last error or HTTP status, for `retries-exhausted` and `refused`. */
  detail?: string;
}

export interface ProducerOptions {
  /** Collector base URL, e.g. `http://127.0.0.1:8081`. */
  endpoint: string;
  apiKey?: string;
  /** Events per request (default 500). */
  maxBatchEvents?: number;
  /** How long an event may wait for a fuller batch (default 100 ms). */
  lingerMs?: number;
  /** Events held in memory at most; beyond it `send` refuses (default 10,000). */
  maxBufferedEvents?: number;
  /** Requests in flight at once (default 2). */
  concurrency?: number;
  retryPolicy?: RetryPolicy;
  requestTimeoutMs?: number;
  onUndeliverable?: (report: UndeliverableReport) => void;
  fetch?: typeof fetch;
}

export interface ProducerStats {
  accepted: number;
  undeliverable: number;
  buffered: number;
  requests: number;
}

export interface Producer {
  /** Queues an event; false (and an `onUndeliverable` report) when the buffer is full or the producer is closed. */
  send(event: IncomingEvent): boolean;
  /** Resolves when everything queued so far is delivered or reported. */
  flush(): Promise<void>;
  /** Flushes, then refuses further events. */
  close(): Promise<void>;
  stats(): ProducerStats;
}

/** The collector's answer, as far as the producer reads it. */
interface CollectorAnswer {
  accepted?: number;
  /** The first problems only (the collector caps the list). */
  rejected?: EventRejection[];
  /** Every invalid event and every event to send again (complete lists; absent from older collectors). */
  invalidIndexes?: number[];
  retryIndexes?: number[];
  error?: { code: string; message: string; details?: { rule?: string; limit?: number } };
}

const DEFAULT_PRODUCER_RETRY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 5_000 };
const RETRIABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** Creates a producer. Nothing is sent until the first event. */
export function createProducer(options: ProducerOptions): Producer {
  const maxBatchEvents = options.maxBatchEvents ?? 500;
  const lingerMs = options.lingerMs ?? 100;
  const maxBuffered = options.maxBufferedEvents ?? 10_000;
  const concurrency = options.concurrency ?? 2;
  const retryPolicy = options.retryPolicy ?? DEFAULT_PRODUCER_RETRY;
  const doFetch = options.fetch ?? fetch;
  const url = new URL('/api/v1/events', options.endpoint).toString();
  const report = (r: UndeliverableReport): void => {
    stats.undeliverable += r.events.length;
    options.onUndeliverable?.(r);
  };

  const stats: ProducerStats = { accepted: 0, undeliverable: 0, buffered: 0, requests: 0 };
  let closed = false;

  async function post(events: IncomingEvent[]): Promise<{ status: number; body: unknown; retryAfterMs: number }> {
    stats.requests++;
    const response = await doFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(options.apiKey ? { 'x-api-key': options.apiKey } : {}) },
      body: JSON.stringify(events),
      signal: AbortSignal.timeout(options.requestTimeoutMs ?? 10_000),
    });
    const text = await response.text();
    const retryAfter = Number(response.headers.get('retry-after'));
    return {
      status: response.status,
      body: text ? (JSON.parse(text) as unknown) : undefined,
      retryAfterMs: Number.isFinite(retryAfter) ? retryAfter * 1000 : 0,
    };
  }

  /** Delivers one batch: retries what is retriable, reports the rest. */
  async function deliver(batch: IncomingEvent[]): Promise<void> {
    let pending = batch;
    let lastDetail = '';
    for (let attempt = 1; attempt <= retryPolicy.maxAttempts && pending.length > 0; attempt++) {
      let waitMs = 0;
      try {
        const { status, body, retryAfterMs } = await post(pending);
        const result = body as CollectorAnswer | undefined;
        const eventLimit = result?.error?.details?.rule === 'max-events' ? result.error.details.limit : undefined;
        if (status === 413 && eventLimit !== undefined && eventLimit >= 1 && eventLimit < pending.length) {
          // The collector takes fewer events per request than this producer batches: send smaller requests.
          for (let start = 0; start < pending.length; start += eventLimit) {
            await deliver(pending.slice(start, start + eventLimit));
          }
          return;
        }
        if (status === 202 || (status === 400 && result?.rejected) || (status === 503 && result?.rejected)) {
          const rejected = result?.rejected ?? [];
          // The index lists are complete; the listed problems may be cut short.
          const retryIndexes = new Set(
            result?.retryIndexes ?? rejected.filter((r) => r.rule === 'stream-write-failed').map((r) => r.index),
          );
          const invalid = rejected.filter((r) => r.rule !== 'stream-write-failed');
          const invalidIndexes = result?.invalidIndexes ?? [...new Set(invalid.map((r) => r.index))];
          if (invalidIndexes.length > 0) {
            const events = invalidIndexes.map((i) => pending[i]).filter((e): e is IncomingEvent => e !== undefined);
            const position = new Map(invalidIndexes.map((i, k) => [i, k]));
            report({
              reason: 'rejected',
              events,
              rejections: invalid.flatMap((r) => {
                const index = position.get(r.index);
                return index === undefined ? [] : [{ ...r, index }];
              }),
            });
          }
          stats.accepted += result?.accepted ?? 0;
          pending = pending.filter((_, i) => retryIndexes.has(i));
          lastDetail = status === 503 ? 'the stream is unavailable' : 'some events were not written';
          waitMs = retryAfterMs;
        } else if (RETRIABLE_STATUS.has(status)) {
          lastDetail = `HTTP ${status}${result?.error ? `: ${result.error.message}` : ''}`;
          waitMs = retryAfterMs;
        } else {
          report({
            reason: 'refused',
            events: pending,
            detail: `HTTP ${status}${result?.error ? ` ${result.error.code}: ${result.error.message}` : ''}`,
          });
          return;
        }
      } catch (error) {
        lastDetail = error instanceof Error ? error.message : String(error);
      }
      if (pending.length > 0 && attempt < retryPolicy.maxAttempts)
        await sleep(Math.max(waitMs, backoffDelayMs(retryPolicy, attempt)));
    }
    if (pending.length > 0) report({ reason: 'retries-exhausted', events: pending, detail: lastDetail });
  }

  // Events share POSTs: up to maxBatchEvents per request, a partial one after lingerMs (common/micro-batcher.ts).
  const batcher = new MicroBatcher<IncomingEvent>({
    limits: { maxCount: maxBatchEvents, maxBytes: Number.POSITIVE_INFINITY },
    lingerMs,
    concurrency,
    sizeOf: () => 0,
    send: (batch) =>
      deliver(batch).finally(() => {
        stats.buffered -= batch.length;
      }),
    onSendError: (batch, error) => report({ reason: 'retries-exhausted', events: batch, detail: String(error) }),
  });

  return {
    send(event) {
      if (closed || stats.buffered >= maxBuffered) {
        report({ reason: closed ? 'closed' : 'buffer-full', events: [event] });
        return false;
      }
      stats.buffered++;
      batcher.add([event.eventId ? event : { ...event, eventId: randomUUID() }], 0);
      return true;
    },
    flush() {
      return batcher.drain();
    },
    async close() {
      closed = true;
      await this.flush();
    },
    stats: () => ({ ...stats }),
  };
}
