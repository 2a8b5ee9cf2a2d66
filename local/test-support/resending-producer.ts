/**
 * A producer that behaves like a real one when the pipeline crashes under it: it posts
 * requests of events to the collector, and a request that got no 202 (connection
 * refused or reset, a timeout, a 5xx) is re-sent later with the same eventIds. Every
 * event of a 202 that the collector did not reject is recorded, in its stream form, for
 * the ground truth.
 *
 * @example
 *   const producer = new ResendingProducer(generateRequests(shape), { concurrency: 3, eventsPerSecond: 800 });
 *   const session = producer.start(collectorUrl);
 *   // … kill the pipeline: requests cut off wait, with the ones refused meanwhile, for the next start …
 *   await session.stop();
 *   const next = producer.start(newCollectorUrl, { maxNewEvents: 0 }); // only the re-sends
 *   // … producer.unacknowledged === 0 && next.inFlight === 0: every request drawn so far got its 202
 */
import type { IncomingEvent, StreamEvent } from '../../common/event-contract.js';
import { toStreamEvent, type WorkloadRequest } from '../../bench/workload.js';

export interface ResendingProducerOptions {
  /** Requests in flight at once. */
  concurrency: number;
  /** Pace of new events (re-sends are not paced). */
  eventsPerSecond: number;
  /** Per-request timeout. */
  requestTimeoutMs?: number;
}

/** Counts since the producer was created. */
export interface ProducerTotals {
  /** Events in 202 responses, not rejected. */
  acked: number;
  /** Events the collector rejected in a 202 (the workload is well-formed: should stay 0). */
  rejected: number;
  /** POSTs that got no 202 (their requests were queued for re-sending). */
  failedPosts: number;
  /** Requests that got a 202 on a second or later attempt. */
  resentAndAcked: number;
}

/** Limits of one session. */
export interface ProducerSessionOptions {
  /** New events (not re-sends) this session may draw from the workload; unlimited by default. */
  maxNewEvents?: number;
}

/** Workers posting to one collector, re-trying what got no 202, until stopped or out of work. */
export interface ProducerSession {
  /** Events acknowledged in this session. */
  readonly acked: number;
  /** POSTs in flight now. */
  readonly inFlight: number;
  /** POSTs of this session that got no 202. */
  readonly failedPosts: number;
  /** Why the last of them failed (an error message or an HTTP status). */
  readonly lastFailure: string | undefined;
  /** Resolves when every worker stopped: stopped, or nothing left to send. */
  readonly finished: Promise<void>;
  /** Stops taking requests; resolves when no request is in flight. */
  stop(): Promise<void>;
}

interface PendingRequest {
  events: unknown[];
  attempts: number;
}

type PostOutcome = { acked: number } | { failure: string };

/** A producer's pause after a POST that got no 202, before it tries again. */
const RETRY_BACKOFF_MS = 100;

