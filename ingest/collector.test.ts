import { deaggregateSync } from 'aws-kinesis-agg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCompactRecord, isCompactRecord } from '../common/compact-records.js';
import { readAllRecords } from '../local/test-support/stream-reader.js';
import { droppedWithin, openUnusedConnection, settlesWithin } from '../common/test-support/idle-connections.js';
import { partitionKeyHash } from './shard-map.js';
import { loadShardMap } from './stream-shards.js';
import {
  allAccepted,
  sampleEvent,
  startCollectorHarness,
  type CollectorHarness,
} from './test-support/collector-harness.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('collector → kinesalite', () => {
  let h: CollectorHarness;
  beforeAll(async () => {
    h = await startCollectorHarness();
  });
  afterAll(async () => h.close());

  it('writes accepted events to the stream, partitioned by userId, normalised', async () => {
    const clientId = '0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b';
    const events = [
      sampleEvent({ userId: 'alice', eventId: clientId, timestamp: new Date(Date.now() - 60_000).toISOString() }),
      sampleEvent({ userId: 'bob', type: 'conversion', metric: 'purchase', value: 19.99 }),
    ];
    const response = await h.post(events);
    expect(response.status).toBe(202);
    expect(response.body).toEqual(allAccepted(2));

    const written = await h.streamEvents();
    expect(written).toHaveLength(2);
    const alice = written.find((w) => w.partitionKey === 'alice');
    const bob = written.find((w) => w.partitionKey === 'bob');
    expect(alice?.event).toMatchObject({
      eventId: clientId,
      userId: 'alice',
      type: 'impression',
      version: 1,
      value: 1,
    });
    expect(typeof alice?.event.timestamp).toBe('number');
    expect(bob?.event).toMatchObject({ userId: 'bob', metric: 'purchase', value: 19.99 });
    expect(bob?.event.eventId).toMatch(UUID_V7);
    expect(bob?.event.receivedAt).toBeGreaterThan(Date.now() - 60_000);
  });

  it('accepts { events: [...] } and NDJSON, reporting a bad NDJSON line without losing the others', async () => {
    const wrapped = await h.post({ events: [sampleEvent({ userId: 'wrapped' })] });
    expect(wrapped.status).toBe(202);
    expect(wrapped.body.accepted).toBe(1);

    const ndjson = [
      JSON.stringify(sampleEvent({ userId: 'nd-1' })),
      '{not json',
      '',
      JSON.stringify(sampleEvent({ userId: 'nd-2' })),
    ].join('\n');
    const response = await h.post(ndjson, { 'content-type': 'application/x-ndjson' });
    expect(response.status).toBe(202);
    expect(response.body.accepted).toBe(2);
    expect(response.body.rejected).toEqual([
      expect.objectContaining({ index: 1, field: '(event)', rule: 'invalid-json' }),
    ]);
    const keys = (await h.streamEvents()).map((w) => w.partitionKey);
    expect(keys).toEqual(expect.arrayContaining(['wrapped', 'nd-1', 'nd-2']));
  });

  it('accepts the valid events of a mixed batch and names field and rule for each invalid one', async () => {
    const response = await h.post([
      sampleEvent({ userId: 'mixed-ok' }),
      sampleEvent({ experimentId: '' }),
      sampleEvent({ type: 'conversion' }),
      sampleEvent({ value: 'ten' }),
      sampleEvent({ timestamp: Date.now() + 3_600_000 }),
      sampleEvent({ version: 9 }),
      sampleEvent({ colour: 'red' }),
    ]);
    expect(response.status).toBe(202);
    expect(response.body.accepted).toBe(1);
    const rules = response.body.rejected.map((r: { index: number; field: string; rule: string }) => [
      r.index,
      r.field,
      r.rule,
    ]);
    expect(rules).toEqual([
      [1, 'experimentId', 'min-length'],
      [2, 'metric', 'required-for-conversion'],
      [3, 'value', 'type'],
      [4, 'timestamp', 'timestamp-in-future'],
      [5, 'version', 'unsupported-version'],
      [6, 'colour', 'unknown-field'],
    ]);
  });

  it('refuses ill-formed Unicode, control and bidi characters in ids, and dates out of range; lower-cases eventIds', async () => {
    const response = await h.post([
      sampleEvent({ userId: 'canon', eventId: 'ABCDEF01-2345-4678-89AB-CDEF01234567' }),
      sampleEvent({ userId: 'lone\ud800' }), // sent on the wire as the JSON escape \ud800
      sampleEvent({ segments: { country: '\udbff' } }),
      sampleEvent({ userId: 'nel\u0085' }),
      sampleEvent({ variantId: 'b\u202e' }),
      sampleEvent({ timestamp: 9e15 }),
      sampleEvent({ type: 'conversion', metric: 'revenue', value: 1e12 }),
    ]);
    expect(response.status).toBe(202);
    expect(response.body.accepted).toBe(1);
    expect(
      response.body.rejected.map((r: { index: number; field: string; rule: string }) => [r.index, r.field, r.rule]),
    ).toEqual([
      [1, 'userId', 'well-formed-unicode'],
      [2, 'segments.country', 'well-formed-unicode'],
      [3, 'userId', 'control-character'],
      [4, 'variantId', 'bidi-control'],
      [5, 'timestamp', 'date-range'],
      [6, 'value', 'range'],
    ]);
    const written = (await h.streamEvents()).find((w) => w.partitionKey === 'canon');
    expect(written?.event.eventId).toBe('abcdef01-2345-4678-89ab-cdef01234567');
  });

  it('answers whole-request errors with a code: 400 unparseable, 400 no valid event, 415 media type, 404 route', async () => {
    const bad = await h.post('{"events": [');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('BODY_UNPARSEABLE');

    const wrongShape = await h.post({ event: {} });
    expect(wrongShape.status).toBe(400);
    expect(wrongShape.body.error.message).toMatch(/array of events/);

    const allInvalid = await h.post([{ type: 'click' }]);
    expect(allInvalid.status).toBe(400);
    expect(allInvalid.body.error.code).toBe('EVENT_INVALID');
    expect(allInvalid.body.rejected.length).toBeGreaterThan(0);

    const text = await h.post('hello', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');

    const missing = await fetch(`${h.collector.url}/api/v1/nothing`);
    expect(missing.status).toBe(404);
  });

  it('serves health, readiness, metrics and the OpenAPI description', async () => {
    expect((await fetch(`${h.collector.url}/health`)).status).toBe(200);
    expect(await (await fetch(`${h.collector.url}/ready`)).json()).toEqual({ status: 'ready' });
    // Counters are read before and after this test's own request: no test depends on another's traffic.
    const metricValue = async (pattern: RegExp) => {
      const text = await (await fetch(`${h.collector.url}/metrics`)).text();
      return Number(pattern.exec(text)?.[1] ?? 0);
    };
    const accepted = /^collector_events_accepted_total (\d+)$/m;
    const unknownField = /^collector_events_rejected_total\{rule="unknown-field"\} (\d+)$/m;
    const before = { accepted: await metricValue(accepted), unknownField: await metricValue(unknownField) };
    const response = await h.post([sampleEvent(), sampleEvent(), sampleEvent({ colour: 'red' })]);
    expect(response.body.accepted).toBe(2);
    expect(await metricValue(accepted)).toBe(before.accepted + 2);
    expect(await metricValue(unknownField)).toBe(before.unknownField + 1);
    const openapi = (await (await fetch(`${h.collector.url}/docs/json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths)).toContain('/api/v1/events');
    expect(JSON.stringify(openapi)).toContain('experimentId');
  });
});

describe('collector limits and auth', () => {
  let h: CollectorHarness;
  beforeAll(async () => {
    h = await startCollectorHarness({ INGEST_MAX_BODY_BYTES: '2048', INGEST_API_KEYS: 'key-one, key-two' });
  });
  afterAll(async () => h.close());

  it('answers 401 without a key or with a wrong key, 202 with either configured key', async () => {
    const none = await h.post([sampleEvent()]);
    expect(none.status).toBe(401);
    expect(none.body.error.message).toMatch(/required/);
    const wrong = await h.post([sampleEvent()], { 'x-api-key': 'nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toMatch(/not a valid/);
    expect((await h.post([sampleEvent()], { 'x-api-key': 'key-two' })).status).toBe(202);
  });

  it('answers 413 for a body over the configured limit and writes nothing of it', async () => {
    const before = (await h.streamEvents()).length;
    const big = Array.from({ length: 40 }, () => sampleEvent());
    const response = await h.post(big, { 'x-api-key': 'key-one' });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe('BODY_TOO_LARGE');
    expect((await h.streamEvents()).length).toBe(before);
  });
});

describe('collector with KPL aggregation', () => {
  let h: CollectorHarness;
  beforeAll(async () => {
    h = await startCollectorHarness({ INGEST_KPL_AGGREGATION: 'true', KINESIS_SHARD_COUNT: '4' });
  });
  afterAll(async () => h.close());

  it('packs events into few records, each user record on the shard its partition key maps to', async () => {
    const events = Array.from({ length: 200 }, (_, i) => sampleEvent({ userId: `agg-user-${i}` }));
    const response = await h.post(events);
    expect(response.body).toEqual(allAccepted(200));

    const records = await readAllRecords(h.kinesis, h.config.kinesis.streamName);
    expect(records.length).toBeLessThanOrEqual(4);
    const shardMap = await loadShardMap(h.kinesis, h.config.kinesis.streamName);
    const userIds: string[] = [];
    for (const record of records) {
      const payload = {
        data: Buffer.from(record.data).toString('base64'),
        partitionKey: record.partitionKey,
        sequenceNumber: record.sequenceNumber,
        kinesisSchemaVersion: '1.0',
        approximateArrivalTimestamp: 0,
      };
      deaggregateSync(payload, true, (error, userRecords) => {
        expect(error).toBeFalsy();
        for (const userRecord of userRecords ?? []) {
          const event = JSON.parse(Buffer.from(userRecord.data, 'base64').toString()) as { userId: string };
          expect(userRecord.partitionKey).toBe(event.userId);
          expect(shardMap.shardFor(userRecord.partitionKey).shardId).toBe(record.shardId);
          expect(partitionKeyHash(userRecord.partitionKey)).toBeGreaterThanOrEqual(
            shardMap.shardFor(userRecord.partitionKey).startingHashKey,
          );
          userIds.push(event.userId);
        }
      });
    }
    expect(userIds.sort()).toEqual(events.map((e) => e.userId as string).sort());
  });
});

describe('collector with the compact record format', () => {
  let h: CollectorHarness;
  beforeAll(async () => {
    h = await startCollectorHarness({
      INGEST_RECORD_FORMAT: 'compact',
      INGEST_COMPRESS_RECORDS: 'true',
      KINESIS_SHARD_COUNT: '4',
    });
  });
  afterAll(async () => h.close());

  it('packs a request into one compressed compact record per shard, every event on its partition key’s shard', async () => {
    const events = Array.from({ length: 200 }, (_, i) =>
      sampleEvent({ userId: `compact-user-${i}`, type: 'conversion', metric: 'purchase', value: i + 0.5 }),
    );
    const response = await h.post(events);
    expect(response.body).toEqual(allAccepted(200));

    const records = await readAllRecords(h.kinesis, h.config.kinesis.streamName);
    expect(records.length).toBeLessThanOrEqual(4);
    const shardMap = await loadShardMap(h.kinesis, h.config.kinesis.streamName);
    const read: { userId: string; value: number }[] = [];
    for (const record of records) {
      expect(isCompactRecord(record.data)).toBe(true);
      expect(record.data[4]).toBe(1); // deflate flag
      const decoded = decodeCompactRecord(record.data, 0, { maxSegments: 10 });
      if (!decoded.ok) throw new Error(decoded.rejection.message);
      for (const event of decoded.events) {
        if (!event.ok) throw new Error(JSON.stringify(event.rejections));
        expect(shardMap.shardFor(event.event.userId).shardId).toBe(record.shardId);
        read.push({ userId: event.event.userId, value: event.event.value });
      }
    }
    const byUser = (a: { userId: string }, b: { userId: string }) => (a.userId < b.userId ? -1 : 1);
    expect(read.sort(byUser)).toEqual(
      events.map((e) => ({ userId: e.userId as string, value: e.value as number })).sort(byUser),
    );
  });

  it('writes the eventIds it generates as UUIDv7 of the receive time, one per event, concurrent requests included', async () => {
    const requests = Array.from({ length: 4 }, (_, r) =>
      Array.from({ length: 150 }, (_, i) => sampleEvent({ userId: `generated-${r}-${i}` })),
    );
    const responses = await Promise.all(requests.map((events) => h.post(events)));
    expect(responses.map((response) => response.body)).toEqual(requests.map(() => allAccepted(150)));

    const records = await readAllRecords(h.kinesis, h.config.kinesis.streamName);
    const ids: string[] = [];
    for (const record of records) {
      const decoded = decodeCompactRecord(record.data, 0, { maxSegments: 10 });
      if (!decoded.ok) throw new Error(decoded.rejection.message);
      for (const event of decoded.events) {
        if (!event.ok) throw new Error(JSON.stringify(event.rejections));
        if (!event.event.userId.startsWith('generated-')) continue;
        expect(event.event.eventId).toMatch(UUID_V7);
        // The id's 48-bit time is the receive time the collector gave it.
        expect(parseInt(event.event.eventId.replaceAll('-', '').slice(0, 12), 16)).toBe(event.event.receivedAt);
        ids.push(event.event.eventId);
      }
    }
    expect(ids).toHaveLength(600);
    expect(new Set(ids).size).toBe(600);
  });
});

describe('collector: CORS for pages that post events from the browser', () => {
  const preflight = (url: string, origin: string) =>
    fetch(`${url}/api/v1/events`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-api-key',
      },
    });

  it('answers preflights and posts from any origin by default, before authentication', async () => {
    const h = await startCollectorHarness({ INGEST_API_KEYS: 'producer-key' });
    try {
      const answer = await preflight(h.collector.url, 'https://shop.example');
      expect(answer.status).toBe(204);
      expect(answer.headers.get('access-control-allow-origin')).toBe('*');
      expect(answer.headers.get('access-control-allow-methods')).toBe('POST');
      expect(answer.headers.get('access-control-allow-headers')).toBe('content-type, x-api-key, x-request-id');
      const posted = await h.post([sampleEvent({ userId: 'cors-any' })], {
        origin: 'https://shop.example',
        'x-api-key': 'producer-key',
      });
      expect(posted.status).toBe(202);
      expect(posted.headers.get('access-control-allow-origin')).toBe('*');
      expect(posted.headers.get('access-control-expose-headers')).toBe('retry-after');
    } finally {
      await h.close();
    }
  });

  it('allows only the listed origins when INGEST_CORS_ORIGINS names them, and none when it says none', async () => {
    const listed = await startCollectorHarness({
      INGEST_CORS_ORIGINS: 'https://shop.example, http://127.0.0.1:3000',
    });
    try {
      const allowed = await preflight(listed.collector.url, 'http://127.0.0.1:3000');
      expect(allowed.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:3000');
      const other = await preflight(listed.collector.url, 'https://evil.example');
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await listed.close();
    }
    const off = await startCollectorHarness({ INGEST_CORS_ORIGINS: 'none' });
    try {
      const posted = await off.post([sampleEvent({ userId: 'cors-off' })], { origin: 'https://shop.example' });
      expect(posted.status).toBe(202);
      expect(posted.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await off.close();
    }
  });
});

describe('collector stop', () => {
  it('stops at once while a page holds an unused connection (a preconnect), with what it accepted written', async () => {
    const harness = await startCollectorHarness();
    expect((await harness.post([sampleEvent({ userId: 'stop-1' })])).status).toBe(202);
    const socket = await openUnusedConnection(harness.collector.url);
    try {
      expect(await settlesWithin(harness.collector.stop(), 5_000)).toBe('settled');
      expect(await droppedWithin(socket, 2_000)).toBe('dropped');
      expect((await readAllRecords(harness.kinesis, harness.config.kinesis.streamName)).length).toBeGreaterThan(0);
    } finally {
      socket.destroy();
      harness.kinesis.destroy();
    }
  });
});
