import { afterEach, describe, expect, it } from 'vitest';
import { createProducer, type UndeliverableReport } from './producer-client.js';
import { FaultInjectingKinesis } from './test-support/fault-injecting-kinesis.js';
import { sampleEvent, startCollectorHarness, type CollectorHarness } from './test-support/collector-harness.js';

let harness: CollectorHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('producer client against the running collector', () => {
  it('delivers every event exactly once in batches and flushes on close', async () => {
    harness = await startCollectorHarness();
    const reports: UndeliverableReport[] = [];
    const producer = createProducer({
      endpoint: harness.collector.url,
      maxBatchEvents: 100,
      onUndeliverable: (r) => reports.push(r),
    });
    for (let i = 0; i < 1000; i++) expect(producer.send(sampleEvent({ userId: `p-${i}` }) as never)).toBe(true);
    await producer.close();
    expect(reports).toEqual([]);
    expect(producer.stats()).toMatchObject({ accepted: 1000, undeliverable: 0, buffered: 0 });
    expect(producer.stats().requests).toBeLessThanOrEqual(12);
    const ids = (await harness.streamEvents()).map((w) => w.event.eventId);
    expect(new Set(ids).size).toBe(1000);
    expect(producer.send(sampleEvent() as never)).toBe(false);
  });

  it('reports invalid events with the collector reasons and delivers the rest', async () => {
    harness = await startCollectorHarness();
    const reports: UndeliverableReport[] = [];
    const producer = createProducer({ endpoint: harness.collector.url, onUndeliverable: (r) => reports.push(r) });
    producer.send(sampleEvent({ userId: 'good' }) as never);
    producer.send(sampleEvent({ userId: 'bad', type: 'click' }) as never);
    await producer.close();
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ reason: 'rejected', events: [expect.objectContaining({ userId: 'bad' })] });
    expect(reports[0]?.rejections).toEqual([expect.objectContaining({ index: 0, field: 'type', rule: 'enum' })]);
    expect((await harness.streamEvents()).map((w) => w.partitionKey)).toEqual(['good']);
  });

  it('retries events the stream refused, keeping their eventIds (injected failures on the real client)', async () => {
    harness = await startCollectorHarness({ INGEST_PUT_MAX_ATTEMPTS: '1' }, (real) => ({
      kinesis: new FaultInjectingKinesis(real, {
        failEntry: (call) => (call < 2 ? 'ProvisionedThroughputExceededException' : undefined),
      }),
    }));
    const producer = createProducer({
      endpoint: harness.collector.url,
      retryPolicy: { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 20 },
    });
    for (let i = 0; i < 10; i++) producer.send(sampleEvent({ userId: `r-${i}` }) as never);
    await producer.close();
    expect(producer.stats()).toMatchObject({ accepted: 10, undeliverable: 0 });
    const ids = (await harness.streamEvents()).map((w) => w.event.eventId);
    expect(ids).toHaveLength(10);
    expect(new Set(ids).size).toBe(10);
  });

  it('sends every event again that the stream refused, even when the listed problems are cut at 100', async () => {
    harness = await startCollectorHarness({ INGEST_PUT_MAX_ATTEMPTS: '1', INGEST_LINGER_MS: '0' }, (real) => ({
      kinesis: new FaultInjectingKinesis(real, {
        failEntry: (call) => (call === 0 ? 'ProvisionedThroughputExceededException' : undefined),
      }),
    }));
    const reports: UndeliverableReport[] = [];
    const producer = createProducer({
      endpoint: harness.collector.url,
      maxBatchEvents: 250,
      retryPolicy: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
      onUndeliverable: (r) => reports.push(r),
    });
    for (let i = 0; i < 250; i++) producer.send(sampleEvent({ userId: `cut-${i}` }) as never);
    await producer.close();
    expect(reports).toEqual([]);
    expect(producer.stats()).toMatchObject({ accepted: 250, undeliverable: 0 });
    const ids = (await harness.streamEvents()).map((w) => w.event.eventId);
    expect(new Set(ids).size).toBe(250);
  });

  it('splits a batch the collector refuses as max-events into requests it takes', async () => {
    harness = await startCollectorHarness({ INGEST_MAX_EVENTS_PER_REQUEST: '7' });
    const reports: UndeliverableReport[] = [];
    const producer = createProducer({
      endpoint: harness.collector.url,
      maxBatchEvents: 50,
      onUndeliverable: (r) => reports.push(r),
    });
    for (let i = 0; i < 120; i++) producer.send(sampleEvent({ userId: `split-${i}` }) as never);
    await producer.close();
    expect(reports).toEqual([]);
    expect(producer.stats()).toMatchObject({ accepted: 120, undeliverable: 0 });
    expect(new Set((await harness.streamEvents()).map((w) => w.event.eventId)).size).toBe(120);
  });

  it('bounds its memory: refuses and reports beyond maxBufferedEvents', async () => {
    harness = await startCollectorHarness();
    const reports: UndeliverableReport[] = [];
    const producer = createProducer({
      endpoint: harness.collector.url,
      maxBufferedEvents: 5,
      lingerMs: 1000,
      onUndeliverable: (r) => reports.push(r),
    });
    const results = Array.from({ length: 8 }, (_, i) => producer.send(sampleEvent({ userId: `b-${i}` }) as never));
    expect(results).toEqual([true, true, true, true, true, false, false, false]);
    expect(reports.map((r) => r.reason)).toEqual(['buffer-full', 'buffer-full', 'buffer-full']);
    await producer.close();
    expect(producer.stats().accepted).toBe(5);
  });

  it('reports events as undeliverable after the last retry when the collector is down', async () => {
    const reports: UndeliverableReport[] = [];
    const producer = createProducer({
      endpoint: 'http://127.0.0.1:9',
      retryPolicy: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      onUndeliverable: (r) => reports.push(r),
    });
    producer.send(sampleEvent() as never);
    await producer.close();
    expect(reports).toEqual([expect.objectContaining({ reason: 'retries-exhausted', events: [expect.anything()] })]);
  });
});
