/**
 * Pure validation and normalisation of events against the contract. No I/O, no clock
 * reads (the caller passes `now`), no `process.env`.
 *
 * The fast path is one compiled schema check plus a few cheap rules; only invalid
 * events pay for building error details. The collector goes first through
 * `normalizeCommonEvent`, one pass over a parsed event's fields that answers for the common
 * event exactly as `normalizeIncomingEvent` would, and leaves every other event to it.
 */
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { TLocalizedValidationError } from 'typebox/error';
import type { EventLimits } from './config.js';
import {
  BIDI_CONTROL_CHARACTERS,
  CONTROL_CHARACTERS,
  CURRENT_CONTRACT_VERSION,
  EVENT_TIME_END_MS,
  EVENT_TIME_MIN_MS,
  IncomingEventSchema,
  KEY_MAX_LENGTH,
  KEY_PATTERN,
  MAX_COVARIATES,
  MAX_EVENT_VALUE,
  SEGMENT_VALUE_MAX_LENGTH,
  StreamEventSchema,
  SUPPORTED_CONTRACT_VERSIONS,
  USER_ID_MAX_LENGTH,
  UUID_PATTERN,
  type EventRejection,
  type IncomingEvent,
  type StreamEvent,
} from './event-contract.js';
import { canonicalEventId, makesCanonicalIds } from './event-ids.js';

const incomingValidator = Compile(IncomingEventSchema);
const streamValidator = Compile(StreamEventSchema);
const segmentKeyPattern = new RegExp(KEY_PATTERN);
const controlCharacter = new RegExp(`[${CONTROL_CHARACTERS}]`);
const bidiControlCharacter = new RegExp(`[${BIDI_CONTROL_CHARACTERS}]`);
const controlOrBidiCharacter = new RegExp(`[${CONTROL_CHARACTERS}${BIDI_CONTROL_CHARACTERS}]`);
/** Every string field of the contract (segments are checked key by key). */
const STRING_FIELDS = ['eventId', 'type', 'experimentId', 'variantId', 'userId', 'metric', 'timestamp'] as const;
/** The fields that are identifiers: no control or bidi characters (segment keys too). */
const ID_FIELDS: ReadonlySet<string> = new Set(['experimentId', 'variantId', 'userId', 'metric']);
const isoDate = (epochMs: number): string => new Date(epochMs).toISOString().replace('.000Z', 'Z');
const EVENT_TIME_RANGE_TEXT = `[${isoDate(EVENT_TIME_MIN_MS)}, ${isoDate(EVENT_TIME_END_MS)})`;

/**
 * The outcome of validating one event: a normalised event, or the reasons it was refused.
 * `serialized` is the event as JSON (absent when the caller asked for the event only, see
 * `NormalizeContext.serialize`); `jsonBytes` is its UTF-8 length, or without `serialized` an
 * upper bound of that length, in both cases within the `max-size` limit.
 */
export type EventValidation =
  | { ok: true; event: StreamEvent; serialized: string | undefined; jsonBytes: number }
  | { ok: false; rejections: EventRejection[] };

