/**
 * Schemas of the audit routes: the event as exported and listed, the query strings, and
 * the verification report. One source for validation, serialization and /docs.
 */
import Type, { type Static } from 'typebox';
import { EventKey } from '../../common/event-contract.js';

const NullableString = (description: string) => Type.Union([Type.String(), Type.Null()], { description });

export const AuditEventSchema = Type.Object(
  {
    position: Type.Integer({ minimum: 1, description: 'Place in the chain: 1, 2, 3, … without gaps.' }),
    id: Type.String({ description: 'UUID of the event.' }),
    time: Type.String({ description: 'When it was recorded: ISO 8601, UTC, milliseconds.' }),
    v: Type.Integer({ minimum: 1, description: 'Format version of the event and of its signed payload.' }),
    keyId: Type.String({ description: 'Id of the signing key (`hk-` + 16 hex digits, derived from the key).' }),
    actor: Type.Object(
      {
        type: Type.Enum(['api-key', 'user', 'anonymous', 'system']),
        id: Type.String({ description: 'API key id (`key#0`), token `sub`, `anonymous` or the service name.' }),
        username: NullableString('The token’s `username` for users.'),
      },
      { additionalProperties: false },
    ),
    sourceIp: NullableString('Client address.'),
    requestId: NullableString('The request’s `x-request-id`.'),
    action: Type.String({ description: '`experiment.created`, `flag.updated`, `session.signed-out`, …' }),
    resource: Type.Object(
      { type: Type.String(), id: Type.String() },
      { additionalProperties: false, description: 'What changed: `experiment`/`flag` and its key, …' },
    ),
    change: Type.Record(Type.String(), Type.Unknown(), {
      description: 'Created: `{after}`; changed: `{fields: {name: {before, after}}}`; deleted: `{before}`.',
    }),
    previousSignature: Type.String({ description: 'The signature of the event before (64 zeros for the first).' }),
    signature: Type.String({ description: 'Hex HMAC-SHA256 over the canonical event (query-api/README.md).' }),
  },
  { additionalProperties: false, $id: 'AuditEvent' },
);

const TimeBound = (description: string) => Type.Optional(Type.String({ format: 'date-time', description }));

export const ExportQuerySchema = Type.Object(
  {
    from: TimeBound('Start (inclusive), ISO 8601 with a time zone; default: the first event.'),
    to: TimeBound('End (exclusive); default: the chain head when the export starts.'),
    format: Type.Enum(['ndjson', 'csv'], { default: 'ndjson', description: 'One JSON object per line, or CSV.' }),
  },
  { additionalProperties: false },
);
export type ExportQuery = Static<typeof ExportQuerySchema>;

export const VerifyQuerySchema = Type.Object(
  {
    from: TimeBound('Start (inclusive); default: the first event.'),
    to: TimeBound('End (exclusive); default: the chain head.'),
  },
  { additionalProperties: false },
);
export type VerifyQuery = Static<typeof VerifyQuerySchema>;

export const AuditEventsQuerySchema = Type.Object(
  {
    resourceId: { ...EventKey, description: 'The experiment or flag key, or a session’s token id.' },
    resourceType: Type.Optional(
      Type.String({
        pattern: '^[a-z][a-z-]{0,63}$',
        description: 'Only this type: `experiment`, `flag`, `session`, …',
      }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'Page size.' }),
    after: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Older than this position: the previous page’s `nextAfter`.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type AuditEventsQuery = Static<typeof AuditEventsQuerySchema>;

const FailureSchema = Type.Object({
  problem: Type.Enum([
    'signature-mismatch',
    'unknown-key',
    'broken-link',
    'missing-events',
    'out-of-order',
    'malformed',
  ]),
  position: Type.Union([Type.Integer(), Type.Null()]),
  id: Type.Union([Type.String(), Type.Null()]),
  line: Type.Optional(Type.Integer()),
  message: Type.String(),
});

export const VerifyReportSchema = Type.Object({
  ok: Type.Boolean({ description: 'True when every event in the range verifies and nothing is missing.' }),
  events: Type.Integer({ description: 'Events read.' }),
  firstPosition: Type.Union([Type.Integer(), Type.Null()]),
  lastPosition: Type.Union([Type.Integer(), Type.Null()]),
  keyIds: Type.Array(Type.String(), { description: 'Keys that signed the events read.' }),
  firstFailure: Type.Union([FailureSchema, Type.Null()], { description: 'The first event that does not verify.' }),
  failures: Type.Array(FailureSchema, { description: 'Every finding, in chain order (at most 100).' }),
  moreFailures: Type.Integer({ description: 'Findings beyond the listed ones.' }),
});
