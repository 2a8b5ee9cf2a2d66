/**
 * Pure validation and normalisation of events against the contract. No I/O, no clock
 * reads (the caller passes `now`), no `process.env`.
 *
 * The fast path is one compiled schema check plus a few cheap rules; only invalid
 * events pay for building error details.
 */
import { Compile } from 'typebox/compile';
import type { TLocalizedValidationError } from 'typebox/error';
import type { EventLimits } from './config.js';
import {
  CURRENT_CONTRACT_VERSION,
  IncomingEventSchema,
  KEY_MAX_LENGTH,
  KEY_PATTERN,
  StreamEventSchema,
  SUPPORTED_CONTRACT_VERSIONS,
  type EventRejection,
  type IncomingEvent,
  type StreamEvent,
} from './event-contract.js';

const incomingValidator = Compile(IncomingEventSchema);
const streamValidator = Compile(StreamEventSchema);
const segmentKeyPattern = new RegExp(KEY_PATTERN);

/** The outcome of validating one event: a normalised event, or the reasons it was refused. */
export type EventValidation =
  { ok: true; event: StreamEvent; serialized: string } | { ok: false; rejections: EventRejection[] };

export interface NormalizeContext {
  /** Position of the event in its request, reported in rejections. */
  index: number;
  /** Receive time (epoch ms); also the reference for the timestamp window. */
  now: number;
  limits: EventLimits;
  /** Generates an eventId for events that have none (UUIDv7 in the collector). */
  newEventId: () => string;
}

const RULE_BY_KEYWORD: Record<string, string> = {
  required: 'required',
  type: 'type',
  minLength: 'min-length',
  maxLength: 'max-length',
  pattern: 'pattern',
  enum: 'enum',
  format: 'format',
  minimum: 'range',
  maximum: 'range',
  maxProperties: 'max-properties',
  additionalProperties: 'unknown-field',
  boolean: 'unknown-field',
  anyOf: 'type',
};

/** JSON-pointer path → dotted field name; an empty key shows as `""` so the field is never blank. */
const fieldName = (instancePath: string): string =>
  instancePath === ''
    ? '(event)'
    : instancePath
        .slice(1)
        .split('/')
        .map((part) => (part === '' ? '""' : part.replaceAll('~1', '/').replaceAll('~0', '~')))
        .join('.');

/** Turns compiled-schema errors into one rejection per field, naming the rule it broke. */
function rejectionsFromSchemaErrors(
  index: number,
  errors: Iterable<TLocalizedValidationError>,
  input: unknown,
): EventRejection[] {
  const byField = new Map<string, EventRejection>();
  const add = (field: string, rule: string, message: string): void => {
    // A union reports each branch; the union-level error (anyOf) wins as the clearest message.
    if (!byField.has(field) || rule === 'type') byField.set(field, { index, field, rule, message });
  };
  for (const error of errors) {
    if (error.keyword === 'required') {
      for (const name of (error.params as { requiredProperties?: string[] }).requiredProperties ?? []) {
        add(name, 'required', `${name} is required`);
      }
      continue;
    }
    if (error.keyword === 'additionalProperties') continue; // reported per field by the `boolean` error
    const field = fieldName(error.instancePath);
    const rule = RULE_BY_KEYWORD[error.keyword] ?? error.keyword;
    if (error.keyword === 'boolean') {
      add(field, 'unknown-field', `${field} is not a field of the event contract`);
    } else if (error.keyword === 'type' && error.instancePath === '') {
      add(field, 'type', 'event must be a JSON object');
    } else if (error.keyword === 'anyOf' && field === 'timestamp') {
      add(field, 'type', 'timestamp must be an ISO-8601 date-time string or epoch milliseconds ≥ 0');
    } else if (error.keyword === 'type' && field === 'value' && typeof valueAt(input, 'value') === 'number') {
      add(field, 'finite', 'value must be a finite number');
    } else {
      add(field, rule, `${field} ${error.message}`);
    }
  }
  return [...byField.values()];
}

function valueAt(input: unknown, key: string): unknown {
  return input !== null && typeof input === 'object' ? (input as Record<string, unknown>)[key] : undefined;
}

/** Cross-field and per-key rules JSON Schema cannot express; the same on the way in and on the stream. */
function checkEventRules(
  index: number,
  event: Pick<IncomingEvent, 'type' | 'metric' | 'value' | 'segments'>,
  maxSegments: number,
): EventRejection[] {
  const rejections: EventRejection[] = [];
  if (event.type === 'conversion' && event.metric === undefined) {
    rejections.push({
      index,
      field: 'metric',
      rule: 'required-for-conversion',
      message: 'metric is required when type is conversion',
    });
  }
  if (event.value !== undefined && !Number.isFinite(event.value)) {
    rejections.push({ index, field: 'value', rule: 'finite', message: 'value must be a finite number' });
  }
  const keys = event.segments ? Object.keys(event.segments) : [];
  if (keys.length > maxSegments) {
    rejections.push({
      index,
      field: 'segments',
      rule: 'max-properties',
      message: `segments has ${keys.length} dimensions; at most ${maxSegments} are allowed`,
    });
  }
  for (const key of keys) {
    if (key.length > KEY_MAX_LENGTH || !segmentKeyPattern.test(key)) {
      rejections.push({
        index,
        field: `segments.${key.slice(0, KEY_MAX_LENGTH)}`,
        rule: 'pattern',
        message: `segment dimension names must match ${KEY_PATTERN} and be at most ${KEY_MAX_LENGTH} characters`,
      });
    }
  }
  return rejections;
}