export interface NormalizeContext {
  /** Position of the event in its request, reported in rejections. */
  index: number;
  /** Receive time (epoch ms); also the reference for the timestamp window. */
  now: number;
  limits: EventLimits;
  /**
   * Generates an eventId for events that have none (UUIDv7 in the collector), given the receive
   * time (`now`), which a time-ordered id may carry instead of reading the clock again.
   */
  newEventId: (receivedAt: number) => string;
  /**
   * Whether to return the event as JSON (default true). A writer of compact records needs only
   * the event: the `max-size` rule is then decided on an upper bound of the JSON length
   * (`jsonByteBound`), and the event is serialized only when that bound is over the limit.
   */
  serialize?: boolean;
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

/**
 * JSON-pointer path → dotted field name; an empty key shows as `""` so the field is never blank,
 * and a key that is not well-formed Unicode shows with U+FFFD so the rejection itself is.
 */
const fieldName = (instancePath: string): string =>
  instancePath === ''
    ? '(event)'
    : instancePath
        .slice(1)
        .split('/')
        .map((part) => (part === '' ? '""' : part.replaceAll('~1', '/').replaceAll('~0', '~').toWellFormed()))
        .join('.');

/** The rejection field of a segment dimension, printable whatever the key holds. */
const segmentField = (key: string): string => `segments.${key.toWellFormed().slice(0, KEY_MAX_LENGTH)}`;

/** The rejection field of a covariate, printable whatever the key holds. */
const covariateField = (key: string): string => `covariates.${key.toWellFormed().slice(0, KEY_MAX_LENGTH)}`;

/** No rejections: shared, so a valid event allocates nothing for the rules that passed. */
const NONE: readonly EventRejection[] = Object.freeze([]);

/** Keeps the first rejection of each field (the most specific rules are listed first); skips `undefined`. */
function onePerField(...groups: (readonly EventRejection[] | EventRejection | undefined)[]): EventRejection[] {
  const byField = new Map<string, EventRejection>();
  for (const group of groups) {
    if (group === undefined) continue;
    for (const rejection of 'field' in group ? [group] : group) {
      if (!byField.has(rejection.field)) byField.set(rejection.field, rejection);
    }
  }
  return [...byField.values()];
}

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

/** The character rule a string breaks, if any: well-formedness for every string, control/bidi for ids. */
function characterRule(text: string, isId: boolean): { rule: string; message: string } | undefined {
  if (!text.isWellFormed()) {
    return { rule: 'well-formed-unicode', message: 'is not well-formed Unicode (it holds a lone surrogate)' };
  }
  if (!isId) return undefined;
  if (controlCharacter.test(text)) {
    return { rule: 'control-character', message: 'must not contain control characters (U+0000–U+001F, U+007F–U+009F)' };
  }
  if (bidiControlCharacter.test(text)) {
    return {
      rule: 'bidi-control',
      message: 'must not contain bidi override or isolate characters (U+202A–U+202E, U+2066–U+2069)',
    };
  }
  return undefined;
}

/**
 * Character rules over every string field, checked before the schema so that a lone surrogate or a
 * control character is reported as what it is (not as a generic `pattern`): two ill-formed strings
 * can encode to the same bytes and merge two users into one.
 */
function checkStringCharacters(index: number, input: unknown): readonly EventRejection[] {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return NONE;
  const event = input as Record<string, unknown>;
  let rejections: EventRejection[] | undefined;
  for (const field of STRING_FIELDS) {
    const text = event[field];
    if (typeof text !== 'string') continue;
    const broken = characterRule(text, ID_FIELDS.has(field));
    if (broken) (rejections ??= []).push({ index, field, rule: broken.rule, message: `${field} ${broken.message}` });
  }
  const segments = event['segments'];
  if (segments !== null && typeof segments === 'object' && !Array.isArray(segments)) {
    for (const key in segments) {
      if (!Object.hasOwn(segments, key)) continue;
      const value: unknown = (segments as Record<string, unknown>)[key];
      const brokenKey = characterRule(key, true);
      const broken = brokenKey ?? (typeof value === 'string' ? characterRule(value, false) : undefined);
      if (!broken) continue;
      const field = segmentField(key);
      const message = brokenKey ? `segment dimension name ${broken.message}` : `${field} ${broken.message}`;
      (rejections ??= []).push({ index, field, rule: broken.rule, message });
    }
  }
  return rejections ?? NONE;
}

/**
 * The fast path's screen, for an event the schema accepted: could any character rule fail? The
 * schema's ASCII pattern already keeps control and bidi characters out of experimentId, variantId
 * and metric, so only well-formedness, the userId and the segment names are left to look at.
 */
function mayBreakCharacterRules(event: StreamEvent | IncomingEvent): boolean {
  if (!event.userId.isWellFormed() || controlOrBidiCharacter.test(event.userId)) return true;
  if (typeof event.timestamp === 'string' && !event.timestamp.isWellFormed()) return true;
  // eventId, type, experimentId, variantId and metric matched an ASCII pattern or enum.
  const segments = event.segments;
  if (segments === undefined) return false;
  for (const key in segments) {
    // A name off the key pattern escapes the schema's value check: its value may be anything.
    const value: unknown = segments[key];
    if (!key.isWellFormed() || controlOrBidiCharacter.test(key)) return true;
    if (typeof value !== 'string' || !value.isWellFormed()) return true;
  }
  return false;
}

/** Epoch-ms instants every sink can store (an index name of year 275760 is `NaN`): [2000-01-01, 2100-01-01). */
function outsideDateRange(
  index: number,
  field: 'timestamp' | 'receivedAt',
  epochMs: number,
): EventRejection | undefined {
  if (epochMs >= EVENT_TIME_MIN_MS && epochMs < EVENT_TIME_END_MS) return undefined;
  return { index, field, rule: 'date-range', message: `${field} ${epochMs} is outside ${EVENT_TIME_RANGE_TEXT}` };
}

/** Cross-field and per-key rules JSON Schema cannot express; the same on the way in and on the stream. */
function checkEventRules(
  index: number,
  event: Pick<IncomingEvent, 'type' | 'metric' | 'value' | 'segments' | 'covariates'>,
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
  if (event.covariates !== undefined && event.type !== 'impression') {
    rejections.push({
      index,
      field: 'covariates',
      rule: 'impression-only',
      message:
        'covariates are pre-exposure values and are carried only by impressions; send them with the exposure, not with a conversion',
    });
  }
  if (event.covariates !== undefined) {
    for (const key of Object.keys(event.covariates)) {
      if (key.length > KEY_MAX_LENGTH || !segmentKeyPattern.test(key)) {
        rejections.push({
          index,
          field: covariateField(key),
          rule: 'pattern',
          message: `covariate names are metric keys: they must match ${KEY_PATTERN} and be at most ${KEY_MAX_LENGTH} characters`,
        });
      }
    }
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
        field: segmentField(key),
        rule: 'pattern',
        message: `segment dimension names must match ${KEY_PATTERN} and be at most ${KEY_MAX_LENGTH} characters`,
      });
    }
  }
  return rejections;
}