const isRetriableStatus = (status: number): boolean => status === 429 || status >= 500;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class ResendingProducer {
  readonly totals: ProducerTotals = { acked: 0, rejected: 0, failedPosts: 0, resentAndAcked: 0 };
  /** Every acknowledged event, in stream form (a retried request's events may be listed twice: same eventIds). */
  readonly accepted: StreamEvent[] = [];
  private readonly resend: PendingRequest[] = [];
  private readonly requests: Iterator<WorkloadRequest>;
  private exhausted = false;
  private paced = 0;
  private drawnEvents = 0;

  constructor(
    requests: Iterable<WorkloadRequest>,
    private readonly options: ResendingProducerOptions,
  ) {
    this.requests = requests[Symbol.iterator]();
  }

  /** True when every request of the workload got a 202. */
  get done(): boolean {
    return this.exhausted && this.resend.length === 0;
  }

  /** Requests that got no 202 yet and wait to be re-sent. */
  get unacknowledged(): number {
    return this.resend.length;
  }

  /** Events drawn from the workload so far (sent at least once). */
  get drawn(): number {
    return this.drawnEvents;
  }

  /** Starts `concurrency` workers posting to `${collectorUrl}/api/v1/events`. */
  start(collectorUrl: string, options: ProducerSessionOptions = {}): ProducerSession {
    const url = `${collectorUrl}/api/v1/events`;
    const startedAt = Date.now();
    const pacedAtStart = this.paced;
    const drawLimit = this.drawnEvents + (options.maxNewEvents ?? Number.POSITIVE_INFINITY);
    const state = { acked: 0, inFlight: 0, failedPosts: 0, lastFailure: undefined as string | undefined };
    let stopping = false;
    const worker = async (): Promise<void> => {
      while (!stopping) {
        const request = this.next(drawLimit);
        if (!request) return;
        if (request.attempts === 0) {
          // Pacing of new traffic, not synchronisation: a producer's own send rate.
          const due = startedAt + ((this.paced - pacedAtStart) / this.options.eventsPerSecond) * 1000;
          this.paced += request.events.length;
          if (due > Date.now()) await pause(due - Date.now());
        }
        if (stopping) {
          this.resend.unshift(request);
          return;
        }
        request.attempts += 1;
        state.inFlight += 1;
        const outcome = await this.post(url, request).finally(() => (state.inFlight -= 1));
        if ('acked' in outcome) {
          state.acked += outcome.acked;
          continue;
        }
        // No 202: the collector is down, restarting or refusing for now. Re-send it later.
        this.totals.failedPosts += 1;
        state.failedPosts += 1;
        state.lastFailure = outcome.failure;
        this.resend.push(request);
        await pause(RETRY_BACKOFF_MS);
      }
    };
    const finished = Promise.all(Array.from({ length: this.options.concurrency }, worker)).then(() => undefined);
    return {
      get acked() {
        return state.acked;
      },
      get inFlight() {
        return state.inFlight;
      },
      get failedPosts() {
        return state.failedPosts;
      },
      get lastFailure() {
        return state.lastFailure;
      },
      finished,
      stop: () => {
        stopping = true;
        return finished;
      },
    };
  }

  private next(drawLimit: number): PendingRequest | undefined {
    const again = this.resend.shift();
    if (again) return again;
    if (this.exhausted || this.drawnEvents >= drawLimit) return undefined;
    const next = this.requests.next();
    if (next.done) {
      this.exhausted = true;
      return undefined;
    }
    this.drawnEvents += next.value.events.length;
    return { events: next.value.events, attempts: 0 };
  }

  /** Posts once: the number of events acknowledged, or why the request must be re-sent. */
  private async post(url: string, request: PendingRequest): Promise<PostOutcome> {
    let response: Response;
    let body: {
      accepted?: number;
      rejected?: { index: number; rule: string }[];
      invalidIndexes?: number[];
      retryIndexes?: number[];
    };
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request.events),
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 10_000),
      });
      body = (await response.json()) as typeof body;
    } catch (error) {
      // Refused, reset, timed out, or cut off mid-body: no acknowledgement.
      const cause = (error as Error).cause as Error | undefined;
      return { failure: `${(error as Error).message}${cause ? ` (${cause.message})` : ''}` };
    }
    if (response.status !== 202) {
      if (isRetriableStatus(response.status)) return { failure: `HTTP ${response.status} ${JSON.stringify(body)}` };
      throw new Error(`the collector refused a request for good: ${response.status} ${JSON.stringify(body)}`);
    }
    // Events the stream did not take are to be retried (same eventIds); the others broke the contract.
    // The index lists are complete; the listed problems are capped (first 100).
    const unwritten = new Set(
      body.retryIndexes ??
        (body.rejected ?? []).filter((r) => r.rule === 'stream-write-failed').map((rejection) => rejection.index),
    );
    const refused = new Set([
      ...(body.invalidIndexes ?? (body.rejected ?? []).map((rejection) => rejection.index)),
      ...unwritten,
    ]);
    if (unwritten.size > 0)
      this.resend.push({ events: request.events.filter((_, i) => unwritten.has(i)), attempts: request.attempts });
    const receivedAt = Date.now();
    request.events.forEach((event, index) => {
      if (!refused.has(index)) this.accepted.push(toStreamEvent(event as IncomingEvent, receivedAt));
    });
    const acked = request.events.length - refused.size;
    this.totals.acked += acked;
    this.totals.rejected += refused.size - unwritten.size;
    if (request.attempts > 1) this.totals.resentAndAcked += 1;
    return { acked };
  }
}
