/**
 * Regression tests for the collector defects of issue 11, through `app.inject` on a collector that
 * writes to kinesalite: response amplification (events per request, bounded rejection list,
 * linear work), the charset rule, bytes that are not UTF-8, and ill-formed Unicode, C1 and bidi
 * characters in ids.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { MAX_LISTED_REJECTIONS, MAX_REJECTION_FIELD_CHARS } from './rejection-summary.js';
import { sampleEvent, startCollectorHarness, type CollectorHarness } from './test-support/collector-harness.js';
import { emptyObjectsBody, injectEvents, repeatedEvents } from './test-support/hostile-bodies.js';

/** Largest answer any request may get (the probe once got 117 MB). */
const ANSWER_MAX_BYTES = 64 * 1024;

let h: CollectorHarness;
beforeAll(async () => {
  h = await startCollectorHarness({ INGEST_LINGER_MS: '0' });
});
afterAll(async () => h.close());

const written = async (): Promise<number> => (await h.streamEvents()).length;
const valid = (overrides: Record<string, unknown> = {}): Record<string, unknown> => sampleEvent(overrides);

describe('collector: events per request and the size of its answers', () => {
  it('answers the 1,020,001-byte body of {} objects (the probe) with a small, fast 413 naming max-events', async () => {
    const body = emptyObjectsBody(1_020_001);
    expect(body.length).toBe(1_020_001);
    const before = await written();
    const answer = await injectEvents(h.collector.app, body);
    // Before the fix: 400 with a 117 MB body listing 1.4 million problems, after 7–35 s.
    expect(answer.status).toBe(413);
    expect(answer.bytes).toBeLessThan(1024);
    expect(answer.ms).toBeLessThan(2_000);
    expect(answer.body.error).toMatchObject({
      code: 'BODY_TOO_LARGE',
      details: { rule: 'max-events', limit: 500, events: 339_999 },
    });
    expect(answer.body.error.message).toMatch(/max-events/);
    expect(await written()).toBe(before);
  });

  it('counts NDJSON lines before parsing any of them: a 1 MB body of {} lines gets the same small 413', async () => {
    const answer = await injectEvents(h.collector.app, emptyObjectsBody(1_020_001, 'ndjson'), {
      'content-type': 'application/x-ndjson',
    });
    expect(answer.status).toBe(413);
    expect(answer.bytes).toBeLessThan(1024);
    expect(answer.body.error.details).toEqual({ rule: 'max-events', limit: 500, events: 340_000 });
  });

  it('accepts 500 events and refuses 501 whole, in both JSON shapes, writing none of the 501', async () => {
    const five00 = Array.from({ length: 500 }, () => valid());
    const accepted = await injectEvents(h.collector.app, JSON.stringify({ events: five00 }));
    expect(accepted.status).toBe(202);
    expect(accepted.body.accepted).toBe(500);
    const before = await written();
    for (const payload of [JSON.stringify([...five00, valid()]), JSON.stringify({ events: [...five00, valid()] })]) {
      const refused = await injectEvents(h.collector.app, payload);
      expect(refused.status).toBe(413);
      expect(refused.body.error.details).toEqual({ rule: 'max-events', limit: 500, events: 501 });
    }
    expect(await written()).toBe(before);
  });

  it('lists the first 100 problems only, with the total, a count per rule and every invalid index', async () => {
    // 500 empty events: 4 required fields missing in each, 2,000 problems.
    const answer = await injectEvents(h.collector.app, repeatedEvents({}, 500));
    expect(answer.status).toBe(400);
    expect(answer.bytes).toBeLessThan(ANSWER_MAX_BYTES);
    expect(answer.body.error.code).toBe('EVENT_INVALID');
    expect(answer.body.rejected).toHaveLength(MAX_LISTED_REJECTIONS);
    expect(answer.body.rejectedTotal).toBe(2_000);
    expect(answer.body.rejectedByRule).toEqual({ required: 2_000 });
    expect(answer.body.invalidIndexes).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(answer.body.retryIndexes).toEqual([]);
    const indexes = answer.body.rejected.map((r: { index: number }) => r.index);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    expect(answer.body.rejected.slice(0, 4)).toEqual(
      ['experimentId', 'variantId', 'userId', 'type'].map((field) => expect.objectContaining({ index: 0, field })),
    );
  });

  it('still writes the valid events of a request whose problems overflow the list', async () => {
    const events: Record<string, unknown>[] = Array.from({ length: 400 }, () => ({ colour: 'red' }));
    events.push(valid({ userId: 'after-400-bad-ones' }));
    const answer = await injectEvents(h.collector.app, JSON.stringify(events));
    expect(answer.status).toBe(202);
    expect(answer.body.accepted).toBe(1);
    expect(answer.body.rejected).toHaveLength(MAX_LISTED_REJECTIONS);
    expect(answer.body.invalidIndexes).toHaveLength(400);
    expect(answer.body.invalidIndexes).not.toContain(400);
    expect((await h.streamEvents()).some((w) => w.partitionKey === 'after-400-bad-ones')).toBe(true);
  });

  it('cuts a client-chosen field name in a rejection to a fixed length', async () => {
    const longKey = 'k'.repeat(200_000);
    const answer = await injectEvents(h.collector.app, JSON.stringify([{ ...valid(), [longKey]: 1 }]));
    expect(answer.status).toBe(400);
    expect(answer.bytes).toBeLessThan(2_048);
    expect(answer.body.rejected).toEqual([expect.objectContaining({ rule: 'unknown-field' })]);
    expect(answer.body.rejected[0].field.length).toBeLessThanOrEqual(MAX_REJECTION_FIELD_CHARS);
    expect(answer.body.rejected[0].message.length).toBeLessThanOrEqual(240);
  });

  it('refuses an event with tens of thousands of fields or dimensions by counting, without walking them all', async () => {
    const manyFields = Object.fromEntries(Array.from({ length: 25_000 }, (_, i) => [`f${i}`, 1]));
    const manySegments = valid({
      segments: Object.fromEntries(Array.from({ length: 25_000 }, (_, i) => [`d${i}`, 'x'])),
    });
    const manyCovariates = valid({
      type: 'impression',
      metric: undefined,
      covariates: Object.fromEntries(Array.from({ length: 25_000 }, (_, i) => [`m${i}`, 1])),
    });
    const answer = await injectEvents(h.collector.app, JSON.stringify([manyFields, manySegments, manyCovariates]));
    expect(answer.status).toBe(400);
    expect(answer.bytes).toBeLessThan(2_048);
    expect(
      answer.body.rejected.map((r: { index: number; field: string; rule: string }) => [r.index, r.field, r.rule]),
    ).toEqual([
      [0, '(event)', 'max-properties'],
      [1, 'segments', 'max-properties'],
      [2, 'covariates', 'max-properties'],
    ]);
  });

  it('refuses a body nested deeper than any event needs (400, rule max-depth) before parsing it', async () => {
    const deep = `[${'['.repeat(300_000)}${']'.repeat(300_000)}]`;
    const answer = await injectEvents(h.collector.app, deep);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'BODY_UNPARSEABLE', details: { rule: 'max-depth' } });
    expect(answer.ms).toBeLessThan(2_000);
  });

  it('refuses a segment whose name breaks the key rule and whose value is not a string (found by the fuzz suite: was 500)', async () => {
    const answer = await injectEvents(
      h.collector.app,
      JSON.stringify([
        valid({ segments: { '': 0 } }),
        valid({ segments: { '-x': [] } }),
        valid({ segments: { ' ': {} } }),
      ]),
    );
    expect(answer.status).toBe(400);
    expect(answer.body.rejected.map((r: { index: number; rule: string }) => [r.index, r.rule])).toEqual([
      [0, 'pattern'],
      [1, 'pattern'],
      [2, 'pattern'],
    ]);
  });

  it('counts whole-request refusals by rule in /metrics', async () => {
    await injectEvents(h.collector.app, repeatedEvents(valid(), 501));
    const metrics = (await h.collector.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/collector_requests_refused_total\{rule="max-events"\} [1-9]/);
  });
});