/**
 * The event's time: a real date inside the contract's range, and inside the receive-time window
 * (events too old or in the future are refused at the door).
 */
function checkTimestamp(index: number, timestamp: number, ctx: NormalizeContext): EventRejection[] {
  if (Number.isNaN(timestamp)) {
    return [{ index, field: 'timestamp', rule: 'format', message: 'timestamp is not a valid date-time' }];
  }
  const outOfRange = outsideDateRange(index, 'timestamp', timestamp);
  if (outOfRange) return [outOfRange];
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
    const schemaProblems = rejectionsFromSchemaErrors(index, incomingValidator.Errors(input), input);
    return { ok: false, rejections: onePerField(checkStringCharacters(index, input), schemaProblems) };
  }
  const event = input;
  const characterProblems = mayBreakCharacterRules(event) ? checkStringCharacters(index, event) : NONE;
  const timestamp =
    event.timestamp === undefined
      ? ctx.now
      : typeof event.timestamp === 'number'
        ? event.timestamp
        : Date.parse(event.timestamp);
  const ruleProblems = checkEventRules(index, event, ctx.limits.maxSegments);
  const timeProblems = checkTimestamp(index, timestamp, ctx);
  const clockProblem = outsideDateRange(index, 'receivedAt', ctx.now);
  if (characterProblems.length > 0 || ruleProblems.length > 0 || timeProblems.length > 0 || clockProblem) {
    return { ok: false, rejections: onePerField(characterProblems, ruleProblems, timeProblems, clockProblem) };
  }

  const normalized: StreamEvent = {
    version: event.version ?? CURRENT_CONTRACT_VERSION,
    eventId: canonicalEventId(event.eventId ?? ctx.newEventId(ctx.now)),
    type: event.type,
    experimentId: event.experimentId,
    variantId: event.variantId,
    userId: event.userId,
    ...(event.metric === undefined ? {} : { metric: event.metric }),
    value: event.value ?? 1,
    ...(event.segments === undefined ? {} : { segments: event.segments }),
    ...(event.covariates === undefined ? {} : { covariates: event.covariates }),
    timestamp,
    receivedAt: ctx.now,
  };
  const bound = ctx.serialize === false ? jsonByteBound(normalized) : Number.POSITIVE_INFINITY;
  const serialized = bound <= ctx.limits.maxEventBytes ? undefined : JSON.stringify(normalized);
  const bytes = serialized === undefined ? bound : Buffer.byteLength(serialized);
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
  return {
    ok: true,
    event: normalized,
    serialized: ctx.serialize === false ? undefined : serialized,
    jsonBytes: bytes,
  };
}

