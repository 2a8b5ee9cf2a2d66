import type { ListShardsCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { classifyKinesisError, isExpiredIterator, isKinesisThrottle, isRetriableKinesisError } from './errors.js';
import { isOpenShard, listShards } from './list-shards.js';
import { chunkPutEntries, putRecordsRetryingFailed } from './put-records.js';

const fast = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 };
const sdkError = (name: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(name), { name, ...extra });

describe('one Kinesis error classification', () => {
  it.each([
    'ProvisionedThroughputExceededException',
    'LimitExceededException',
    'KMSThrottlingException',
    'ThrottlingException',
  ])('treats %s as a throttle for every caller (reader, writer, dead letters)', (name) => {
    expect(isKinesisThrottle(sdkError(name, { $metadata: { httpStatusCode: 400 } }))).toBe(true);
    expect(isKinesisThrottle(name)).toBe(true); // an entry's ErrorCode
    expect(isRetriableKinesisError(sdkError(name, { $metadata: { httpStatusCode: 400 } }))).toBe(true);
    expect(classifyKinesisError(sdkError(name), 'GetRecords', 's')).toMatchObject({
      code: 'SINK_THROTTLED',
      retriable: true,
    });
  });

  it.each([
    ['a 500', sdkError('UnknownError', { $metadata: { httpStatusCode: 500 } })],
    ['a server fault', sdkError('Whatever', { $fault: 'server', $metadata: { httpStatusCode: 400 } })],
    ['InternalFailure', sdkError('InternalFailure', { $metadata: { httpStatusCode: 400 } })],
    ['a connection reset', sdkError('Error', { code: 'ECONNRESET' })],
    ['a timeout', sdkError('TimeoutError')],
    ['an abort', sdkError('AbortError')],
  ])('retries %s', (_what, error) => {
    expect(isRetriableKinesisError(error)).toBe(true);
    expect(classifyKinesisError(error, 'PutRecords', 's')).toMatchObject({ code: 'SINK_FAILED', retriable: true });
  });

  it.each([
    ['a missing stream', sdkError('ResourceNotFoundException', { $metadata: { httpStatusCode: 400 } })],
    ['denied access', sdkError('AccessDeniedException', { $metadata: { httpStatusCode: 403 } })],
    ['an error with neither answer nor network code', sdkError('Error')],
    ['not an error at all', 'boom'],
  ])('fails %s at once, naming the operation and the stream', (_what, error) => {
    expect(isRetriableKinesisError(error)).toBe(false);
    const classified = classifyKinesisError(error, 'PutRecords', 'ExperimentEvents-dlq');
    expect(classified).toMatchObject({ code: 'SINK_FAILED', retriable: false });
    expect(classified.message).toContain('PutRecords on ExperimentEvents-dlq failed');
  });

  it('recognises an expired iterator and nothing else as one', () => {
    expect(isExpiredIterator(sdkError('ExpiredIteratorException'))).toBe(true);
    expect(isExpiredIterator(sdkError('ProvisionedThroughputExceededException'))).toBe(false);
    expect(isExpiredIterator(undefined)).toBe(false);
  });
});

describe('listShards', () => {
  it('follows NextToken across pages and retries a throttled page', async () => {
    const requests: unknown[] = [];
    let throttled = false;
    const kinesis = {
      send: async (command: ListShardsCommand) => {
        await Promise.resolve();
        requests.push(command.input);
        if (command.input.NextToken === 'p2' && !throttled) {
          throttled = true;
          throw sdkError('LimitExceededException', { $metadata: { httpStatusCode: 400 } });
        }
        if (command.input.NextToken === undefined) return { Shards: [{ ShardId: 'a' }], NextToken: 'p2' };
        return {
          Shards: [{ ShardId: 'b', SequenceNumberRange: { StartingSequenceNumber: '1', EndingSequenceNumber: '9' } }],
        };
      },
    };
    const shards = await listShards(kinesis as never, 'events', { policy: fast });
    expect(shards.map((s) => s.ShardId)).toEqual(['a', 'b']);
    expect(shards.filter(isOpenShard).map((s) => s.ShardId)).toEqual(['a']);
    // The first page names the stream; later pages carry only the token (ListShards refuses both).
    expect(requests).toEqual([{ StreamName: 'events' }, { NextToken: 'p2' }, { NextToken: 'p2' }]);
  });

  it('rejects with the SDK error when a page fails for good', async () => {
    const missing = sdkError('ResourceNotFoundException', { $metadata: { httpStatusCode: 400 } });
    const kinesis = { send: async () => Promise.reject(missing) };
    await expect(listShards(kinesis as never, 'events', { policy: fast })).rejects.toBe(missing);
  });
});