describe('collector: INGEST_MAX_EVENTS_PER_REQUEST', () => {
  it('is read from the environment (default 500) and validated', () => {
    expect(loadConfig({}).ingest.maxEventsPerRequest).toBe(500);
    expect(loadConfig({ INGEST_MAX_EVENTS_PER_REQUEST: '20' }).ingest.maxEventsPerRequest).toBe(20);
    expect(() => loadConfig({ INGEST_MAX_EVENTS_PER_REQUEST: '0' })).toThrow(/INGEST_MAX_EVENTS_PER_REQUEST/);
  });

  it('caps requests at the configured number', async () => {
    const small = await startCollectorHarness({ INGEST_MAX_EVENTS_PER_REQUEST: '3' });
    try {
      const ok = await injectEvents(small.collector.app, repeatedEvents(valid(), 3));
      expect(ok.status).toBe(202);
      const refused = await injectEvents(small.collector.app, repeatedEvents(valid(), 4));
      expect(refused.status).toBe(413);
      expect(refused.body.error.details).toEqual({ rule: 'max-events', limit: 3, events: 4 });
    } finally {
      await small.close();
    }
  });
});

describe('collector: UTF-8 only', () => {
  const body = JSON.stringify([sampleEvent({ userId: 'charset-probe' })]);

  it.each(['utf-16', 'UTF-16LE', 'iso-8859-1', 'us-ascii', 'utf-7', ''])(
    'refuses charset=%j with 415 naming the rule, and writes nothing',
    async (charset) => {
      const before = await written();
      const answer = await injectEvents(h.collector.app, body, {
        'content-type': `application/json; charset=${charset}`,
      });
      // Before the fix: 202, the body read as UTF-8 whatever it said.
      expect(answer.status).toBe(415);
      expect(answer.body.error).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', details: { rule: 'charset' } });
      expect(answer.body.error.message).toMatch(/UTF-8/);
      expect(await written()).toBe(before);
    },
  );

  it('refuses a UTF-16 body announced as UTF-16 with 415 (not a JSON error)', async () => {
    const answer = await injectEvents(h.collector.app, Buffer.from(body, 'utf16le'), {
      'content-type': 'application/json; charset=utf-16',
    });
    expect(answer.status).toBe(415);
    expect(answer.body.error.details.rule).toBe('charset');
  });

  it.each([
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=UTF-8',
    'application/json;charset=utf8',
    'application/json; Charset="UTF8"',
    'application/x-ndjson; charset=utf-8',
  ])('accepts %j', async (contentType) => {
    const payload = contentType.includes('ndjson') ? JSON.stringify(sampleEvent()) : body;
    const answer = await injectEvents(h.collector.app, payload, { 'content-type': contentType });
    expect(answer.status).toBe(202);
    expect(answer.body.accepted).toBe(1);
  });

  it('refuses other media types with 415 rule media-type', async () => {
    const answer = await injectEvents(h.collector.app, body, { 'content-type': 'text/plain' });
    expect(answer.status).toBe(415);
    expect(answer.body.error.details).toEqual({ rule: 'media-type' });
  });

  it.each([
    ['a lone 0xFF byte', [0xff]],
    ['a truncated sequence', [0xc3]],
    ['an overlong "/"', [0xc0, 0xaf]],
    ['an encoded surrogate (CESU-8)', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('refuses a body holding %s with 400 rule utf-8, writing nothing', async (_what, bytes) => {
    const before = await written();
    const payload = Buffer.concat([
      Buffer.from('[{"type":"impression","experimentId":"e","variantId":"v","userId":"bad-'),
      Buffer.from(bytes),
      Buffer.from('"}]'),
    ]);
    const answer = await injectEvents(h.collector.app, payload);
    // Before the fix: 202, the byte(s) turned into U+FFFD, so different users became one.
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'BODY_UNPARSEABLE', details: { rule: 'utf-8' } });
    expect(await written()).toBe(before);
  });

  it('writes non-ASCII ids exactly as sent, and drops a leading byte-order mark', async () => {
    const userId = 'zoë-李-😀';
    const payload = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify([valid({ userId })]))]);
    const answer = await injectEvents(h.collector.app, payload);
    expect(answer.status).toBe(202);
    expect((await h.streamEvents()).some((w) => w.event.userId === userId)).toBe(true);
  });
});