/** Longest JSON text of a finite number: `-1.7976931348623157e+308`, `-5e-324`, `-9007199254740991`. */
const MAX_JSON_NUMBER_LENGTH = 24;
/** A UTF-16 code unit takes at most 6 bytes in JSON: `\uXXXX` (escapes); otherwise at most 3 as UTF-8. */
const MAX_JSON_BYTES_PER_CODE_UNIT = 6;
/** The keys, quotes, colons, commas and braces of a stream event with every optional field present. */
const STREAM_EVENT_FRAME_BYTES = JSON.stringify({
  version: 0,
  eventId: '',
  type: '',
  experimentId: '',
  variantId: '',
  userId: '',
  metric: '',
  value: 0,
  segments: {},
  timestamp: 0,
  receivedAt: 0,
}).length;
/** Per segment: two quotes around its key, two around its value, a colon and a comma. */
const SEGMENT_FRAME_BYTES = 6;
/** `,"covariates":{}`: charged only when the event carries covariates (the frame above has no such key). */
const COVARIATES_FRAME_BYTES = ',"covariates":{}'.length;
/** Per covariate: two quotes around its key, a colon and a comma (its number is charged as a number). */
const COVARIATE_FRAME_BYTES = 4;

/**
 * An upper bound of `Buffer.byteLength(JSON.stringify(event))`, in one pass over the string
 * lengths: every number (covariate values included) is charged its longest form and every code
 * unit 6 bytes; the `covariates` key and braces only when the event has them. For a
 * typical event it is a few hundred bytes, far below the `max-size` limit (8 KiB), so the limit
 * is decided without serializing; an event whose bound is over the limit is serialized and
 * measured exactly.
 *
 * @example
 *   const event = { version: 1, eventId: '0b3c…', type: 'impression', experimentId: 'exp', … };
 *   jsonByteBound(event) >= Buffer.byteLength(JSON.stringify(event)); // always true
 */
export function jsonByteBound(event: StreamEvent): number {
  let codeUnits =
    event.eventId.length + event.type.length + event.experimentId.length + event.variantId.length + event.userId.length;
  if (event.metric !== undefined) codeUnits += event.metric.length;
  let segments = 0;
  if (event.segments !== undefined) {
    for (const key in event.segments) {
      codeUnits += key.length + (event.segments[key] as string).length;
      segments++;
    }
  }
  let covariates = -1;
  if (event.covariates !== undefined) {
    covariates = 0;
    for (const key in event.covariates) {
      codeUnits += key.length;
      covariates++;
    }
  }
  return jsonByteBoundOf(codeUnits, segments, covariates);
}

/**
 * `jsonByteBound` from its counts: the code units of every string (keys of segments and
 * covariates included), the number of segments, and of covariates (-1: no `covariates` field).
 */
function jsonByteBoundOf(codeUnits: number, segments: number, covariates: number): number {
  const covariateBytes =
    covariates < 0 ? 0 : COVARIATES_FRAME_BYTES + covariates * (COVARIATE_FRAME_BYTES + MAX_JSON_NUMBER_LENGTH);
  return (
    STREAM_EVENT_FRAME_BYTES +
    4 * MAX_JSON_NUMBER_LENGTH +
    MAX_JSON_BYTES_PER_CODE_UNIT * codeUnits +
    SEGMENT_FRAME_BYTES * segments +
    covariateBytes
  );
}