/** The receive-time window: events too old or in the future are refused at the door. */
function checkTimestampWindow(index: number, timestamp: number, ctx: NormalizeContext): EventRejection[] {
  if (Number.isNaN(timestamp)) {
    return [{ index, field: 'timestamp', rule: 'format', message: 'timestamp is not a valid date-time' }];
  }
  if (timestamp < ctx.now - ctx.limits.maxAgeMs) {
    return [
      {
        index,
        field: 'timestamp',
        rule: 'timestamp-too-old',
        message: `timestamp is more than ${Math.round(ctx.limits.maxAgeMs / 3_600_000)} h before the receive time`,
      },
    ];
  }
  if (timestamp > ctx.now + ctx.limits.maxFutureMs) {
    return [
      {
        index,
        field: 'timestamp',
        rule: 'timestamp-in-future',
        message: `timestamp is more than ${Math.round(ctx.limits.maxFutureMs / 1000)} s after the receive time`,
      },
    ];
  }
  return [];
}

function unsupportedVersion(index: number, input: unknown): EventRejection | undefined {
  const version = valueAt(input, 'version');
  if (version === undefined || (typeof version === 'number' && SUPPORTED_CONTRACT_VERSIONS.includes(version)))
    return undefined;
  return {
    index,
    field: 'version',
    rule: 'unsupported-version',
    message: `contract version ${JSON.stringify(version)} is not supported (supported: ${SUPPORTED_CONTRACT_VERSIONS.join(', ')})`,
  };
}

/**
 * Validates one incoming event and normalises it into the stream shape, serialised once
 * (the size rule is checked on the bytes that will go to Kinesis).
 *
 * @example
 *   const result = normalizeIncomingEvent(body[0], { index: 0, now: Date.now(), limits, newEventId: uuidv7 });
 *   if (!result.ok) reply.send(result.rejections);
 */
export function normalizeIncomingEvent(input: unknown, ctx: NormalizeContext): EventValidation {
  const { index } = ctx;
  const versionProblem = unsupportedVersion(index, input);
  if (versionProblem) return { ok: false, rejections: [versionProblem] };
  if (!incomingValidator.Check(input)) {
    return { ok: false, rejections: rejectionsFromSchemaErrors(index, incomingValidator.Errors(input), input) };
  }
  const event = input;
  const timestamp =
    event.timestamp === undefined
      ? ctx.now
      : typeof event.timestamp === 'number'
        ? event.timestamp
        : Date.parse(event.timestamp);
  const problems = [
    ...checkEventRules(index, event, ctx.limits.maxSegments),
    ...checkTimestampWindow(index, timestamp, ctx),
  ];
  if (problems.length > 0) return { ok: false, rejections: problems };

  const normalized: StreamEvent = {
    version: event.version ?? CURRENT_CONTRACT_VERSION,
    eventId: event.eventId ?? ctx.newEventId(),
    type: event.type,
    experimentId: event.experimentId,
    variantId: event.variantId,
    userId: event.userId,
    ...(event.metric === undefined ? {} : { metric: event.metric }),
    value: event.value ?? 1,
    ...(event.segments === undefined ? {} : { segments: event.segments }),
    timestamp,
    receivedAt: ctx.now,
  };
  const serialized = JSON.stringify(normalized);
  const bytes = Buffer.byteLength(serialized);
  if (bytes > ctx.limits.maxEventBytes) {
    return {
      ok: false,
      rejections: [
        {
          index,
          field: '(event)',
          rule: 'max-size',
          message: `event is ${bytes} bytes; the limit is ${ctx.limits.maxEventBytes}`,
        },
      ],
    };
  }
  return { ok: true, event: normalized, serialized };
}

/**
 * Validates an event read from the stream (already normalised by a collector, or written
 * by another producer). No clock window: replays of old data must still count.
 */
export function validateStreamEvent(
  input: unknown,
  index: number,
  limits: Pick<EventLimits, 'maxSegments'>,
): { ok: true; event: StreamEvent } | { ok: false; rejections: EventRejection[] } {
  const versionProblem = unsupportedVersion(index, input);
  if (versionProblem) return { ok: false, rejections: [versionProblem] };
  if (!streamValidator.Check(input)) {
    return { ok: false, rejections: rejectionsFromSchemaErrors(index, streamValidator.Errors(input), input) };
  }
  const rejections = checkEventRules(index, input, limits.maxSegments);
  return rejections.length > 0 ? { ok: false, rejections } : { ok: true, event: input };
}