describe('collector: ill-formed Unicode, C1 and bidi characters in ids (through app.inject)', () => {
  const base = '"type":"impression","experimentId":"exp","variantId":"v"';
  const cases: [string, string, string, string][] = [
    // [what, raw JSON event text, field, rule]
    ['a lone high surrogate escaped in userId', `{${base},"userId":"u\\ud800"}`, 'userId', 'well-formed-unicode'],
    ['a lone low surrogate escaped in userId', `{${base},"userId":"\\udc00u"}`, 'userId', 'well-formed-unicode'],
    [
      'a lone surrogate escaped in experimentId',
      `{"type":"impression","experimentId":"e\\udbff","variantId":"v","userId":"u"}`,
      'experimentId',
      'well-formed-unicode',
    ],
    [
      'a lone surrogate escaped in a segment value',
      `{${base},"userId":"u","segments":{"country":"\\ud83d"}}`,
      'segments.country',
      'well-formed-unicode',
    ],
    ['C1 NEL escaped in userId', `{${base},"userId":"nel\\u0085"}`, 'userId', 'control-character'],
    ['C1 CSI as raw UTF-8 in userId', `{${base},"userId":"csi\u009b"}`, 'userId', 'control-character'],
    ['a bidi override escaped in userId', `{${base},"userId":"admin\\u202e"}`, 'userId', 'bidi-control'],
    ['a bidi isolate as raw UTF-8 in userId', `{${base},"userId":"a\u2066b"}`, 'userId', 'bidi-control'],
    [
      'a bidi override in variantId',
      `{"type":"impression","experimentId":"e","variantId":"b\\u202e","userId":"u"}`,
      'variantId',
      'bidi-control',
    ],
  ];

  it.each(cases)('refuses %s alone: 400 naming field and rule', async (_what, event, field, rule) => {
    const answer = await injectEvents(h.collector.app, `[${event}]`);
    expect(answer.status).toBe(400);
    expect(answer.body.rejected).toEqual([expect.objectContaining({ index: 0, field, rule })]);
    expect(answer.body.invalidIndexes).toEqual([0]);
  });

  it('refuses each of them in one mixed request (202), writing only the valid event', async () => {
    const good = JSON.stringify(valid({ userId: 'unicode-good' }));
    const answer = await injectEvents(h.collector.app, `[${good},${cases.map((c) => c[1]).join(',')}]`);
    expect(answer.status).toBe(202);
    expect(answer.body.accepted).toBe(1);
    expect(
      answer.body.rejected.map((r: { index: number; field: string; rule: string }) => [r.index, r.field, r.rule]),
    ).toEqual(cases.map(([, , field, rule], i) => [i + 1, field, rule]));
    const users = (await h.streamEvents()).map((w) => w.event.userId as string);
    expect(users).toContain('unicode-good');
    expect(users.some((u) => !u.isWellFormed() || /[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/.test(u))).toBe(false);
  });
});
