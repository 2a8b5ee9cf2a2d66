/**
 * The experiment event contract, written once. The TypeBox schemas below are at the
 * same time the runtime validator (compiled), the TypeScript types (`Static<>`) and
 * the OpenAPI description (they are JSON Schema, served by the collector at /docs).
 *
 * Two shapes:
 * - `IncomingEvent`: what producers send. `eventId` and `version` may be omitted,
 *   `timestamp` may be an ISO-8601 string or epoch milliseconds.
 * - `StreamEvent`: what the collector writes to Kinesis and the processors read:
 *   normalised, with `eventId` (lower case), `version`, epoch-ms `timestamp` and `receivedAt` always set.
 *
 * Rules JSON Schema cannot say are checked in `validate-event.ts`, the same on both sides: every
 * string is well-formed Unicode (no lone surrogates), ids carry no control or bidi characters,
 * `timestamp` and `receivedAt` lie in [EVENT_TIME_MIN_MS, EVENT_TIME_END_MS), conversions name
 * their metric, only impressions carry `covariates`. The bounds below are what lets every sink
 * take every accepted event.
 */
import Type, { type Static } from 'typebox';

/** Contract versions this build understands. A producer sending another gets `unsupported-version`. */
export const SUPPORTED_CONTRACT_VERSIONS: readonly number[] = [1];
export const CURRENT_CONTRACT_VERSION = 1;

export const KEY_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:-]*$';
export const KEY_MAX_LENGTH = 64;
export const USER_ID_MAX_LENGTH = 128;
export const SEGMENT_VALUE_MAX_LENGTH = 64;
/**
 * Largest |value| of one event. Larger values are almost always unit bugs (cents vs. dollars
 * ×1e6); the bound is what keeps the processors' per-user sums and Σx² inside what the sinks store.
 */
export const MAX_EVENT_VALUE = 1e8;
/**
 * Largest |running total| of one user per (experiment, variant, metric). The processors enforce
 * that a user's running total stays within ±MAX_USER_TOTAL, so each user's x² is at most 1e16 and
 * a counter cell's Σx² (12 decimals kept) stays below 1e38, inside DynamoDB's 38 significant
 * digits, for any cell of fewer than 10^10 users.
 */
export const MAX_USER_TOTAL = 1e8;
/**
 * Most `covariates` one impression may carry. Covariates are per-user pre-exposure values of
 * metrics (CUPED); an experiment analyses a handful of metrics, far below this.
 */
export const MAX_COVARIATES = 20;
/** First instant an event's `timestamp`/`receivedAt` may name: 2000-01-01T00:00:00Z, epoch ms. */
export const EVENT_TIME_MIN_MS = Date.UTC(2000, 0, 1);
/** First instant past the accepted range (exclusive): 2100-01-01T00:00:00Z, epoch ms. */
export const EVENT_TIME_END_MS = Date.UTC(2100, 0, 1);
/** Canonical eventIds are lower case; upper-case hex is accepted and lower-cased on the way in. */
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
/** C0 controls, DEL and C1 controls (as a regex character-class body): they break logs, CSV exports, keyword fields. */
export const CONTROL_CHARACTERS = '\\u0000-\\u001f\\u007f-\\u009f';
/** Bidi embedding/override (U+202A–U+202E) and isolate (U+2066–U+2069) characters: they make ids display as other ids. */
export const BIDI_CONTROL_CHARACTERS = '\\u202a-\\u202e\\u2066-\\u2069';
/** No C0 controls or DEL in free text such as segment values. */
const PRINTABLE_PATTERN = '^[^\\u0000-\\u001f\\u007f]+$';
/** A user id: free text without control (C0, DEL, C1) or bidi-control characters. */
const USER_ID_PATTERN = `^[^${CONTROL_CHARACTERS}${BIDI_CONTROL_CHARACTERS}]+$`;

export const EventKey = Type.String({
  minLength: 1,
  maxLength: KEY_MAX_LENGTH,
  pattern: KEY_PATTERN,
  description: 'Identifier: letters, digits, and _ . : - (not first); at most 64 characters.',
});

export const EventType = Type.Enum(['impression', 'conversion'], {
  description: '`impression`: the user was exposed to the variant. `conversion`: the user produced a metric event.',
});

