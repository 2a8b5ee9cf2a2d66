import { ProvisionedThroughputExceededException, ResourceNotFoundException } from '@aws-sdk/client-kinesis';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../local/test-support/test-config.js';
import { FaultInjectingKinesis, type PutRecordsFaultPlan } from './test-support/fault-injecting-kinesis.js';
import {
  allAccepted,
  sampleEvent,
  startCollectorHarness,
  type CollectorHarness,
} from './test-support/collector-harness.js';

let harness: CollectorHarness | undefined;
let faulty: FaultInjectingKinesis | undefined;

async function startWithFaults(plan: PutRecordsFaultPlan, env: Record<string, string> = {}): Promise<CollectorHarness> {
  harness = await startCollectorHarness(env, (real) => {
    faulty = new FaultInjectingKinesis(real, plan);
    return { kinesis: faulty };
  });
  return harness;
}

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const eventIdsIn = async (h: CollectorHarness): Promise<string[]> =>
  (await h.streamEvents()).map((w) => w.event.eventId as string);

describe('PutRecords failures (injected by wrapping the real kinesalite client)', () => {
  it('retries throttled and internally failed entries until all are written, each exactly once', async () => {
    const h = await startWithFaults(
      {
        failEntry: (call, _key, i) =>
          call < 2 && i % 2 === 0
            ? 'ProvisionedThroughputExceededException'
            : call === 2 && i === 0
              ? 'InternalFailure'
              : undefined,
      },
      { INGEST_PUT_MAX_ATTEMPTS: '6' },
    );
    const events = Array.from({ length: 50 }, () => sampleEvent());
    const response = await h.post(events);
    expect(response.body).toEqual(allAccepted(50));
    const ids = await eventIdsIn(h);
    expect(ids).toHaveLength(50);
    expect(new Set(ids).size).toBe(50);
    expect(faulty?.calls).toBeGreaterThanOrEqual(3);
    const metrics = await (await fetch(`${h.collector.url}/metrics`)).text();
    expect(metrics).toMatch(/collector_throttled_total\{reason="kinesis"\} [1-9]/);
  });

  it('retries a whole call that Kinesis throttled', async () => {
    const throttle = new ProvisionedThroughputExceededException({
      message: 'Rate exceeded for shard',
      $metadata: { httpStatusCode: 400 },
    });
    const h = await startWithFaults({ throwForCall: (call) => (call < 2 ? throttle : undefined) });
    const response = await h.post([sampleEvent(), sampleEvent()]);
    expect(response.body).toEqual(allAccepted(2));
    expect(await eventIdsIn(h)).toHaveLength(2);
    expect(faulty?.calls).toBe(3);
  });

  it('reports entries that still fail after the last attempt as not accepted, and writes only the others', async () => {
    const h = await startWithFaults(
      { failEntry: (_call, key) => (key.startsWith('doomed') ? 'ProvisionedThroughputExceededException' : undefined) },
      { INGEST_PUT_MAX_ATTEMPTS: '3' },
    );
    const events = [
      sampleEvent({ userId: 'fine-1' }),
      sampleEvent({ userId: 'doomed-1' }),
      sampleEvent({ userId: 'fine-2' }),
      sampleEvent({ userId: 'doomed-2' }),
    ];
    const response = await h.post(events);
    expect(response.status).toBe(202);
    expect(response.body.accepted).toBe(2);
    expect(response.body.rejected).toEqual([
      expect.objectContaining({ index: 1, rule: 'stream-write-failed' }),
      expect.objectContaining({ index: 3, rule: 'stream-write-failed' }),
    ]);
    expect(response.body).toMatchObject({ invalidIndexes: [], retryIndexes: [1, 3], rejectedTotal: 2 });
    const written = await h.streamEvents();
    expect(written.map((w) => w.partitionKey).sort()).toEqual(['fine-1', 'fine-2']);
    expect(faulty?.calls).toBe(3);
  });

  it('answers 503 with Retry-After when the stream accepted none of the events', async () => {
    const h = await startWithFaults({ failEntry: () => 'InternalFailure' }, { INGEST_PUT_MAX_ATTEMPTS: '2' });
    const response = await h.post([sampleEvent()]);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(response.body).toMatchObject({ accepted: 0, error: { code: 'STREAM_UNAVAILABLE' } });
    expect(await eventIdsIn(h)).toHaveLength(0);
  });

  it('does not retry a non-retriable error (missing stream)', async () => {
    const missing = new ResourceNotFoundException({ message: 'Stream not found', $metadata: { httpStatusCode: 400 } });
    const h = await startWithFaults({ throwForCall: () => missing }, { INGEST_PUT_MAX_ATTEMPTS: '5' });
    const response = await h.post([sampleEvent()]);
    expect(response.status).toBe(503);
    expect(response.body.rejected[0].message).toMatch(/ResourceNotFoundException/);
    expect(faulty?.calls).toBe(1);
  });

  it('does not count an entry answered with neither SequenceNumber nor ErrorCode as written: retries it, writes it once', async () => {
    const h = await startWithFaults(
      { answerEmpty: (call, key) => call === 0 && key === 'unanswered' },
      { INGEST_PUT_MAX_ATTEMPTS: '3' },
    );
    const response = await h.post([sampleEvent({ userId: 'answered' }), sampleEvent({ userId: 'unanswered' })]);
    expect(response.status).toBe(202);
    expect(response.body).toEqual(allAccepted(2));
    expect(faulty?.calls).toBe(2);
    const written = await h.streamEvents();
    expect(written.map((w) => w.partitionKey).sort()).toEqual(['answered', 'unanswered']);
  });

  it('never answers 202 for an entry that never got a SequenceNumber, nor writes it', async () => {
    const h = await startWithFaults(
      { answerEmpty: (_call, key) => key.startsWith('unanswered') },
      { INGEST_PUT_MAX_ATTEMPTS: '2' },
    );
    const alone = await h.post([sampleEvent({ userId: 'unanswered-1' })]);
    expect(alone.status).toBe(503);
    expect(alone.body).toMatchObject({
      accepted: 0,
      rejected: [{ index: 0, rule: 'stream-write-failed' }],
      error: { code: 'STREAM_UNAVAILABLE' },
    });
    const mixed = await h.post([sampleEvent({ userId: 'fine-1' }), sampleEvent({ userId: 'unanswered-2' })]);
    expect(mixed.status).toBe(202);
    expect(mixed.body.accepted).toBe(1);
    expect(mixed.body.rejected).toEqual([expect.objectContaining({ index: 1, rule: 'stream-write-failed' })]);
    expect((await h.streamEvents()).map((w) => w.partitionKey)).toEqual(['fine-1']);
  });
});

