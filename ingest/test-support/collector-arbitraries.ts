/**
 * fast-check arbitraries for fuzzing the collector: events that are valid, nearly valid or
 * nonsense; bodies in every shape the route reads and many it does not (truncated, not UTF-8,
 * UTF-16, deep, over the event limit); content types with every kind of charset; and arbitrary
 * extra headers. Sizes are bounded so a run of a few hundred requests takes seconds.
 */
import fc from 'fast-check';

/** Strings that have broken ids before: lone surrogates, C0/C1 controls, bidi, BOM, long, empty. */
const NASTY_STRINGS = [
  '',
  ' ',
  '\ud800',
  'a\udc00',
  '\udbff\ud800',
  'nel\u0085',
  'csi\u009b',
  'nul\u0000',
  'tab\t',
  'del\u007f',
  'admin\u202e',
  'iso\u2066late',
  '\ufeffbom',
  'zoë-李-😀',
  'ﬀ',
  'x'.repeat(65),
  'u'.repeat(129),
  '__proto__',
  'constructor',
  'toString',
];

const printable = fc.string({ unit: 'grapheme-ascii', maxLength: 12 });

/** Strings for ids: mostly plausible, often hostile. */
export const idString: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_.:-]{0,11}$/) },
  { weight: 2, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 1, arbitrary: printable },
);

const anyJsonValue = fc.jsonValue({ maxDepth: 3 });

/** A timestamp around `now`: mostly inside the accepted window, sometimes far out or malformed. */
const timestampNear = (now: number): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: -3_600_000, max: 60_000 }).map((offset) => now + offset) },
    {
      weight: 2,
      arbitrary: fc.integer({ min: -3_600_000, max: 60_000 }).map((offset) => new Date(now + offset).toISOString()),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(0, -1, 9e15, 1e300, 946_684_799_999, '2099-12-31T23:59:59Z', 'yesterday', ''),
    },
    { weight: 1, arbitrary: fc.double() },
    { weight: 1, arbitrary: idString },
  );

const numberLike: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.double({ min: -1e8, max: 1e8, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(1e8, -1e8, 1e8 + 1, 1e12, -0, 5e-324, Number.MAX_VALUE) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: anyJsonValue },
);

/** A key the contract accepts (experimentId, variantId, metric, segment names). */
const contractKey = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}$/);
/** Free text: any Unicode, sometimes ill-formed (lone surrogates come from `binary`). */
const freeText = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
);

/** An event that is valid but for the free text it carries (user ids, segment values in any script). */
const mostlyValidEvent = (now: number): fc.Arbitrary<Record<string, unknown>> =>
  fc
    .record(
      {
        eventId: fc.option(
          fc.oneof(
            fc.uuid(),
            fc.uuid().map((id) => id.toUpperCase()),
          ),
          { nil: undefined },
        ),
        type: fc.constantFrom('impression', 'conversion'),
        experimentId: contractKey,
        variantId: contractKey,
        userId: freeText,
        metric: contractKey,
        value: fc.option(fc.double({ min: -1e8, max: 1e8, noNaN: true }), { nil: undefined }),
        segments: fc.option(fc.dictionary(contractKey, freeText, { maxKeys: 10 }), { nil: undefined }),
        timestamp: fc.option(
          fc.oneof(
            fc.integer({ min: -3_600_000, max: 60_000 }).map((offset) => now + offset),
            fc.integer({ min: -3_600_000, max: 60_000 }).map((offset) => new Date(now + offset).toISOString()),
          ),
          { nil: undefined },
        ),
      },
      { requiredKeys: ['type', 'experimentId', 'variantId', 'userId'] },
    )
    .map((event) => JSON.parse(JSON.stringify(event)) as Record<string, unknown>);

const FIELDS = [
  'version',
  'eventId',
  'type',
  'experimentId',
  'variantId',
  'userId',
  'metric',
  'value',
  'segments',
  'timestamp',
];

/** A hostile value for any field. */
const hostileValue = (now: number): fc.Arbitrary<unknown> =>
  fc.oneof(idString, numberLike, timestampNear(now), anyJsonValue, fc.dictionary(idString, idString, { maxKeys: 12 }));

/** One change that may break an event: a field replaced, removed, or added. */
const mutation = (now: number): fc.Arbitrary<(event: Record<string, unknown>) => Record<string, unknown>> =>
  fc.oneof(
    fc
      .tuple(fc.constantFrom(...FIELDS), hostileValue(now))
      .map(([field, value]) => (event: Record<string, unknown>) => ({ ...event, [field]: value })),
    fc.constantFrom(...FIELDS).map((field) => (event: Record<string, unknown>) => {
      const { [field]: _removed, ...rest } = event;
      return rest;
    }),
    fc
      .tuple(fc.string({ unit: 'binary', maxLength: 8 }), anyJsonValue)
      .map(([key, value]) => (event: Record<string, unknown>) => ({ ...event, [key]: value })),
  );

