/**
 * The bench's load generator: sends the seeded workload (bench/workload.ts) to the collector, 100
 * events per request, at a target rate, and tells which events the collector accepted.
 *
 * It runs on the same two cores as the system under test, where real producers would run on
 * machines of their own, so it spends as little CPU as it can while the collector and the
 * processors are measured:
 *
 * - **Before the phase**, every request body is encoded (JSON, held outside the V8 heap) when the
 *   run's event count is known (`--events`, or `--duration` with a `--rate`). Generating and
 *   encoding the events cost about 10–14 µs per event here (`bench/README.md`, "The load generator").
 * - **During the phase** it only sends those bytes on keep-alive sockets (`node:http`, not `fetch`)
 *   and keeps, per request, when it was answered and which of its events were refused.
 * - **After the phase**, `acceptedEvents` turns the accepted events into their stream form for the
 *   ground truth (the collector's normalisation, about 3 µs per event), off the measured cores' time.
 *
 * A sustained run without a rate (`--duration` and `--rate 0`) has no event count to prepare: its
 * requests are generated and encoded as they are sent, as before.
 *
 * @example
 *   const load = prepareLoad(shape, { maxEvents: 100_000 });
 *   const sent = await sendLoad(load, { url, rate: 10_000, concurrency: 8 }, counters, onProgress);
 *   const truth = computeExpectedCounters(acceptedEvents(load, sent), limits);
 */
import { Agent, request as httpRequest } from 'node:http';
import type { IncomingEvent, StreamEvent } from '../../common/event-contract.js';
import { generateRequests, toStreamEvent, type WorkloadRequest, type WorkloadShape } from '../workload.js';

/**
 * The workload's requests, prepared before the phase (`bodies`), or generated and encoded as they
 * are sent (then `requests` grows as they go).
 */
export interface PreparedLoad {
  readonly shape: WorkloadShape;
  /** The requests, in workload order: every one when prepared, else the ones taken so far. */
  readonly requests: WorkloadRequest[];
  /** Every request body, in workload order; undefined when the run has no event count to prepare. */
  readonly bodies: readonly Buffer[] | undefined;
}

/** What happened to one request of the workload (by its index in workload order). */
export interface SentRequest {
  /** When the collector's answer arrived (the events' receive time, as near as this process knows it). */
  answeredAt: number;
  /** Indices (in the request) of the events the collector refused. */
  refused: readonly number[];
  /** Events the collector counted as accepted in its answer. */
  accepted: number;
}

export interface SendOptions {
  /** The collector's events route, e.g. `http://127.0.0.1:3000/api/v1/events`. */
  url: string;
  /** Target events per second; 0 sends as fast as the collector answers. */
  rate: number;
  /** Requests in flight. */
  concurrency: number;
  /** Sustained mode: stop sending after this many seconds. */
  durationSeconds?: number;
}

export interface SendCounters {
  accepted: number;
  rejected: number;
  /** Requests given up after their retries (429 or 503 each time). */
  failedRequests: number;
}

/** The answer of a sent workload: per request (workload order; a hole where a request was never sent or given up). */
export interface SentLoad {
  requests: (SentRequest | undefined)[];
  startedAt: number;
  endedAt: number;
}

const ATTEMPTS = 5;
const RETRY_AFTER_MS = 200;

/**
 * Prepares the workload's request bodies when `maxEvents` bounds the run (the workload's own
 * `events`, or rate × duration); without a bound nothing is prepared.
 */
export function prepareLoad(shape: WorkloadShape, bound: { maxEvents: number | undefined }): PreparedLoad {
  if (bound.maxEvents === undefined) return { shape, requests: [], bodies: undefined };
  const requests = [...generateRequests({ ...shape, events: Math.min(shape.events, bound.maxEvents) })];
  return { shape, requests, bodies: requests.map((request) => Buffer.from(JSON.stringify(request.events))) };
}

/** The most events a run sends: the workload's count, or rate × duration (a request more for rounding). */
export function eventBound(
  shape: WorkloadShape,
  rate: number,
  durationSeconds: number | undefined,
): number | undefined {
  if (durationSeconds === undefined) return shape.events;
  if (rate <= 0) return undefined;
  return Math.ceil(rate * durationSeconds) + shape.eventsPerRequest;
}

/** The collector's answer: `accepted` and the refused events' indices (202, 400 and 503 carry them). */
function answerOf(status: number, text: string): { accepted?: number; rejected?: { index: number }[] } {
  try {
    return JSON.parse(text) as { accepted?: number; rejected?: { index: number }[] };
  } catch {
    throw new Error(`the collector answered ${status} with a body that is not JSON: ${text.slice(0, 300)}`);
  }
}