describe('putRecordsRetryingFailed', () => {
  const entry = (id: number) => ({ id, data: new Uint8Array([id]), partitionKey: `k${id}` });

  it('sends again only the entries that failed, and reports each write once', async () => {
    const sent: number[][] = [];
    const kinesis = {
      send: async (command: PutRecordsCommand) => {
        await Promise.resolve();
        const ids = (command.input.Records ?? []).map((r) => (r.Data as Uint8Array)[0] as number);
        sent.push(ids);
        return {
          Records: ids.map((id) =>
            id % 2 === 1 && sent.length === 1
              ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' }
              : { ShardId: 'shardId-0', SequenceNumber: `${id}` },
          ),
        };
      },
    };
    const written: number[] = [];
    const calls: [number, number, number][] = [];
    const result = await putRecordsRetryingFailed([1, 2, 3, 4].map(entry), {
      kinesis: kinesis as never,
      streamName: 'events',
      policy: fast,
      toEntry: (e) => ({ Data: e.data, PartitionKey: e.partitionKey }),
      onWritten: (e) => written.push(e.id),
      onCall: (_ms, records, failed, throttled) => calls.push([records, failed, throttled]),
    });
    expect(sent).toEqual([
      [1, 2, 3, 4],
      [1, 3],
    ]);
    expect(written.sort()).toEqual([1, 2, 3, 4]);
    expect(result).toEqual({ unwritten: [], attempts: 2 });
    expect(calls).toEqual([
      [4, 2, 2],
      [2, 0, 0],
    ]);
  });

  it('returns what is still unwritten after the last attempt, with the last error, never throwing', async () => {
    const outage = sdkError('ServiceUnavailable', { $metadata: { httpStatusCode: 503 } });
    let calls = 0;
    const kinesis = {
      send: async () => {
        await Promise.resolve();
        calls++;
        throw outage;
      },
    };
    const result = await putRecordsRetryingFailed([entry(1)], {
      kinesis: kinesis as never,
      streamName: 'events',
      policy: fast,
      toEntry: (e) => ({ Data: e.data, PartitionKey: e.partitionKey }),
    });
    expect(calls).toBe(3);
    expect(result.unwritten).toEqual([
      { record: entry(1), errorCode: 'ServiceUnavailable', message: 'ServiceUnavailable' },
    ]);
    expect(result.lastCallError).toBe(outage);
    expect(result.fatal).toBeUndefined();
  });

  it('stops at once on a call Kinesis refuses for good', async () => {
    const denied = sdkError('AccessDeniedException', { $metadata: { httpStatusCode: 403 } });
    let calls = 0;
    const result = await putRecordsRetryingFailed([entry(1), entry(2)], {
      kinesis: { send: async () => (calls++, Promise.reject(denied)) } as never,
      streamName: 'events',
      policy: fast,
      toEntry: (e) => ({ Data: e.data, PartitionKey: e.partitionKey }),
    });
    expect(calls).toBe(1);
    expect(result.fatal).toBe(denied);
    expect(result.unwritten.map((u) => u.record.id)).toEqual([1, 2]);
  });

  it('cuts entries into calls of at most 500 records and 5 MiB, in order', () => {
    const small = Array.from({ length: 1_001 }, (_, i) => ({ data: new Uint8Array(1), partitionKey: `${i}` }));
    expect(chunkPutEntries(small).map((c) => c.length)).toEqual([500, 500, 1]);
    const big = Array.from({ length: 6 }, () => ({ data: new Uint8Array(1024 * 1024), partitionKey: 'k' }));
    expect(chunkPutEntries(big).map((c) => c.length)).toEqual([4, 2]);
  });
});
