/**
 * Pure core of the collector route: candidate events in, normalised events (with the
 * bytes that will go to Kinesis) and a bounded summary of the rejections out. No I/O.
 *
 * Work stays linear in the body: an event object with far more fields than the contract has,
 * or a `segments` or `covariates` map with more entries than allowed, is refused by counting its keys
 * (stopping early) before the schema validator walks them one by one.
 */
import type { EventLimits } from '../common/config.js';
import {
  IncomingEventSchema,
  MAX_COVARIATES,
  type EventRejection,
  type StreamEvent,
} from '../common/event-contract.js';
import { UUID_BYTES, eventIdBytesWriter } from '../common/event-ids.js';
import { normalizeCommonEvent, normalizeIncomingEvent, type NormalizeContext } from '../common/validate-event.js';
import { assertBodyDepth, type ParsedBody } from './parse-body.js';
import { RejectionSummary } from './rejection-summary.js';

/** Fields of the contract; an event with more than twice as many keys is refused without a field-by-field walk. */
const CONTRACT_FIELDS = Object.keys(IncomingEventSchema.properties).length;
const MAX_EVENT_KEYS = 2 * CONTRACT_FIELDS;

/**
 * An accepted event, shaped as the batcher's `StreamEntry` so the route submits these objects
 * themselves (no second object per event).
 */
export interface CollectedEvent {
  /** Position in the request, for error reporting. */
  index: number;
  /** The event's userId: the Kinesis partition key. */
  partitionKey: string;
  event: StreamEvent;
  /** The event as JSON; absent when the collector writes compact records (`serialize: false`). */
  json: string | undefined;
  /** Its JSON length in bytes, or an upper bound of it when not serialized (what the buffer limits count). */
  jsonBytes: number;
  /**
   * The eventId's 16 bytes, from `eventIdAt`, when the collector generated the id and writes compact
   * records (`serialize: false`) with its own generator: the encoder copies them instead of reading
   * the id's text back. Shared by the request's events.
   */
  eventIdBytes: Uint8Array | undefined;
  eventIdAt: number;
}

export interface CollectResult {
  valid: CollectedEvent[];
  rejected: RejectionSummary;
}

/** What `collectEvents` needs besides the body. */
export interface CollectContext {
  now: number;
  limits: EventLimits;
  newEventId: (receivedAt: number) => string;
  serialize?: boolean;
  /**
   * Told of each exception the validator throws (a defect of ours, to be logged), as it happens: each
   * refuses only its own event, and is reported even when the body then fails its deferred depth check.
   */
  onDefect: (error: unknown) => void;
}

/** The rule of an event the validator threw on: a collector defect, never the producer's fault. */
export const VALIDATOR_DEFECT = 'validator-defect';

/** True when `value` is a plain object with more than `max` own enumerable keys (stops counting at max + 1). */
function hasMoreKeysThan(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  let keys = 0;
  for (const key in value) {
    if (Object.hasOwn(value, key) && ++keys > max) return true;
  }
  return false;
}

/** The cheap structural screen run before the validator; undefined when the event may go on. */
function oversizedShape(candidate: unknown, index: number, limits: EventLimits): EventRejection | undefined {
  if (hasMoreKeysThan(candidate, MAX_EVENT_KEYS)) {
    return {
      index,
      field: '(event)',
      rule: 'max-properties',
      message: `event has more than ${MAX_EVENT_KEYS} fields; the contract has ${CONTRACT_FIELDS}`,
    };
  }
  const segments = (candidate as { segments?: unknown } | null)?.segments;
  if (hasMoreKeysThan(segments, limits.maxSegments)) {
    return {
      index,
      field: 'segments',
      rule: 'max-properties',
      message: `segments has more than ${limits.maxSegments} dimensions; at most ${limits.maxSegments} are allowed`,
    };
  }
  const covariates = (candidate as { covariates?: unknown } | null)?.covariates;
  if (hasMoreKeysThan(covariates, MAX_COVARIATES)) {
    return {
      index,
      field: 'covariates',
      rule: 'max-properties',
      message: `covariates has more than ${MAX_COVARIATES} metrics; at most ${MAX_COVARIATES} are allowed`,
    };
  }
  return undefined;
}

/**
 * Validates every candidate; invalid ones never take valid ones down with them. The caller
 * has already bounded the number of candidates (`parseBody`'s `maxEvents`). A body whose depth
 * `parseBody` left unchecked is checked here unless every candidate is a valid event (an event
 * nests at most two levels): throws `max-depth` as `parseBody` would have.
 *
 * @example
 *   const { valid, rejected } = collectEvents(parseBody(text, 'json', { maxEvents: 500 }), {
 *     now: Date.now(), limits, newEventId: v7, onDefect: (error) => log.error({ err: error }, 'event validator threw'),
 *   });
 *   reply.send({ accepted: valid.length, ...rejected.report() });
 */
export function collectEvents(body: ParsedBody, context: CollectContext): CollectResult {
  const valid: CollectedEvent[] = [];
  const rejected = new RejectionSummary();
  const { candidates, rejections } = body;
  // Generated ids' bytes, for compact records: written by the generator, not read back from the text.
  const writeEventIdBytes = context.serialize === false ? eventIdBytesWriter(context.newEventId) : undefined;
  let eventIdBytes: Buffer | undefined;
  const unparsed = rejections.length === 0 ? undefined : new Set(rejections.map((rejection) => rejection.index));
  rejected.addAll(rejections);
  // One context for every event, its index moved along (the validator keeps no reference to it).
  const ctx: NormalizeContext = {
    index: 0,
    now: context.now,
    limits: context.limits,
    newEventId: context.newEventId,
    serialize: context.serialize,
  };
  for (let index = 0; index < candidates.length; index++) {
    if (unparsed?.has(index)) continue;
    const candidate = candidates[index];
    ctx.index = index;
    let result: ReturnType<typeof normalizeIncomingEvent>;
    try {
      // The common event in one pass; anything else the full way, behind the cheap structural screen.
      const common = normalizeCommonEvent(candidate, ctx);
      if (common === undefined) {
        const oversized = oversizedShape(candidate, index, context.limits);
        if (oversized) {
          rejected.add(oversized);
          continue;
        }
      }
      result = common ?? normalizeIncomingEvent(candidate, ctx);
    } catch (error) {
      // One event must not fail the request (and the events beside it) with a 500.
      context.onDefect(error);
      const message = 'the collector could not validate this event (a defect on our side, logged); it was not written';
      rejected.add({ index, field: '(event)', rule: VALIDATOR_DEFECT, message });
      continue;
    }
    if (!result.ok) {
      rejected.addAll(result.rejections);
      continue;
    }
    let bytes: Buffer | undefined;
    const at = valid.length * UUID_BYTES;
    if (writeEventIdBytes !== undefined && (candidate as { eventId?: unknown }).eventId === undefined) {
      eventIdBytes ??= Buffer.allocUnsafe(candidates.length * UUID_BYTES);
      if (writeEventIdBytes(result.event.eventId, eventIdBytes, at)) bytes = eventIdBytes;
    }
    valid.push({
      index,
      partitionKey: result.event.userId,
      event: result.event,
      json: result.serialized,
      jsonBytes: result.jsonBytes,
      eventIdBytes: bytes,
      eventIdAt: at,
    });
  }
  if (body.uncheckedDepthText !== undefined && valid.length < candidates.length)
    assertBodyDepth(body.uncheckedDepthText);
  return { valid, rejected };
}