/** An event: valid, valid but for a few mutations, or anything at all. */
export const eventArbitrary = (now: number): fc.Arbitrary<unknown> => {
  const mutated = fc
    .tuple(mostlyValidEvent(now), fc.array(mutation(now), { minLength: 1, maxLength: 3 }))
    .map(([event, changes]) => changes.reduce((current, change) => change(current), event));
  return fc.oneof(
    { weight: 5, arbitrary: mostlyValidEvent(now) },
    { weight: 4, arbitrary: mutated },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 3, maxKeys: 6 }) },
  );
};

/** A body and what the sender knows about it. */
export interface FuzzBody {
  payload: string | Buffer;
  /** Events the body carries when it is a well-formed JSON batch (for the bookkeeping invariant). */
  events?: number;
  description: string;
}

const toNdjson = (events: unknown[]): string => events.map((event) => JSON.stringify(event) ?? 'undefined').join('\n');

/** Bodies: batches in each shape, broken in each way. `maxEvents` lets batches cross the limit. */
export const bodyArbitrary = (now: number, maxEvents: number): fc.Arbitrary<FuzzBody> => {
  const events = fc.array(eventArbitrary(now), { maxLength: 12 });
  const overLimit = fc
    .tuple(eventArbitrary(now), fc.integer({ min: maxEvents - 1, max: maxEvents + 3 }))
    .map(([event, count]) => Array.from({ length: count }, () => event));
  const batch = fc.oneof({ weight: 6, arbitrary: events }, { weight: 1, arbitrary: overLimit });
  return fc.oneof(
    {
      weight: 6,
      arbitrary: batch.map((list) => ({ payload: JSON.stringify(list), events: list.length, description: 'array' })),
    },
    {
      weight: 2,
      arbitrary: batch.map((list) => ({
        payload: JSON.stringify({ events: list }),
        events: list.length,
        description: '{events}',
      })),
    },
    { weight: 2, arbitrary: batch.map((list) => ({ payload: toNdjson(list), description: 'ndjson' })) },
    {
      weight: 1,
      arbitrary: fc.tuple(events, fc.nat()).map(([list, cut]) => {
        const text = JSON.stringify(list);
        return { payload: text.slice(0, cut % (text.length + 1)), description: 'truncated' };
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          events,
          fc.nat(),
          fc.constantFrom([0xff], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]),
        )
        .map(([list, at, bad]) => {
          const bytes = Buffer.from(JSON.stringify(list));
          const cut = at % (bytes.length + 1);
          return {
            payload: Buffer.concat([bytes.subarray(0, cut), Buffer.from(bad), bytes.subarray(cut)]),
            description: 'invalid utf-8',
          };
        }),
    },
    {
      weight: 1,
      arbitrary: events.map((list) => ({
        payload: Buffer.from(JSON.stringify(list), 'utf16le'),
        description: 'utf-16',
      })),
    },
    { weight: 1, arbitrary: fc.json({ maxDepth: 4 }).map((text) => ({ payload: text, description: 'json' })) },
    {
      weight: 1,
      arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ payload: text, description: 'text' })),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ maxLength: 300 })
        .map((bytes) => ({ payload: Buffer.from(bytes), description: 'bytes' })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 5_000 }).map((depth) => ({
        payload: `${'['.repeat(depth)}${']'.repeat(depth)}`,
        description: `depth ${depth}`,
      })),
    },
  );
};

/** Content types: the accepted ones and their charset spellings, and many that are not. */
export const contentTypeArbitrary: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset=UTF8',
      'application/json;charset="utf-8"',
      'Application/JSON',
      'application/x-ndjson',
      'application/ndjson; charset=utf-8',
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-16',
      'application/json; charset=iso-8859-1',
      'application/json; charset=',
      'application/json; charset=utf-8; charset=utf-16',
      'text/plain',
      'application/xml',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
      '',
    ),
  },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: printable },
  { weight: 1, arbitrary: printable.map((p) => `application/json; ${p}`) },
);

/** Header names a client may send freely (framing headers are left to the HTTP layer). */
const headerName = fc.constantFrom(
  'x-api-key',
  'x-request-id',
  'accept',
  'accept-encoding',
  'accept-charset',
  'content-encoding',
  'user-agent',
  'authorization',
  'x-forwarded-for',
  'origin',
  'x-custom',
);

/** Extra headers with printable ASCII values. */
export const extraHeadersArbitrary: fc.Arbitrary<Record<string, string>> = fc.dictionary(
  headerName,
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).map((value) => value.trim()),
  { maxKeys: 4 },
);