const streamProperties = StreamEventSchema.properties;
const keyCheck = Compile(streamProperties.experimentId);
const userIdCheck = Compile(streamProperties.userId);
const segmentsSchema = streamProperties.segments as unknown as { patternProperties: Record<string, TSchema> };
const segmentValueCheck = Compile(Object.values(segmentsSchema.patternProperties)[0] as TSchema);
const valueCheck = Compile(streamProperties.value);

/**
 * The stream contract's rules one field at a time, compiled from the same schemas as
 * `validateStreamEvent` plus its character and date rules, for readers that check each
 * distinct string once (the compact record format). An event whose every field passes these
 * (and whose conversion has a metric, within the segment limit) passes `validateStreamEvent`;
 * the property test in compact-records.test.ts holds the two to that.
 */
export const streamFieldChecks = Object.freeze({
  /** experimentId, variantId, metric and covariate names. */
  key: (text: string): boolean => keyCheck.Check(text),
  userId: (text: string): boolean => userIdCheck.Check(text) && text.isWellFormed(),
  segmentKey: (text: string): boolean =>
    text.length <= KEY_MAX_LENGTH && segmentKeyPattern.test(text) && text.isWellFormed(),
  segmentValue: (text: string): boolean => segmentValueCheck.Check(text) && text.isWellFormed(),
  value: (value: number): boolean => Number.isFinite(value) && valueCheck.Check(value),
  /** timestamp and receivedAt: integer epoch ms inside the contract's date range. */
  instant: (epochMs: number): boolean =>
    Number.isInteger(epochMs) && epochMs >= EVENT_TIME_MIN_MS && epochMs < EVENT_TIME_END_MS,
});

/**
 * Validates an event read from the stream (already normalised by a collector, or written
 * by another producer). No clock window: replays of old data must still count; but
 * `timestamp` and `receivedAt` must lie in the contract's date range. The returned event's
 * `eventId` is canonical (lower case); it is the input itself whenever it already was.
 *
 * @example
 *   const result = validateStreamEvent(JSON.parse(text), 0, { maxSegments: 10 });
 *   if (result.ok) index(result.event.eventId); // lower case, whatever the producer wrote
 */
export function validateStreamEvent(
  input: unknown,
  index: number,
  limits: Pick<EventLimits, 'maxSegments'>,
): { ok: true; event: StreamEvent } | { ok: false; rejections: EventRejection[] } {
  const versionProblem = unsupportedVersion(index, input);
  if (versionProblem) return { ok: false, rejections: [versionProblem] };
  if (!streamValidator.Check(input)) {
    const schemaProblems = rejectionsFromSchemaErrors(index, streamValidator.Errors(input), input);
    return { ok: false, rejections: onePerField(checkStringCharacters(index, input), schemaProblems) };
  }
  const characterProblems = mayBreakCharacterRules(input) ? checkStringCharacters(index, input) : NONE;
  const ruleProblems = checkEventRules(index, input, limits.maxSegments);
  const timestampProblem = outsideDateRange(index, 'timestamp', input.timestamp);
  const receivedAtProblem = outsideDateRange(index, 'receivedAt', input.receivedAt);
  if (characterProblems.length > 0 || ruleProblems.length > 0 || timestampProblem || receivedAtProblem) {
    const rejections = onePerField(characterProblems, ruleProblems, timestampProblem, receivedAtProblem);
    return { ok: false, rejections };
  }
  const eventId = canonicalEventId(input.eventId);
  return { ok: true, event: eventId === input.eventId ? input : { ...input, eventId } };
}

/**
 * Per ASCII code, whether a text of that one character passes `accepts`: the contract's own
 * checks, read once at start-up into a table the fast path below indexes by character code.
 */
const asciiTable = (accepts: (text: string) => boolean): Uint8Array =>
  Uint8Array.from({ length: 128 }, (_, code) => (accepts(String.fromCharCode(code)) ? 1 : 0));