/** One POST on the keep-alive agent; resolves with the status and the body text. */
function post(agent: Agent, url: URL, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        agent,
        hostname: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * Sends the workload's requests in order with `concurrency` in flight, paced to `rate`, until
 * every request was sent or the duration is over; a request answered 429 (or 503 without
 * rejections) is retried after 200 ms, up to five attempts.
 */
export async function sendLoad(
  load: PreparedLoad,
  options: SendOptions,
  counters: SendCounters,
  onProgress: (fraction: number) => void,
): Promise<SentLoad> {
  const url = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const generated = load.bodies === undefined ? generateRequests(load.shape) : undefined;
  const requests: (SentRequest | undefined)[] = [];
  const startedAt = Date.now();
  const deadline =
    options.durationSeconds === undefined ? Number.POSITIVE_INFINITY : startedAt + options.durationSeconds * 1000;
  let next = 0;
  let sent = 0;
  /** The next request's index and body, or undefined when the workload is exhausted. */
  const take = (): { index: number; body: Buffer } | undefined => {
    const index = next;
    if (load.bodies !== undefined) {
      const body = load.bodies[index];
      if (body === undefined) return undefined;
      next++;
      return { index, body };
    }
    const request = generated?.next();
    if (request === undefined || request.done) return undefined;
    next++;
    load.requests.push(request.value);
    return { index, body: Buffer.from(JSON.stringify(request.value.events)) };
  };
  const eventsIn = (index: number): number =>
    Math.min(load.shape.eventsPerRequest, load.shape.events - index * load.shape.eventsPerRequest);

  const worker = async (): Promise<void> => {
    for (;;) {
      if (Date.now() >= deadline) return;
      const taken = take();
      if (taken === undefined) return;
      // The request's slot is taken before waiting for it, so the workers waiting meanwhile are due after it.
      const due = options.rate > 0 ? startedAt + (sent / options.rate) * 1000 : 0;
      sent += eventsIn(taken.index);
      if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
      let answered = false;
      for (let attempt = 0; attempt < ATTEMPTS && !answered; attempt++) {
        const { status, text } = await post(agent, url, taken.body);
        const body = status === 429 ? {} : answerOf(status, text);
        if (status === 429 || (status === 503 && !body.rejected)) {
          await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
          continue;
        }
        if (status !== 202 && status !== 400 && status !== 503) {
          throw new Error(`the collector answered ${status} to request ${taken.index}: ${text.slice(0, 300)}`);
        }
        const refused = (body.rejected ?? []).map((rejection) => rejection.index);
        requests[taken.index] = { answeredAt: Date.now(), refused, accepted: body.accepted ?? 0 };
        counters.accepted += body.accepted ?? 0;
        counters.rejected += new Set(refused).size;
        answered = true;
      }
      if (!answered) counters.failedRequests++;
      const shape = load.shape;
      onProgress(
        options.durationSeconds === undefined
          ? sent / shape.events
          : (Date.now() - startedAt) / (options.durationSeconds * 1000),
      );
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return { requests, startedAt, endedAt: Date.now() };
}

/** Calls `visit` with each event the collector accepted (request by request, less the refused ones). */
function forEachAccepted(
  load: PreparedLoad,
  sent: SentLoad,
  visit: (event: IncomingEvent, answer: SentRequest) => void,
): void {
  sent.requests.forEach((answer, index) => {
    const request = load.requests[index];
    if (answer === undefined || request === undefined) return;
    const refused = new Set(answer.refused);
    request.events.forEach((event, position) => {
      if (!refused.has(position)) visit(event as IncomingEvent, answer);
    });
  });
}

/** How many distinct eventIds the collector accepted (cheap: what the processors must count before the phase ends). */
export function uniqueAcceptedCount(load: PreparedLoad, sent: SentLoad): number {
  const ids = new Set<string>();
  forEachAccepted(load, sent, (event) => ids.add(String(event.eventId).toLowerCase()));
  return ids.size;
}

/**
 * The events the collector accepted, in their stream form (normalised by the collector's own rules,
 * `toStreamEvent`): what the ground truth is computed from, after the phase.
 */
export function acceptedEvents(load: PreparedLoad, sent: SentLoad): StreamEvent[] {
  const accepted: StreamEvent[] = [];
  forEachAccepted(load, sent, (event, answer) => accepted.push(toStreamEvent(event, answer.answeredAt)));
  return accepted;
}
