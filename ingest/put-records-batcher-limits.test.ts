/**
 * PutRecordsBatcher at its limits, through its public API against kinesalite (failures and
 * stalls injected by wrapping the real client): call size (500 records, 5 MB), when a call
 * leaves (full at once, else after the linger), the byte-bounded buffer, retries of failed
 * entries alone, which whole-call errors are retried, concurrency, and drain.
 */
import type { KinesisClient, PutRecordsCommand, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKinesisClient } from '../common/aws-clients.js';
import { PipelineError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { ensureStream } from '../local/provision.js';
import { randomName, testConfig, waitFor } from '../local/test-support/test-config.js';
import {
  PutRecordsBatcher,
  type BatcherObserver,
  type EntryOutcome,
  type PutRecordsBatcherOptions,
  type StreamEntry,
} from './put-records-batcher.js';
import { loadShardMap } from './stream-shards.js';
import { FaultInjectingKinesis, type PutRecordsFaultPlan } from './test-support/fault-injecting-kinesis.js';

/** Long enough that a test reaching it has waited for the linger by mistake. */
const NEVER_MS = 600_000;

let kinesis: KinesisClient;
const streamName = randomName('batcher-limits');
beforeAll(async () => {
  kinesis = createKinesisClient(testConfig());
  await ensureStream(kinesis, streamName, 2);
});
afterAll(() => kinesis.destroy());

let entryCounter = 0;
function entry(partitionKey = `user-${(entryCounter += 1)}`, dataBytes = 16): StreamEntry {
  return { partitionKey, data: Buffer.alloc(dataBytes, 120) };
}
const entries = (count: number, prefix = 'user'): StreamEntry[] =>
  Array.from({ length: count }, (_, index) => entry(`${prefix}-${index}`));

function batcherWith(
  plan: PutRecordsFaultPlan,
  options: Partial<PutRecordsBatcherOptions> = {},
): { batcher: PutRecordsBatcher; faulty: FaultInjectingKinesis } {
  const faulty = new FaultInjectingKinesis(kinesis, plan);
  const batcher = new PutRecordsBatcher({
    kinesis: faulty,
    streamName,
    lingerMs: 5,
    maxBufferBytes: 64 * 1024 * 1024,
    concurrency: 1,
    retryPolicy: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    ...options,
  });
  return { batcher, faulty };
}

/** Resolves when `promise` settles, or fails the test after `ms` (for "must not wait for the linger"). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let settled = false;
  const result = promise.finally(() => (settled = true));
  await waitFor(() => settled, ms, what);
  return result;
}

const okCount = (outcomes: EntryOutcome[]): number => outcomes.filter((outcome) => outcome.ok).length;

/** A logger whose lines the test reads. */
function capturingLogger(level: 'warn' | 'error'): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({
    level,
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  });
  return { logger, lines };
}

/**
 * The real client with its PutRecords answer rewritten (what kinesalite never answers: a
 * result without a sequence number, a short or absent result list). Every call reaches kinesalite.
 */
function rewritingResults(
  rewrite: (results: PutRecordsResultEntry[], keys: string[]) => PutRecordsResultEntry[] | undefined,
): Pick<KinesisClient, 'send'> {
  return {
    send: (async (command: PutRecordsCommand) => {
      const output = await kinesis.send(command);
      const keys = (command.input.Records ?? []).map((record) => record.PartitionKey ?? '');
      return { ...output, Records: rewrite(output.Records ?? [], keys) };
    }) as KinesisClient['send'],
  };
}