/** KEY_PATTERN is `[first][next]*`: which ASCII characters may open a key, and which may follow. */
const KEY_FIRST = asciiTable((text) => keyCheck.Check(text));
const KEY_NEXT = asciiTable((text) => keyCheck.Check(`a${text}`));
const USER_ID_ASCII = asciiTable((text) => userIdCheck.Check(text) && !controlOrBidiCharacter.test(text));
const SEGMENT_VALUE_ASCII = asciiTable((text) => segmentValueCheck.Check(text));
const uuidPattern = new RegExp(UUID_PATTERN);
const incomingTimestamp = IncomingEventSchema.properties.timestamp as unknown as { anyOf: readonly TSchema[] };
const timestampTextCheck = Compile(incomingTimestamp.anyOf[0] as TSchema);
/** The one version the fast path takes without looking further (any other goes the full way). */
const FAST_PATH_VERSION = SUPPORTED_CONTRACT_VERSIONS.includes(CURRENT_CONTRACT_VERSION)
  ? CURRENT_CONTRACT_VERSION
  : NaN;

/**
 * An ASCII identifier the contract accepts as experimentId, variantId, metric, segment name or
 * covariate name: 1 to KEY_MAX_LENGTH characters matching KEY_PATTERN, checked character by
 * character (a third cheaper than the regular expression on these short texts). False for
 * anything else, non-ASCII included: the caller then takes the full path.
 */
function isPlainKey(text: string): boolean {
  const length = text.length;
  if (length === 0 || length > KEY_MAX_LENGTH) return false;
  let code = text.charCodeAt(0);
  if (code >= 128 || KEY_FIRST[code] === 0) return false;
  for (let i = 1; i < length; i++) {
    code = text.charCodeAt(i);
    if (code >= 128 || KEY_NEXT[code] === 0) return false;
  }
  return true;
}

/**
 * Free text (a userId, a segment value) of 1 to `maxLength` code units every rule accepts: ASCII
 * characters by the table; at the first non-ASCII one, `fullCheck` decides for the whole text.
 * A false answer decides nothing (the caller takes the full path).
 */
function isPlainText(
  text: string,
  maxLength: number,
  ascii: Uint8Array,
  fullCheck: (text: string) => boolean,
): boolean {
  const length = text.length;
  if (length === 0 || length > maxLength) return false;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 128) return fullCheck(text);
    if (ascii[code] === 0) return false;
  }
  return true;
}

/** The userId rules: schema, well-formedness, no control or bidi character. */
const userIdAccepted = (text: string): boolean =>
  userIdCheck.Check(text) && text.isWellFormed() && !controlOrBidiCharacter.test(text);
/** The segment value rules: schema, well-formedness. */
const segmentValueAccepted = (text: string): boolean => segmentValueCheck.Check(text) && text.isWellFormed();

const isPlainUserId = (text: string): boolean => isPlainText(text, USER_ID_MAX_LENGTH, USER_ID_ASCII, userIdAccepted);
const isPlainSegmentValue = (text: string): boolean =>
  isPlainText(text, SEGMENT_VALUE_MAX_LENGTH, SEGMENT_VALUE_ASCII, segmentValueAccepted);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;

/**
 * The stream event, its keys in the order `normalizeIncomingEvent` writes them (the JSON
 * records' bytes), built as one literal per shape instead of with conditional spreads (a field
 * added after a literal goes to a separate properties array: one more allocation per event).
 * The compact decoder builds its events here too, so both record formats give one shape.
 */
