/**
 * The poison-record proof (issue 10 §4): every known poison, put on the stream directly
 * (bypassing the collector) between ~200 good events, must end on the dead-letter stream
 * exactly once with its reason, while every good record is counted exactly and no shard
 * stalls, within a bounded time:
 *
 * 1. eleven conversions of 99999999.357543 from one user (the first counts, the other ten
 *    would take the user's total past MAX_USER_TOTAL) and one of 999999999999.357543;
 * 2. a timestamp and a receivedAt of 9e15 (past the largest JavaScript date);
 * 3. a document the index refuses with a mapping conflict (counted all the same);
 * 4. lone surrogates escaped in the JSON text, and bytes that are not UTF-8;
 * 5. a KPL aggregate with poison user records between good ones.
 *
 * Real kinesalite, dynalite and the machine's Redis (state store `redis`); OpenSearch cannot
 * run here, so a fake OpenSearch (a real HTTP server answering `_bulk` with recorded items,
 * and refusing index names the real cluster cannot create, such as `…-NaN.NaN.NaN`) stands in
 * for it, reached through OPENSEARCH_ENDPOINT as in production.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../common/aws-clients.js';
import { testConfig, waitFor } from '../local/test-support/test-config.js';
import { createCheckpointStore } from './consumer/checkpoint-store.js';
import { computeExpectedCounters, type CounterTable } from './test-support/counter-ground-truth.js';
import { readCounters } from './test-support/read-counters.js';
import { generateWorkload } from '../local/test-support/counter-workload.js';
import { readDeadLetters } from './dead-letters/reader.js';
import { startProcessors, type RunningProcessors } from './main.js';
import type { ProcessorMetrics } from './metrics.js';
import { startRecordedOpenSearch, type RecordedOpenSearch } from './opensearch/test-support/recorded-opensearch.js';
import { provisionPipeline } from '../local/provision.js';
import {
  buildPoisonProof,
  putProofRecords,
  refuseDocumentsWithMappingError,
  type ExpectedLetter,
} from './test-support/poison-records.js';

/** Everything (start-up included) must be done within this: a poison retried forever would stall its shard past it. */
const PROOF_BOUND_MS = 60_000;
const SEED = 20_261_010;