const commonEventProperties = {
  experimentId: EventKey,
  variantId: EventKey,
  userId: Type.String({
    minLength: 1,
    maxLength: USER_ID_MAX_LENGTH,
    pattern: USER_ID_PATTERN,
    description:
      'First-party user id (the randomisation unit); well-formed Unicode without control or bidi characters, at most 128 characters.',
  }),
  type: EventType,
  metric: Type.Optional({ ...EventKey, description: 'Metric key; required for conversions.' }),
  value: Type.Optional(
    Type.Number({
      minimum: -MAX_EVENT_VALUE,
      maximum: MAX_EVENT_VALUE,
      description: 'Finite number, |value| ≤ 1e8; defaults to 1.',
    }),
  ),
  segments: Type.Optional(
    Type.Record(
      Type.String({ maxLength: KEY_MAX_LENGTH, pattern: KEY_PATTERN }),
      Type.String({ minLength: 1, maxLength: SEGMENT_VALUE_MAX_LENGTH, pattern: PRINTABLE_PATTERN }),
      {
        description: 'Segment dimensions (country, device, browser …): key → value; at most 10 by default.',
      },
    ),
  ),
  covariates: Type.Optional(
    Type.Record(
      Type.String({ maxLength: KEY_MAX_LENGTH, pattern: KEY_PATTERN }),
      Type.Number({ minimum: -MAX_EVENT_VALUE, maximum: MAX_EVENT_VALUE }),
      {
        maxProperties: MAX_COVARIATES,
        description:
          'Impressions only: pre-exposure values for CUPED, metric key → finite number with |value| ≤ 1e8, ' +
          "computed by the producer from the user's history before the exposure; at most 20. " +
          "Like segments, a user's covariates are fixed at their first event (later ones are ignored); a metric without one reads 0.",
      },
    ),
  ),
};

export const IncomingEventSchema = Type.Object(
  {
    version: Type.Optional(Type.Integer({ description: 'Contract version; defaults to 1.' })),
    eventId: Type.Optional(
      Type.String({
        pattern: UUID_PATTERN,
        description:
          'Client-generated UUID, case-insensitive (stored lower case); the collector assigns a UUIDv7 if missing.',
      }),
    ),
    ...commonEventProperties,
    timestamp: Type.Optional(
      Type.Union([Type.String({ format: 'date-time', maxLength: 40 }), Type.Integer({ minimum: 0 })], {
        description:
          'When the event happened: ISO-8601 or epoch milliseconds, in [2000-01-01, 2100-01-01) UTC; defaults to the receive time.',
      }),
    ),
  },
  { additionalProperties: false, $id: 'IncomingEvent' },
);
export type IncomingEvent = Static<typeof IncomingEventSchema>;

export const StreamEventSchema = Type.Object(
  {
    version: Type.Integer(),
    eventId: Type.String({ pattern: UUID_PATTERN }),
    ...commonEventProperties,
    value: Type.Number({ minimum: -MAX_EVENT_VALUE, maximum: MAX_EVENT_VALUE }),
    timestamp: Type.Integer({ minimum: 0, description: 'Epoch ms in [2000-01-01, 2100-01-01) UTC.' }),
    receivedAt: Type.Integer({
      minimum: 0,
      description: 'Collector receive time, epoch ms in [2000-01-01, 2100-01-01) UTC.',
    }),
  },
  { additionalProperties: false, $id: 'StreamEvent' },
);
/** The normalised event on the stream. */
export type StreamEvent = Static<typeof StreamEventSchema>;

/** One reason an event was refused: which event, which field, which rule. Stable, machine-readable. */
export interface EventRejection {
  /** Position of the event in the request (or record in the batch). */
  index: number;
  /** Dotted path of the field (`segments.country`), or `(event)` for the event as a whole. */
  field: string;
  /**
   * Stable rule name, e.g. `required`, `max-length`, `pattern`, `range`, `date-range`, `timestamp-too-old`,
   * `well-formed-unicode`, `control-character`, `bidi-control`.
   */
  rule: string;
  message: string;
}

export const EventRejectionSchema = Type.Object({
  index: Type.Integer(),
  field: Type.String(),
  rule: Type.String(),
  message: Type.String(),
});