export function streamEventOf(
  version: number,
  eventId: string,
  type: StreamEvent['type'],
  experimentId: string,
  variantId: string,
  userId: string,
  metric: string | undefined,
  value: number,
  segments: Record<string, string> | undefined,
  covariates: Record<string, number> | undefined,
  timestamp: number,
  receivedAt: number,
): StreamEvent {
  if (covariates !== undefined) {
    return metric === undefined
      ? segments === undefined
        ? { version, eventId, type, experimentId, variantId, userId, value, covariates, timestamp, receivedAt }
        : {
            version,
            eventId,
            type,
            experimentId,
            variantId,
            userId,
            value,
            segments,
            covariates,
            timestamp,
            receivedAt,
          }
      : segments === undefined
        ? { version, eventId, type, experimentId, variantId, userId, metric, value, covariates, timestamp, receivedAt }
        : {
            version,
            eventId,
            type,
            experimentId,
            variantId,
            userId,
            metric,
            value,
            segments,
            covariates,
            timestamp,
            receivedAt,
          };
  }
  return metric === undefined
    ? segments === undefined
      ? { version, eventId, type, experimentId, variantId, userId, value, timestamp, receivedAt }
      : { version, eventId, type, experimentId, variantId, userId, value, segments, timestamp, receivedAt }
    : segments === undefined
      ? { version, eventId, type, experimentId, variantId, userId, metric, value, timestamp, receivedAt }
      : { version, eventId, type, experimentId, variantId, userId, metric, value, segments, timestamp, receivedAt };
}

/** A string as JSON: quoted as it is, or escaped by `JSON.stringify` when it holds a quote or a backslash. */
const jsonText = (text: string): string =>
  text.includes('"') || text.includes('\\') ? JSON.stringify(text) : `"${text}"`;

/**
 * `JSON.stringify(event)` for an event the fast path accepted, built from its parts (about twice
 * as fast): every key and identifier matched KEY_PATTERN or is a UUID or the type, so needs no
 * escaping; the userId and the segment values hold no control character and no lone surrogate,
 * so they need escaping only for a quote or a backslash (`jsonText`); numbers are finite, whose
 * JSON is their `String`. The property test holds it to `JSON.stringify`.
 */
function streamEventJson(event: StreamEvent): string {
  let json = `{"version":${event.version},"eventId":"${event.eventId}","type":"${event.type}","experimentId":"${event.experimentId}","variantId":"${event.variantId}","userId":${jsonText(event.userId)}`;
  if (event.metric !== undefined) json += `,"metric":"${event.metric}"`;
  json += `,"value":${event.value}`;
  const { segments, covariates } = event;
  if (segments !== undefined) {
    let separator = '';
    json += ',"segments":{';
    for (const key in segments) {
      json += `${separator}"${key}":${jsonText(segments[key] as string)}`;
      separator = ',';
    }
    json += '}';
  }
  if (covariates !== undefined) {
    let separator = '';
    json += ',"covariates":{';
    for (const key in covariates) {
      json += `${separator}"${key}":${covariates[key]}`;
      separator = ',';
    }
    json += '}';
  }
  return `${json},"timestamp":${event.timestamp},"receivedAt":${event.receivedAt}}`;
}

/** A new eventId from the context's generator, lower-cased unless the generator's ids are already. */
function generatedEventId(ctx: NormalizeContext): string {
  const id = ctx.newEventId(ctx.now);
  return makesCanonicalIds(ctx.newEventId) ? id : canonicalEventId(id);
}

/**
 * The collector's fast path for the common event, for a value `JSON.parse` returned (a plain
 * object of own, enumerable data properties): one pass over its fields that accepts only what
 * every rule of `normalizeIncomingEvent` accepts and builds the same stream event, or
 * `undefined` — a rule broken, a non-ASCII key, a timestamp outside the window, an event near
 * the size limit, anything it is not sure of — when the caller must take
 * `normalizeIncomingEvent`. Results, rejections and messages are therefore
 * `normalizeIncomingEvent`'s for every input (the property test in validate-event.test.ts holds
 * the two to that). Not for objects built in code: a non-enumerable property is invisible here.
 *
 * @example
 *   const result = normalizeCommonEvent(candidate, ctx) ?? normalizeIncomingEvent(candidate, ctx);
 */