describe('call size', () => {
  it('writes at most 500 records per call, sending a full call at once rather than after the linger', async () => {
    const { batcher, faulty } = batcherWith({}, { lingerMs: NEVER_MS });
    const outcomes = await within(batcher.submit(entries(1_001)), 20_000, 'the full calls to be written');
    expect(okCount(outcomes)).toBe(1_001);
    expect(faulty.callRecords).toEqual([500, 500, 1]);
  });

  it('sends exactly 500 waiting entries at once', async () => {
    const { batcher, faulty } = batcherWith({}, { lingerMs: NEVER_MS });
    const outcomes = await within(batcher.submit(entries(500)), 20_000, 'the full call to be written');
    expect(okCount(outcomes)).toBe(500);
    expect(faulty.callRecords).toEqual([500]);
  });

  it('sends at once when exactly 5 MiB are waiting', async () => {
    const { batcher, faulty } = batcherWith({}, { lingerMs: NEVER_MS });
    // 5 entries of 1 MiB each (2-byte key + data): 5,242,880 bytes in all.
    const mebibytes = Array.from({ length: 5 }, (_, index) => entry(`m${index}`, 1_048_574));
    const outcomes = await within(batcher.submit(mebibytes), 20_000, 'the 5 MiB to be written');
    expect(okCount(outcomes)).toBe(5);
    expect(faulty.callRecords).toEqual([4, 1]);
  });

  it('fills a call up to exactly 5 MiB less 64 KiB', async () => {
    const { batcher, faulty } = batcherWith({}, { lingerMs: NEVER_MS });
    // 4 × 1 MiB + 983,040 bytes = 5,177,344 bytes: exactly the call budget.
    const budget = [...Array.from({ length: 4 }, (_, index) => entry(`f${index}`, 1_048_574)), entry('f4', 983_038)];
    const submitted = batcher.submit(budget);
    await batcher.drain();
    expect(okCount(await submitted)).toBe(5);
    expect(faulty.callRecords).toEqual([5]);
  });

  it('keeps a call under 5 MB less 64 KB of headroom, and sends it at once when 5 MB are waiting', async () => {
    const { batcher, faulty } = batcherWith({}, { lingerMs: NEVER_MS });
    // 1,040,000 bytes each: 4 fit in 5,177,344 bytes, a 5th does not; 6 of them exceed 5 MiB.
    const big = Array.from({ length: 6 }, (_, index) => entry(`big-${index}`, 1_040_000));
    const outcomes = await within(batcher.submit(big), 20_000, 'the 5 MB to be written');
    expect(okCount(outcomes)).toBe(6);
    expect(faulty.callRecords).toEqual([4, 2]);
  });

  it('lets a record over the call budget travel alone (Kinesis refuses it) instead of stalling', async () => {
    const { batcher, faulty } = batcherWith({}, { lingerMs: 1 });
    const [outcome] = await within(batcher.submit([entry('huge', 5_300_000)]), 20_000, 'the oversized record');
    expect(outcome?.ok).toBe(false);
    expect(faulty.callRecords).toEqual([1]);
  });

  it('waits for the linger to gather a partial call, and drain sends it at once', async () => {
    const { batcher, faulty } = batcherWith({}, { lingerMs: NEVER_MS });
    const first = batcher.submit(entries(3, 'early'));
    const second = batcher.submit(entries(2, 'late'));
    expect(faulty.calls).toBe(0);
    await batcher.drain();
    expect(okCount([...(await first), ...(await second)])).toBe(5);
    expect(faulty.callRecords).toEqual([5]);
  });

  it('starts a new linger window for entries that arrive after a flush (fake clock)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { batcher, faulty } = batcherWith({}, { lingerMs: 1_000 });
      const early = batcher.submit([entry('a')]);
      vi.advanceTimersByTime(500);
      const late = batcher.submit([entry('b')]);
      vi.advanceTimersByTime(500); // the window opened by `a` closes: a and b leave together
      expect(faulty.callRecords).toEqual([1 + 1]);
      await Promise.all([early, late]);
      // The call's own bookkeeping settles a few microtasks after its entries (no timer involved).
      for (let turn = 0; turn < 100 && batcher.bufferedBytes > 0; turn += 1) await Promise.resolve();
      expect(batcher.bufferedBytes).toBe(0);
      const next = batcher.submit([entry('c')]);
      vi.advanceTimersByTime(600); // 1,600 ms: past where a window opened by `b` would have closed
      expect(faulty.calls).toBe(1);
      vi.advanceTimersByTime(400); // c's own window closes
      expect(faulty.callRecords).toEqual([2, 1]);
      await next;
    } finally {
      vi.useRealTimers();
    }
  });

  it('packs far more than 500 entries per call when aggregating, so 600 wait for the linger', async () => {
    const shardMap = await loadShardMap(kinesis, streamName);
    const { batcher, faulty } = batcherWith({}, { lingerMs: NEVER_MS, shardMap: () => shardMap });
    const submitted = batcher.submit(entries(600, 'agg'));
    expect(faulty.calls).toBe(0);
    await batcher.drain();
    expect(okCount(await submitted)).toBe(600);
    expect(faulty.calls).toBe(1);
    expect(faulty.callRecords[0]).toBeLessThanOrEqual(2); // one aggregate per shard
  });
});

