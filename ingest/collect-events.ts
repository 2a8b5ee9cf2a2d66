/**
 * Pure core of the collector route: candidate events in, normalised events (with the
 * bytes that will go to Kinesis) and rejections out. No I/O.
 */
import type { EventLimits } from '../common/config.js';
import type { EventRejection, StreamEvent } from '../common/event-contract.js';
import { normalizeIncomingEvent } from '../common/validate-event.js';
import type { ParsedBody } from './parse-body.js';

export interface CollectedEvent {
  /** Position in the request, for error reporting. */
  index: number;
  event: StreamEvent;
  serialized: string;
}

export interface CollectResult {
  valid: CollectedEvent[];
  rejected: EventRejection[];
}

/**
 * Validates every candidate; invalid ones never take valid ones down with them.
 *
 * @example
 *   const { valid, rejected } = collectEvents(parseBody(text, 'json'), { now: Date.now(), limits, newEventId: v7 });
 */
export function collectEvents(
  body: ParsedBody,
  context: { now: number; limits: EventLimits; newEventId: () => string },
): CollectResult {
  const valid: CollectedEvent[] = [];
  const rejected: EventRejection[] = [...body.rejections];
  const unparsed = new Set(body.rejections.map((rejection) => rejection.index));
  body.candidates.forEach((candidate, index) => {
    if (unparsed.has(index)) return;
    const result = normalizeIncomingEvent(candidate, {
      index,
      now: context.now,
      limits: context.limits,
      newEventId: context.newEventId,
    });
    if (result.ok) valid.push({ index, event: result.event, serialized: result.serialized });
    else rejected.push(...result.rejections);
  });
  rejected.sort((a, b) => a.index - b.index);
  return { valid, rejected };
}