describe('backpressure under a bounded flood (stream stalled by the wrapper)', () => {
  it('answers 429 with Retry-After when the buffer is full, never exceeds it, and loses nothing it accepted', async () => {
    let openGate: () => void = () => undefined;
    const gateOpen = new Promise<void>((resolve) => (openGate = resolve));
    const maxBufferBytes = 64 * 1024;
    const h = await startWithFaults(
      { gate: () => gateOpen },
      { INGEST_MAX_BUFFER_BYTES: String(maxBufferBytes), INGEST_PUT_CONCURRENCY: '2' },
    );

    const requests = 40;
    // The buffer grows only in submit(): reading it right after every submit sees its true peak
    // (no sampling timer that could miss one).
    const { batcher } = h.collector;
    const submit = batcher.submit.bind(batcher);
    let peakBuffered = 0;
    let submits = 0;
    batcher.submit = (entries) => {
      submits += 1;
      try {
        return submit(entries);
      } finally {
        peakBuffered = Math.max(peakBuffered, batcher.bufferedBytes);
      }
    };
    const pending = Array.from({ length: requests }, (_, r) =>
      h.post(Array.from({ length: 20 }, (_, i) => sampleEvent({ userId: `flood-${r}-${i}` }))),
    );
    // Requests that found the buffer full were answered at once; release the stream for the others
    // once every request reached the collector (each one was either buffered or refused).
    await waitFor(
      () => submits === requests,
      10_000,
      'every request to be buffered or refused while the stream is stalled',
    );
    openGate();
    const responses = await Promise.all(pending);

    const refused = responses.filter((r) => r.status === 429);
    const accepted = responses.filter((r) => r.status === 202);
    expect(refused.length).toBeGreaterThan(0);
    expect(accepted.length).toBeGreaterThan(0);
    expect(refused.length + accepted.length).toBe(requests);
    expect(refused[0]?.headers.get('retry-after')).toBe('1');
    expect(refused[0]?.body.error.code).toBe('BACKPRESSURE');
    expect(peakBuffered).toBeLessThanOrEqual(maxBufferBytes);
    const acceptedCount = accepted.reduce((sum, r) => sum + (r.body.accepted as number), 0);
    expect(acceptedCount).toBe(accepted.length * 20);
    expect(await eventIdsIn(h)).toHaveLength(acceptedCount);
  });
});