export function normalizeCommonEvent(input: unknown, ctx: NormalizeContext): EventValidation | undefined {
  if (!isPlainObject(input)) return undefined;
  const { version, eventId, type, experimentId, variantId, userId, metric, value, segments, covariates, timestamp } =
    input;
  if (type !== 'impression' && type !== 'conversion') return undefined;
  if (typeof experimentId !== 'string' || !isPlainKey(experimentId)) return undefined;
  if (typeof variantId !== 'string' || !isPlainKey(variantId)) return undefined;
  if (typeof userId !== 'string' || !isPlainUserId(userId)) return undefined;
  // The four required fields, then each optional one present: all the event's keys, or one is unknown.
  let fields = 4;
  let codeUnits = type.length + experimentId.length + variantId.length + userId.length;
  if (version !== undefined) {
    if (version !== FAST_PATH_VERSION) return undefined;
    fields++;
  }
  if (eventId !== undefined) {
    if (typeof eventId !== 'string' || !uuidPattern.test(eventId)) return undefined;
    fields++;
  }
  if (metric !== undefined) {
    if (typeof metric !== 'string' || !isPlainKey(metric)) return undefined;
    codeUnits += metric.length;
    fields++;
  } else if (type === 'conversion') return undefined;
  if (value !== undefined) {
    // Finite and within the bounds (NaN fails both comparisons).
    if (typeof value !== 'number' || !(value >= -MAX_EVENT_VALUE && value <= MAX_EVENT_VALUE)) return undefined;
    fields++;
  }
  let segmentCount = 0;
  if (segments !== undefined) {
    if (!isPlainObject(segments)) return undefined;
    const maxSegments = ctx.limits.maxSegments;
    for (const key in segments) {
      const text = segments[key];
      if (++segmentCount > maxSegments || !isPlainKey(key)) return undefined;
      if (typeof text !== 'string' || !isPlainSegmentValue(text)) return undefined;
      codeUnits += key.length + text.length;
    }
    fields++;
  }
  let covariateCount = -1;
  if (covariates !== undefined) {
    if (type !== 'impression' || !isPlainObject(covariates)) return undefined;
    covariateCount = 0;
    for (const key in covariates) {
      const number = covariates[key];
      if (++covariateCount > MAX_COVARIATES || !isPlainKey(key)) return undefined;
      if (typeof number !== 'number' || !(number >= -MAX_EVENT_VALUE && number <= MAX_EVENT_VALUE)) return undefined;
      codeUnits += key.length;
    }
    fields++;
  }
  const { now, limits } = ctx;
  let time = now;
  if (timestamp !== undefined) {
    if (typeof timestamp === 'number') {
      if (!Number.isInteger(timestamp)) return undefined;
      time = timestamp;
    } else if (typeof timestamp === 'string' && timestampTextCheck.Check(timestamp) && timestamp.isWellFormed()) {
      time = Date.parse(timestamp);
    } else return undefined;
    fields++;
  }
  // Inside the contract's range and the receive-time window (NaN fails every comparison); the receive time too.
  if (!(time >= EVENT_TIME_MIN_MS && time < EVENT_TIME_END_MS)) return undefined;
  if (!(time >= now - limits.maxAgeMs && time <= now + limits.maxFutureMs)) return undefined;
  if (!(now >= EVENT_TIME_MIN_MS && now < EVENT_TIME_END_MS)) return undefined;
  let keys = 0;
  for (const _key in input) keys++;
  if (keys !== fields) return undefined;

  const id = typeof eventId === 'string' ? canonicalEventId(eventId) : generatedEventId(ctx);
  const normalized = streamEventOf(
    version === undefined ? CURRENT_CONTRACT_VERSION : FAST_PATH_VERSION,
    id,
    type,
    experimentId,
    variantId,
    userId,
    metric,
    value === undefined ? 1 : value,
    segments as Record<string, string> | undefined,
    covariates as Record<string, number> | undefined,
    time,
    now,
  );
  if (ctx.serialize === false) {
    const bound = jsonByteBoundOf(codeUnits + id.length, segmentCount, covariateCount);
    if (bound > limits.maxEventBytes) return undefined;
    return { ok: true, event: normalized, serialized: undefined, jsonBytes: bound };
  }
  const serialized = streamEventJson(normalized);
  const bytes = Buffer.byteLength(serialized);
  if (bytes > limits.maxEventBytes) return undefined;
  return { ok: true, event: normalized, serialized, jsonBytes: bytes };
}