describe('buffer bound', () => {
  it('accepts entries that exactly fill the buffer, refuses one byte more with BACKPRESSURE, counting UTF-8 bytes', async () => {
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    // 'é' is 2 bytes in UTF-8: the entry holds 16 + 2 bytes.
    const { batcher } = batcherWith({ gate: () => gate }, { maxBufferBytes: 36 });
    const accepted = batcher.submit([entry('é', 16), entry('è', 16)]);
    expect(batcher.bufferedBytes).toBe(36);
    let refusal: unknown;
    try {
      void batcher.submit([entry('a', 0)]);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(PipelineError);
    expect(refusal).toMatchObject({
      code: 'BACKPRESSURE',
      message: 'the collector buffer is full; retry after the indicated delay',
      details: { retryAfterSeconds: 1 },
    });
    openGate();
    expect(okCount(await accepted)).toBe(2);
    await batcher.drain();
    expect(batcher.bufferedBytes).toBe(0);
    await expect(batcher.submit([entry('a', 0)])).resolves.toHaveLength(1);
  });
});

describe('retries', () => {
  it('retries only the failed entries, reports throttling and each call to the observer', async () => {
    const calls: [number, number][] = [];
    const throttled: number[] = [];
    const observer: BatcherObserver = {
      onPutRecords: (_durationMs, records, failedRecords) => calls.push([records, failedRecords]),
      onThrottled: (count) => throttled.push(count),
    };
    const codes: Record<string, string> = {
      't-1': 'ProvisionedThroughputExceededException',
      't-2': 'KMSThrottlingException',
      'i-1': 'InternalFailure',
    };
    const { batcher, faulty } = batcherWith(
      { failEntry: (call, key) => (call === 0 ? codes[key] : undefined) },
      { observer },
    );
    const outcomes = await batcher.submit(['ok-1', 't-1', 'ok-2', 't-2', 'i-1'].map((key) => entry(key)));
    expect(okCount(outcomes)).toBe(5);
    expect(faulty.callRecords).toEqual([5, 3]);
    expect(calls).toEqual([
      [5, 3],
      [3, 0],
    ]);
    expect(throttled).toEqual([2]);
  });

  it('gives up after maxAttempts, reporting each entry with its own error, and does not report unthrottled failures as throttling', async () => {
    const throttled: number[] = [];
    const { batcher, faulty } = batcherWith(
      {
        failEntry: (_call, key) => (key === 'bad' ? 'InternalFailure' : undefined),
        answerEmpty: (_call, key) => key === 'silent',
      },
      { observer: { onThrottled: (count) => throttled.push(count) } },
    );
    const outcomes = await batcher.submit([entry('fine'), entry('bad'), entry('silent')]);
    expect(outcomes[0]?.ok).toBe(true);
    expect(outcomes[1]).toEqual({ ok: false, errorCode: 'InternalFailure', message: 'injected InternalFailure' });
    expect(outcomes[2]).toEqual({ ok: false, errorCode: 'MissingResult', message: 'no result for record' });
    expect(faulty.callRecords).toEqual([3, 2, 2]);
    expect(throttled).toEqual([]);
  });

  it.each([
    'ProvisionedThroughputExceededException',
    'ThrottlingException',
    'KMSThrottlingException',
    'InternalFailure',
    'InternalFailureException',
    'ServiceUnavailable',
    'ServiceUnavailableException',
    'LimitExceededException',
  ])('retries a whole call that failed with %s, even answered with a 4xx', async (name) => {
    const failure = Object.assign(new Error(`injected ${name}`), { name, $metadata: { httpStatusCode: 400 } });
    const { batcher, faulty } = batcherWith({ throwForCall: (call) => (call === 0 ? failure : undefined) });
    expect(okCount(await batcher.submit([entry()]))).toBe(1);
    expect(faulty.calls).toBe(2);
  });

  it.each([
    ['a 500', { name: 'UnknownError', $metadata: { httpStatusCode: 500 } }],
    ['a 503', { name: 'UnknownError', $metadata: { httpStatusCode: 503 } }],
    ['a connection reset (no response)', { name: 'Error', code: 'ECONNRESET' }],
    ['a client timeout', { name: 'TimeoutError' }],
    ['an aborted request', { name: 'AbortError' }],
  ])('retries a whole call that failed with %s', async (_what, fields) => {
    const failure = Object.assign(new Error('injected'), fields);
    const { batcher, faulty } = batcherWith({ throwForCall: (call) => (call === 0 ? failure : undefined) });
    expect(okCount(await batcher.submit([entry()]))).toBe(1);
    expect(faulty.calls).toBe(2);
  });

  it.each([
    [
      'a 4xx it does not know',
      { name: 'ValidationException', $metadata: { httpStatusCode: 499 } },
      'ValidationException',
    ],
    ['an error without response or code', { name: 'Error' }, 'Error'],
    ['an error without a name', { name: '' }, 'PutRecordsFailed'],
  ])('fails every entry of the call at once on %s', async (_what, fields, errorCode) => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'error',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    });
    const failure = Object.assign(new Error('injected refusal'), fields);
    const { batcher, faulty } = batcherWith({ throwForCall: () => failure }, { logger });
    const outcomes = await batcher.submit([entry(), entry()]);
    expect(outcomes).toEqual([
      { ok: false, errorCode, message: 'injected refusal' },
      { ok: false, errorCode, message: 'injected refusal' },
    ]);
    expect(faulty.calls).toBe(1);
    expect(lines.some((line) => line.includes('PutRecords failed with a non-retriable error'))).toBe(true);
  });

  it('settles every entry even when something unexpected fails mid-call (an observer that throws)', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'error',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    });
    const { batcher } = batcherWith(
      { failEntry: (_call, key) => (key === 'throttled' ? 'ThrottlingException' : undefined) },
      {
        logger,
        observer: {
          onThrottled: () => {
            throw new Error('observer bug');
          },
        },
      },
    );
    const outcomes = await batcher.submit([entry('written'), entry('throttled')]);
    expect(outcomes[0]?.ok).toBe(true);
    expect(outcomes[1]).toEqual({ ok: false, errorCode: 'INTERNAL', message: 'internal error' });
    const line = lines.find((candidate) => candidate.includes('unexpected error in PutRecords batcher'));
    expect(line && JSON.parse(line)).toMatchObject({ err: { message: 'observer bug' } });
    await batcher.drain();
    expect(batcher.bufferedBytes).toBe(0);
  });
});

