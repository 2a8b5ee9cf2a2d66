import { describe, expect, it } from 'vitest';
import { createKinesisClient } from '../../common/aws-clients.js';
import { PipelineError } from '../../common/errors.js';
import { createSilentLogger } from '../../common/logger.js';
import { ensureStream } from '../../local/provision.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import type { DeadLetter } from '../types.js';
import { createDeadLetterSink } from './dead-letter-sink.js';
import { originalBytes, type DeadLetterEnvelope } from './envelope.js';
import { readDeadLetters } from './reader.js';
import { injectPutRecordsFailures } from './test-support/inject-put-records-failures.js';

const FAST_RETRIES = { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 5 };

async function setUp(shardCount = 2) {
  const config = testConfig();
  const kinesis = createKinesisClient(config);
  await ensureStream(kinesis, config.kinesis.dlqStreamName, shardCount);
  const sink = createDeadLetterSink({
    kinesis,
    streamName: config.kinesis.dlqStreamName,
    sourceStreamName: config.kinesis.streamName,
    logger: createSilentLogger(),
    retryPolicy: FAST_RETRIES,
    now: () => new Date('2026-11-24T02:00:00.000Z'),
  });
  const readAll = async (): Promise<DeadLetterEnvelope[]> => {
    const { letters } = await readDeadLetters({ kinesis, streamName: config.kinesis.dlqStreamName, limit: 10_000 });
    return letters.map((letter) => {
      if (!letter.decoding.ok) throw new Error(letter.decoding.error);
      return letter.decoding.envelope;
    });
  };
  return { config, kinesis, sink, readAll };
}

const letterNumber = (n: number, data: Uint8Array = Buffer.from(`{"broken": ${n}`)): DeadLetter => ({
  id: { shardId: 'shardId-000000000000', sequenceNumber: String(49_000_000 + n), subSequenceNumber: 0 },
  partitionKey: `pk-${n}`,
  data,
  reasons: [{ index: 0, field: '(event)', rule: 'json', message: `record ${n} is not JSON` }],
});

describe('dead-letter sink (real kinesalite)', () => {
  it('writes one envelope per letter with original bytes, reasons and source position', async () => {
    const { config, sink, readAll } = await setUp();
    await sink.send([letterNumber(1), letterNumber(2)]);
    const envelopes = await readAll();
    expect(envelopes.map((e) => e.partitionKey).sort()).toEqual(['pk-1', 'pk-2']);
    const first = envelopes.find((e) => e.partitionKey === 'pk-1');
    expect(first).toMatchObject({
      sourceStream: config.kinesis.streamName,
      shardId: 'shardId-000000000000',
      sequenceNumber: '49000001',
      subSequenceNumber: 0,
      truncated: false,
      deadLetteredAt: '2026-11-24T02:00:00.000Z',
      reasons: [{ index: 0, field: '(event)', rule: 'json', message: 'record 1 is not JSON' }],
    });
    expect(originalBytes(first!).toString()).toBe('{"broken": 1');
  });

  it('splits more than 500 letters into several PutRecords calls and writes them all', async () => {
    const { kinesis, sink, readAll } = await setUp();
    const recorder = injectPutRecordsFailures(kinesis, () => []);
    await sink.send(Array.from({ length: 1_100 }, (_, n) => letterNumber(n)));
    expect(recorder.calls.map((call) => call.length)).toEqual([500, 500, 100]);
    const envelopes = await readAll();
    expect(new Set(envelopes.map((e) => e.partitionKey)).size).toBe(1_100);
  });

  it('retries only the throttled entries until every letter is written exactly once', async () => {
    const { kinesis, sink, readAll } = await setUp();
    const recorder = injectPutRecordsFailures(kinesis, (call, count) =>
      call < 2 ? Array.from({ length: count }, (_, index) => index).filter((index) => index % 2 === 1) : [],
    );
    await sink.send(Array.from({ length: 8 }, (_, n) => letterNumber(n)));
    expect(recorder.calls).toEqual([
      ['pk-0', 'pk-1', 'pk-2', 'pk-3', 'pk-4', 'pk-5', 'pk-6', 'pk-7'],
      ['pk-1', 'pk-3', 'pk-5', 'pk-7'],
      ['pk-3', 'pk-7'],
    ]);
    const keys = (await readAll()).map((e) => e.partitionKey).sort();
    expect(keys).toEqual(['pk-0', 'pk-1', 'pk-2', 'pk-3', 'pk-4', 'pk-5', 'pk-6', 'pk-7']);
  });

  it('rejects with a retriable SINK_THROTTLED error when entries stay throttled past the attempts', async () => {
    const { kinesis, sink } = await setUp();
    injectPutRecordsFailures(kinesis, () => [0]);
    const failure = await sink.send([letterNumber(1)]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PipelineError);
    expect(failure).toMatchObject({ code: 'SINK_THROTTLED', retriable: true });
  });

  it('writes an oversized original truncated and flagged instead of failing forever', async () => {
    const { sink, readAll } = await setUp(1);
    const huge = Buffer.alloc(1024 * 1024, 0x7b);
    await sink.send([letterNumber(9, huge)]);
    const [envelope] = await readAll();
    expect(envelope).toMatchObject({ truncated: true, dataBytes: 1024 * 1024 });
    expect(originalBytes(envelope!).byteLength).toBeLessThan(huge.byteLength);
  });

  it('fails at once with a non-retriable SINK_FAILED when the dead-letter stream does not exist', async () => {
    const config = testConfig();
    const sink = createDeadLetterSink({
      kinesis: createKinesisClient(config),
      streamName: randomName('missing-dlq'),
      sourceStreamName: config.kinesis.streamName,
      logger: createSilentLogger(),
      retryPolicy: FAST_RETRIES,
    });
    await expect(sink.send([letterNumber(1)])).rejects.toMatchObject({ code: 'SINK_FAILED', retriable: false });
  });

  it('does nothing for an empty list', async () => {
    const { sink, readAll } = await setUp(1);
    await sink.send([]);
    expect(await readAll()).toEqual([]);
  });
});
