/**
 * The experiment event contract, written once. The TypeBox schemas below are at the
 * same time the runtime validator (compiled), the TypeScript types (`Static<>`) and
 * the OpenAPI description (they are JSON Schema, served by the collector at /docs).
 *
 * Two shapes:
 * - `IncomingEvent`: what producers send. `eventId` and `version` may be omitted,
 *   `timestamp` may be an ISO-8601 string or epoch milliseconds.
 * - `StreamEvent`: what the collector writes to Kinesis and the processors read:
 *   normalised, with `eventId`, `version`, epoch-ms `timestamp` and `receivedAt` always set.
 */
import Type, { type Static } from 'typebox';

/** Contract versions this build understands. A producer sending another gets `unsupported-version`. */
export const SUPPORTED_CONTRACT_VERSIONS: readonly number[] = [1];
export const CURRENT_CONTRACT_VERSION = 1;

export const KEY_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:-]*$';
export const KEY_MAX_LENGTH = 64;
export const USER_ID_MAX_LENGTH = 128;
export const SEGMENT_VALUE_MAX_LENGTH = 64;
/** Values beyond this magnitude are almost always unit bugs (cents vs. dollars ×1e6) and overflow Σx². */
export const MAX_ABS_VALUE = 1e12;
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
/** No control characters: they break logs, CSV exports and OpenSearch keyword fields. */
const PRINTABLE_PATTERN = '^[^\\u0000-\\u001f\\u007f]+$';

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
    pattern: PRINTABLE_PATTERN,
    description: 'First-party user id (the randomisation unit); printable, at most 128 characters.',
  }),
  type: EventType,
  metric: Type.Optional({ ...EventKey, description: 'Metric key; required for conversions.' }),
  value: Type.Optional(
    Type.Number({
      minimum: -MAX_ABS_VALUE,
      maximum: MAX_ABS_VALUE,
      description: 'Finite number, |value| ≤ 1e12; defaults to 1.',
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
};

export const IncomingEventSchema = Type.Object(
  {
    version: Type.Optional(Type.Integer({ description: 'Contract version; defaults to 1.' })),
    eventId: Type.Optional(
      Type.String({
        pattern: UUID_PATTERN,
        description: 'Client-generated UUID; the collector assigns a UUIDv7 if missing.',
      }),
    ),
    ...commonEventProperties,
    timestamp: Type.Optional(
      Type.Union([Type.String({ format: 'date-time', maxLength: 40 }), Type.Integer({ minimum: 0 })], {
        description: 'When the event happened: ISO-8601 or epoch milliseconds; defaults to the receive time.',
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
    value: Type.Number({ minimum: -MAX_ABS_VALUE, maximum: MAX_ABS_VALUE }),
    timestamp: Type.Integer({ minimum: 0 }),
    receivedAt: Type.Integer({ minimum: 0, description: 'Collector receive time, epoch ms.' }),
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
  /** Stable rule name, e.g. `required`, `max-length`, `pattern`, `timestamp-too-old`. */
  rule: string;
  message: string;
}

export const EventRejectionSchema = Type.Object({
  index: Type.Integer(),
  field: Type.String(),
  rule: Type.String(),
  message: Type.String(),
});