describe('results Kinesis did not give', () => {
  const batcherOn = (client: Pick<KinesisClient, 'send'>) =>
    new PutRecordsBatcher({
      kinesis: client,
      streamName,
      lingerMs: 1,
      maxBufferBytes: 1024 * 1024,
      concurrency: 1,
      retryPolicy: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
  const missing = { ok: false, errorCode: 'MissingResult', message: 'no result for record' };

  it('does not count a result with a shard but no sequence number as written', async () => {
    const client = rewritingResults((results, keys) =>
      results.map((result, index) => (keys[index] === 'no-sequence' ? { ShardId: result.ShardId } : result)),
    );
    const outcomes = await batcherOn(client).submit([entry('fine'), entry('no-sequence')]);
    expect(outcomes[0]?.ok).toBe(true);
    expect(outcomes[1]).toEqual(missing);
  });

  it('reports entries beyond a short result list, or without any, as not written', async () => {
    const short = await batcherOn(rewritingResults((results) => results.slice(0, 1))).submit(entries(3, 'short'));
    expect(short[0]?.ok).toBe(true);
    expect(short.slice(1)).toEqual([missing, missing]);
    const none = await batcherOn(rewritingResults(() => undefined)).submit(entries(2, 'none'));
    expect(none).toEqual([missing, missing]);
  });
});

describe('observer and logs', () => {
  it('reports call durations measured from the call start', async () => {
    const durations: number[] = [];
    const failure = Object.assign(new Error('injected'), { name: 'ServiceUnavailable' });
    const { batcher } = batcherWith(
      { throwForCall: (call) => (call === 0 ? failure : undefined) },
      { observer: { onPutRecords: (durationMs) => durations.push(durationMs) } },
    );
    const started = performance.now();
    await batcher.submit([entry()]);
    const elapsed = performance.now() - started;
    expect(durations).toHaveLength(2);
    for (const duration of durations) {
      expect(duration).toBeGreaterThanOrEqual(0);
      expect(duration).toBeLessThanOrEqual(elapsed);
    }
  });

  it('accepts an observer that implements only some of its callbacks', async () => {
    const failure = Object.assign(new Error('injected'), { name: 'ServiceUnavailable' });
    const onlyThrottled = batcherWith(
      { throwForCall: (call) => (call === 0 ? failure : undefined) },
      { observer: { onThrottled: () => undefined } },
    );
    expect(okCount(await onlyThrottled.batcher.submit([entry()]))).toBe(1);
    const onlyCalls = batcherWith(
      { failEntry: (call) => (call === 0 ? 'ThrottlingException' : undefined) },
      { observer: { onPutRecords: () => undefined } },
    );
    expect(okCount(await onlyCalls.batcher.submit([entry()]))).toBe(1);
  });

  it('logs entries that failed after all retries, with their count, attempts and error', async () => {
    const { logger, lines } = capturingLogger('warn');
    const { batcher } = batcherWith({ failEntry: () => 'InternalFailure' }, { logger });
    await batcher.submit([entry()]);
    const line = lines.find((candidate) => candidate.includes('PutRecords entries failed after all retries'));
    expect(line && JSON.parse(line)).toMatchObject({ failed: 1, attempts: 3, errorCode: 'InternalFailure' });
  });

  it('logs nothing at warn or above when every entry is written, a retried one included', async () => {
    const { logger, lines } = capturingLogger('warn');
    const { batcher, faulty } = batcherWith(
      { failEntry: (call, key) => (call === 0 && key === 'retried' ? 'ThrottlingException' : undefined) },
      { logger },
    );
    const outcomes = await batcher.submit([entry('written'), entry('retried')]);
    expect(okCount(outcomes)).toBe(2);
    expect(faulty.calls).toBe(2);
    // The outcomes resolve as Kinesis answers; the call ends (and would log) after that.
    await batcher.drain();
    expect(lines).toEqual([]);
  });

  it('logs a non-retriable call failure with the error and the records it cost', async () => {
    const { logger, lines } = capturingLogger('error');
    const failure = Object.assign(new Error('injected refusal'), { name: 'AccessDeniedException' });
    const { batcher } = batcherWith({ throwForCall: () => failure }, { logger });
    await batcher.submit([entry(), entry()]);
    const line = lines.find((candidate) => candidate.includes('PutRecords failed with a non-retriable error'));
    expect(line && JSON.parse(line)).toMatchObject({ records: 2, err: { message: 'injected refusal' } });
  });

  it('settles every entry without a logger too, whether the call was refused or something unexpected failed', async () => {
    const failure = Object.assign(new Error('injected refusal'), { name: 'AccessDeniedException' });
    const refused = batcherWith({ throwForCall: () => failure });
    expect(await refused.batcher.submit([entry()])).toEqual([
      { ok: false, errorCode: 'AccessDeniedException', message: 'injected refusal' },
    ]);
    const broken = batcherWith(
      { failEntry: (call) => (call === 0 ? 'ThrottlingException' : undefined) },
      {
        observer: {
          onThrottled: () => {
            throw new Error('observer bug');
          },
        },
      },
    );
    expect(await broken.batcher.submit([entry()])).toEqual([
      { ok: false, errorCode: 'INTERNAL', message: 'internal error' },
    ]);
  });
});

describe('concurrency and drain', () => {
  it('resolves drain only after the last call in flight, not when the first of two finishes', async () => {
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    let gated = 0;
    // The first call goes through; the second waits for the gate.
    const { batcher } = batcherWith(
      { gate: () => (gated++ === 0 ? Promise.resolve() : gate) },
      {
        concurrency: 2,
        lingerMs: NEVER_MS,
      },
    );
    const order: string[] = [];
    const first = batcher.submit(entries(500, 'first')).then(() => order.push('first'));
    const secondEntries = entries(500, 'second');
    const secondBytes = secondEntries.reduce(
      (sum, e) => sum + (e.data?.byteLength ?? 0) + Buffer.byteLength(e.partitionKey),
      0,
    );
    const second = batcher.submit(secondEntries).then(() => order.push('second'));
    const drained = batcher.drain().then(() => order.push('drained'));
    await first;
    // The first call has finished (its bytes are released) while the second is still held.
    await waitFor(() => batcher.bufferedBytes === secondBytes, 10_000, 'the first call to finish');
    openGate();
    await Promise.all([second, drained]);
    expect(order).toEqual(['first', 'second', 'drained']);
  });

  it('keeps at most `concurrency` calls in flight, and drain waits for all of them', async () => {
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const { batcher, faulty } = batcherWith({ gate: () => gate }, { concurrency: 2, lingerMs: NEVER_MS });
    const submitted = batcher.submit(entries(1_500, 'parallel'));
    expect(faulty.calls).toBe(2);
    const order: string[] = [];
    const written = submitted.then((outcomes) => order.push(`written ${okCount(outcomes)}`));
    const draining = batcher.drain().then(() => order.push('drained'));
    openGate();
    await Promise.all([written, draining]);
    expect(order).toEqual(['written 1500', 'drained']);
    expect(faulty.callRecords).toEqual([500, 500, 500]);
  });

  it('drains at once when nothing is pending', async () => {
    const { batcher, faulty } = batcherWith({});
    await batcher.drain();
    expect(faulty.calls).toBe(0);
  });
});
