/**
 * End to end: the real pipeline (real counter sink on dynalite, real dead-letter sink on
 * kinesalite, the real OpenSearch sink against a fake OpenSearch) dead-letters an event the
 * index refused; `dlq replay` after the eventId de-dup window has passed must not change any
 * counter.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createDynamoClient } from '../../common/aws-clients.js';
import { createSilentLogger } from '../../common/logger.js';
import { testConfig } from '../../local/test-support/test-config.js';
import { readCounters } from '../test-support/read-counters.js';
import { createCountersTable } from '../test-support/counter-delivery.js';
import { createProcessorMetrics } from '../metrics.js';
import { createEventIndexSink } from '../opensearch/event-index-sink.js';
import { createPipeline } from '../pipeline.js';
import { sampleEvent } from '../test-support/pipeline-doubles.js';
import { createCounterSink } from '../counters/counter-sink.js';
import { createInProcessUserStateStore } from '../state/in-process-store.js';
import { createDeadLetterSink } from './dead-letter-sink.js';
import { putRecordsDurably } from './put-records.js';
import { readStreamFromStart } from './reader.js';
import { FAST_RETRIES, startDlqHarness } from './test-support/dlq-harness.js';
import {
  allCreated,
  refuseAllWithMappingError,
  startRecordedOpenSearch,
  type RecordedOpenSearch,
} from './test-support/fake-opensearch.js';

const DEDUP_WINDOW_SECONDS = 1;

describe('dlq replay after the de-dup window (real counters on dynalite, real kinesalite, fake OpenSearch)', () => {
  let server: RecordedOpenSearch | undefined;
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await server?.close();
    server = undefined;
  });

  it('re-indexes an index-rejected event without changing any counter, where a replay to the main stream would count it twice', async () => {
    // The first _bulk refuses the document (mapping error), every later one accepts.
    server = await startRecordedOpenSearch([refuseAllWithMappingError, allCreated]);
    const config = testConfig({
      OPENSEARCH_ENDPOINT: server.url,
      PROCESSOR_DEDUP_WINDOW_SECONDS: String(DEDUP_WINDOW_SECONDS),
    });
    const dlq = await startDlqHarness({ config });
    const logger = createSilentLogger();
    const dynamo = createDynamoClient(config);
    closers.push(() => Promise.resolve(dynamo.destroy()));
    await createCountersTable(dynamo, config.dynamodb.countersTable);

    // The claim clock of the state store: moved past the de-dup window instead of sleeping through it.
    let clock = Date.now();
    const state = createInProcessUserStateStore({
      segmentValueCap: config.processors.segmentValueCap,
      dedupWindowSeconds: config.processors.dedupWindowSeconds,
      now: () => clock,
    });
    closers.push(() => state.close());
    const index = createEventIndexSink({
      endpoint: server.url,
      indexPrefix: config.opensearch.indexPrefix,
      logger,
      retryPolicy: FAST_RETRIES,
    });
    closers.push(() => index.stop());
    const pipeline = createPipeline({
      counters: createCounterSink({
        dynamo,
        tableName: config.dynamodb.countersTable,
        state,
        writeConcurrency: config.processors.writeConcurrency,
        retryPolicy: FAST_RETRIES,
        logger,
      }),
      deadLetters: createDeadLetterSink({
        kinesis: dlq.kinesis,
        streamName: config.kinesis.dlqStreamName,
        sourceStreamName: config.kinesis.streamName,
        logger,
        retryPolicy: FAST_RETRIES,
      }),
      index,
      logger,
      metrics: createProcessorMetrics(),
      limits: config.events,
    });

    /** A consumer's pass over the main stream: every shard from its start, in order (committed records are skipped). */
    const consumeMainStream = async () => {
      const { items } = await readStreamFromStart(
        { kinesis: dlq.kinesis, streamName: config.kinesis.streamName, limit: 10_000 },
        (record) => record,
      );
      const byShard = new Map<string, typeof items>();
      for (const record of items) byShard.set(record.shardId, [...(byShard.get(record.shardId) ?? []), record]);
      const outcomes = [];
      for (const [shardId, records] of byShard) outcomes.push(await pipeline.processBatch({ shardId, records }));
      return outcomes;
    };

    const event = sampleEvent({ userId: 'user-revenue', type: 'conversion', metric: 'revenue', value: 19.99 });
    const original = { data: Buffer.from(JSON.stringify(event)), partitionKey: event.userId };
    await putRecordsDurably(dlq.kinesis, config.kinesis.streamName, [original], { policy: FAST_RETRIES });

    const [first] = await consumeMainStream();
    expect(first).toMatchObject({ counted: 1, indexRejected: 1 });
    const countedOnce = await readCounters(dynamo, config.dynamodb.countersTable);
    expect(countedOnce.size).toBeGreaterThan(0);
    expect(await dlq.deadLetters()).toMatchObject([
      { partitionKey: 'user-revenue', takenBy: ['counters'], reasons: [{ rule: 'index-rejected' }] },
    ]);

    clock += (DEDUP_WINDOW_SECONDS + 1) * 1000;

    const out = await dlq.run('replay');
    expect(out).toContain(`replayed 0 to ${config.kinesis.streamName}, 1 to the OpenSearch index only`);
    expect(out).toContain('OpenSearch index: 1 indexed');
    const reindexed = server.bulkRequests().at(-1);
    expect(reindexed?.actions.map((action) => action._id)).toEqual([event.eventId]);
    expect((await dlq.mainStreamRecords()).map((record) => record.data)).toEqual([original.data.toString()]);
    await consumeMainStream();
    expect(await readCounters(dynamo, config.dynamodb.countersTable)).toEqual(countedOnce);

    // Control: what the replay must not do. The same bytes on the main stream now count again,
    // so the window has really passed and this test would see a double count.
    await putRecordsDurably(dlq.kinesis, config.kinesis.streamName, [original], { policy: FAST_RETRIES });
    const outcomes = await consumeMainStream();
    expect(outcomes.reduce((sum, outcome) => sum + outcome.counted, 0)).toBe(1);
    expect(await readCounters(dynamo, config.dynamodb.countersTable)).not.toEqual(countedOnce);
  }, 60_000);
});