const sorted = (table: CounterTable) => [...table.entries()].sort(([a], [b]) => a.localeCompare(b));
const running: RunningProcessors[] = [];
const servers: RecordedOpenSearch[] = [];
const redisPrefixes: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((processors) => processors.stop()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(async () => {
  const redis = new Redis(inject('redisUrl'));
  for (const prefix of redisPrefixes) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

async function metricValues(metric: { get(): Promise<{ values: { labels: object; value: number }[] }> }) {
  return (await metric.get()).values;
}

async function byLabel(metric: ProcessorMetrics['deadLetters'] | ProcessorMetrics['eventsOut'], label: string) {
  const counts: Record<string, number> = {};
  for (const { labels, value } of await metricValues(metric)) {
    const name = String((labels as Record<string, unknown>)[label]);
    if (value > 0) counts[name] = (counts[name] ?? 0) + value;
  }
  return counts;
}

const countBy = <T>(items: readonly T[], key: (item: T) => string): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
};

describe('poison records (kinesalite + dynalite + Redis + fake OpenSearch)', () => {
  it(
    'every poison dead-lettered once with its reason, every good record counted exactly, no shard stalled, within 60 s (fake OpenSearch refusing one document)',
    { timeout: 120_000 },
    async () => {
      const goodEvents = generateWorkload({
        seed: SEED,
        events: 200,
        users: 30,
        experiments: 2,
        experimentPrefix: 'poison-proof',
      });
      const proof = buildPoisonProof(goodEvents, SEED);
      const opensearch = await startRecordedOpenSearch([
        refuseDocumentsWithMappingError(new Set([proof.refusedDocumentId])),
      ]);
      servers.push(opensearch);
      const config = testConfig({
        KINESIS_SHARD_COUNT: '2',
        REDIS_URL: inject('redisUrl'),
        PROCESSOR_STATE_STORE: 'redis',
        PROCESSOR_BATCH_MAX_RECORDS: '25',
        PROCESSOR_POLL_INTERVAL_MS: '20',
        OPENSEARCH_ENDPOINT: opensearch.url,
      });
      redisPrefixes.push(`xc:{${config.dynamodb.countersTable}}:`);
      const kinesis = createKinesisClient(config);
      const dynamo = createDynamoClient(config);
      await provisionPipeline(config, { kinesis, dynamo });
      const { positions, lastByShard } = await putProofRecords(kinesis, config.kinesis.streamName, proof.records);
      expect(lastByShard.size).toBe(2);

      // Run the processors until every shard is checkpointed at its last record, on the clock.
      const startedAt = Date.now();
      const processors = await startProcessors(config, { consumerOptions: { shardRefreshMs: 200 } });
      running.push(processors);
      const checkpoints = createCheckpointStore(dynamo, config.dynamodb.checkpointTable);
      const behind = async () => {
        const stalled: string[] = [];
        for (const [shardId, last] of lastByShard) {
          const at = (await checkpoints.read(shardId))?.sequenceNumber;
          if (at !== last) stalled.push(`${shardId} at ${at ?? 'nothing'}, last ${last}`);
        }
        return stalled;
      };
      await waitFor(
        async () => (await behind()).length === 0,
        PROOF_BOUND_MS,
        'every shard checkpointed at its last record',
      ).catch(async (error: unknown) => {
        const failures = await byLabel(processors.metrics.deadLetters, 'reason');
        throw new Error(
          `${(error as Error).message}: ${(await behind()).join('; ')}; dead letters so far ${JSON.stringify(failures)}; ` +
            `batch failures ${JSON.stringify(await metricValues(processors.metrics.batchFailures))}`,
        );
      });
      const elapsedMs = Date.now() - startedAt;
      await processors.stop();
      expect(elapsedMs).toBeLessThan(PROOF_BOUND_MS);

      // (a) Every counter cell: the good events, the whale's first conversion, the document the index refused.
      const counted = proof.records.flatMap((record) => record.counted);
      const expected = computeExpectedCounters(counted, { segmentValueCap: config.processors.segmentValueCap });
      expect(sorted(await readCounters(dynamo, config.dynamodb.countersTable))).toEqual(sorted(expected));

      // (b) Each poison on the dead-letter stream exactly once, with its rule, field and the sinks that took it.
      const expectedLetters = new Map<string, ExpectedLetter>();
      proof.records.forEach((record, i) => {
        const { shardId, sequenceNumber } = positions[i]!;
        for (const letter of record.letters) {
          expectedLetters.set(`${shardId}/${sequenceNumber}/${letter.subSequenceNumber}`, letter);
        }
      });
      const { letters, stoppedBy } = await readDeadLetters({
        kinesis,
        streamName: config.kinesis.dlqStreamName,
        limit: 1_000,
        maxDurationMs: 20_000,
      });
      expect(stoppedBy).toBe('end-of-stream');
      const envelopes = letters.map((read) => {
        if (!read.decoding.ok) throw new Error(`undecodable dead letter at ${read.dlqSequenceNumber}`);
        return read.decoding.envelope;
      });
      const keyOf = (e: (typeof envelopes)[number]) => `${e.shardId}/${e.sequenceNumber}/${e.subSequenceNumber}`;
      const lettersPerRecord = countBy(envelopes, keyOf);
      expect(Object.entries(lettersPerRecord).filter(([, count]) => count > 1)).toEqual([]);
      const summary = (e: (typeof envelopes)[number]) => ({
        poison: expectedLetters.get(keyOf(e))?.poison ?? `unexpected letter ${keyOf(e)}`,
        reasons: e.reasons.map(({ field, rule }) => ({ field, rule })),
        takenBy: e.takenBy,
      });
      const want = [...expectedLetters.values()].map(({ poison, field, rule, takenBy }) => ({
        poison,
        reasons: [{ field, rule }],
        takenBy,
      }));
      const byPoison = (a: { poison: string }, b: { poison: string }) => a.poison.localeCompare(b.poison);
      expect(envelopes.map(summary).sort(byPoison)).toEqual(want.sort(byPoison));
      expect(expectedLetters.size).toBe(22);
      expect(envelopes).toHaveLength(expectedLetters.size);
      const refusal = envelopes.find((e) => e.reasons[0]?.rule === 'index-rejected');
      expect(refusal?.reasons[0]?.message).toMatch(/^mapper_parsing_exception: failed to parse field \[value\]/);

      // The index got every event decoding let through (the whale's refused ones too, as their letters say), once.
      const sentIds = opensearch.bulkRequests().flatMap((request) => request.actions.map((action) => action._id));
      expect(new Set(sentIds)).toEqual(new Set(proof.records.flatMap((record) => record.indexed)));
      expect(sentIds.filter((id) => id === proof.refusedDocumentId)).toHaveLength(1);

      // (c) No retry loop: no batch failed, nothing needed bisection, and the metrics agree with the letters.
      expect(await metricValues(processors.metrics.batchFailures)).toEqual([]);
      const deadLetterMetrics = await byLabel(processors.metrics.deadLetters, 'reason');
      expect(deadLetterMetrics).toEqual(countBy([...expectedLetters.values()], (letter) => letter.rule));
      expect(deadLetterMetrics['sink-rejected']).toBeUndefined();
      const distinctCounted = new Set(counted.map((event) => event.eventId)).size;
      const outcomes = await byLabel(processors.metrics.eventsOut, 'outcome');
      expect(outcomes).toEqual({
        counted: distinctCounted,
        duplicate: counted.length - distinctCounted,
        dead_lettered: [...expectedLetters.values()].filter((letter) => letter.rule !== 'index-rejected').length,
      });
    },
  );
});
