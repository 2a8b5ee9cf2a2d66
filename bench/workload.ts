/**
 * The bench's seeded workload: experiments × variants × metrics, repeat users with fixed
 * segment attributes, a share of producer retries (an earlier event re-sent with the same
 * eventId) and a share of malformed events. The same seed gives the same requests, so a
 * run can be reproduced and its ground truth computed independently.
 */
import { DEFAULT_EVENT_LIMITS } from '../common/config.js';
import type { IncomingEvent, StreamEvent } from '../common/event-contract.js';
import { normalizeIncomingEvent } from '../common/validate-event.js';
import { seededRandom } from '../local/test-support/counter-workload.js';

export interface WorkloadShape {
  seed: number;
  /** Events to send (including duplicates and malformed ones). */
  events: number;
  eventsPerRequest: number;
  users: number;
  experiments: number;
  variants: number;
  metrics: number;
  /** Distinct values per segment dimension (country, device, browser). */
  segmentValues: number;
  /** How many of the dimensions country, device, browser events carry (0–3). Each adds cells per event. */
  segmentDimensions: number;
  /** Share of events that re-send an earlier event (same eventId). */
  duplicateShare: number;
  /** Share of events that break the contract (rejected by the collector). */
  malformedShare: number;
}

export interface WorkloadRequest {
  events: unknown[];
  /** Per event: true when it is well-formed (the collector should accept it). */
  wellFormed: boolean[];
}

const uuidFrom = (random: () => number): string => {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
};

/** A user's segment attributes never change: realistic, and it keeps ground truth order-independent. */
function segmentsOf(userIndex: number, values: number, dimensions: number): Record<string, string> | undefined {
  const all: [string, string][] = [
    ['country', `c${(userIndex * 7) % values}`],
    ['device', ['ios', 'android', 'web'][userIndex % 3] as string],
    ['browser', `b${(userIndex * 13) % Math.max(2, Math.min(values, 8))}`],
  ];
  return dimensions > 0 ? Object.fromEntries(all.slice(0, dimensions)) : undefined;
}

const MALFORMED: ((event: Record<string, unknown>) => unknown)[] = [
  (event) => ({ ...event, type: 'click' }),
  (event) => ({ ...event, value: 'NaN' }),
  (event) => ({ ...event, experimentId: '' }),
  (event) => ({ ...event, unexpected: true }),
];

/** Generates the requests of a run, lazily (a long run never holds all of them). */
export function* generateRequests(shape: WorkloadShape): Generator<WorkloadRequest> {
  const random = seededRandom(shape.seed);
  const recent: IncomingEvent[] = [];
  let produced = 0;
  while (produced < shape.events) {
    const size = Math.min(shape.eventsPerRequest, shape.events - produced);
    const request: WorkloadRequest = { events: [], wellFormed: [] };
    for (let i = 0; i < size; i++) {
      const roll = random();
      if (roll < shape.duplicateShare && recent.length > 0) {
        request.events.push(recent[Math.floor(random() * recent.length)]);
        request.wellFormed.push(true);
        continue;
      }
      const userIndex = Math.floor(random() * shape.users);
      const experiment = Math.floor(random() * shape.experiments);
      const conversion = random() < 0.3;
      const metric = Math.floor(random() * shape.metrics);
      const event: IncomingEvent = {
        eventId: uuidFrom(random),
        type: conversion ? 'conversion' : 'impression',
        experimentId: `bench-exp-${experiment}`,
        // Stable assignment: a user stays in one variant of an experiment.
        variantId: `v${(userIndex + experiment) % shape.variants}`,
        userId: `user-${userIndex}`,
        ...(conversion ? { metric: `m${metric}`, value: metric === 0 ? 1 : Math.round(random() * 10_000) / 100 } : {}),
        ...(shape.segmentDimensions > 0
          ? { segments: segmentsOf(userIndex, shape.segmentValues, shape.segmentDimensions) }
          : {}),
      };
      if (roll < shape.duplicateShare + shape.malformedShare && roll >= shape.duplicateShare) {
        request.events.push(MALFORMED[Math.floor(random() * MALFORMED.length)]?.(event));
        request.wellFormed.push(false);
        continue;
      }
      request.events.push(event);
      request.wellFormed.push(true);
      recent.push(event);
      if (recent.length > 1000) recent.splice(0, recent.length - 1000);
    }
    produced += size;
    yield request;
  }
}

/**
 * The stream form of an accepted incoming event, for the ground truth: normalised by the
 * collector's own rules, so the truth sees exactly what the collector wrote.
 */
export function toStreamEvent(event: IncomingEvent, receivedAt: number): StreamEvent {
  const result = normalizeIncomingEvent(event, {
    index: 0,
    now: receivedAt,
    limits: DEFAULT_EVENT_LIMITS,
    newEventId: () => event.eventId as string,
  });
  if (!result.ok) throw new Error(`an accepted event does not normalise: ${JSON.stringify(result.rejections)}`);
  return result.event;
}
