/**
 * `npm run bench -- record-format`: what each stream record format costs in Kinesis shards,
 * and in CPU on both sides, for the same generated workload (bench/workload.ts):
 *
 *   json               one event per Kinesis record (INGEST_RECORD_FORMAT=json, the default)
 *   KPL aggregates     the same JSON events, packed per shard by the KPL format (INGEST_KPL_AGGREGATION)
 *   compact            common/compact-records.ts (INGEST_RECORD_FORMAT=compact)
 *   compact + deflate  the same, raw-deflated (INGEST_COMPRESS_RECORDS=true)
 *
 * Records are built by the collector's own packers (ingest/kpl-aggregation.ts): the events of one
 * PutRecords call (`--events-per-call`) grouped by destination shard (`--shards`), as the
 * collector does, so an aggregate carries about events-per-call / shards events. Sizes count
 * what Kinesis meters (data blob + partition key). Encode and decode are CPU µs per event (best
 * of `--passes`, this process's CPU time), decode including the contract checks the processors
 * run (decodeEvent for JSON, decodeCompactRecord for compact). Every decoded event is compared
 * with the one encoded.
 */
import { isDeepStrictEqual } from 'node:util';
import { DEFAULT_EVENT_LIMITS } from '../../common/config.js';
import { decodeCompactRecord } from '../../common/compact-records.js';
import type { IncomingEvent, StreamEvent } from '../../common/event-contract.js';
import { jsonByteBound } from '../../common/validate-event.js';
import {
  aggregateByShard,
  packCompactByShard,
  type AggregatedRecord,
  type UserRecord,
} from '../../ingest/kpl-aggregation.js';
import type { ShardMap } from '../../ingest/shard-map.js';
import { loadShardMap } from '../../ingest/stream-shards.js';
import { deaggregateRecord } from '../../processors/decode/deaggregate.js';
import { decodeEvent } from '../../processors/decode/decode-user-record.js';
import { benchEnvironment, type BenchReport, type BenchRow } from '../report.js';
import type { BenchScenario } from '../scenario.js';
import { createNoOpKinesis } from '../support/no-op-kinesis.js';
import { generateRequests, toStreamEvent } from '../workload.js';

/** Kinesis write limits per shard: 1 MiB/s of data and partition keys, 1,000 records/s. */
export const SHARD_BYTES_PER_SECOND = 1024 * 1024;
export const SHARD_RECORDS_PER_SECOND = 1000;

/**
 * Shards a stream needs to take `eventsPerSecond` in a format, from its bytes per event
 * (data + partition key) and events per Kinesis record:
 *
 *   shards = ⌈ max( eventsPerSecond × bytesPerEvent / 1 MiB , eventsPerSecond / eventsPerRecord / 1,000 ) ⌉
 *
 * `boundBy` names the limit that decides.
 *
 * @example
 *   shardsNeeded(100_000, 300, 1); // → { shards: 100, boundBy: 'records' }
 */
export function shardsNeeded(
  eventsPerSecond: number,
  bytesPerEvent: number,
  eventsPerRecord: number,
): { shards: number; boundBy: 'bytes' | 'records' } {
  const byBytes = (eventsPerSecond * bytesPerEvent) / SHARD_BYTES_PER_SECOND;
  const byRecords = eventsPerSecond / eventsPerRecord / SHARD_RECORDS_PER_SECOND;
  return { shards: Math.ceil(Math.max(byBytes, byRecords)), boundBy: byBytes >= byRecords ? 'bytes' : 'records' };
}

/** One Kinesis record as a format writes it. */
interface FormatRecord {
  partitionKey: string;
  data: Buffer;
  events: number;
}

interface FormatResult {
  name: string;
  records: FormatRecord[];
  encodeMicros: number;
  decodeMicros: number;
  /** Events that did not decode back to the event encoded. */
  mismatches: number;
}

/** Decoded events in order (undefined where decoding refused one); compared after the timing. */
type Decoded = (StreamEvent | undefined)[];

const countMismatches = (decoded: Decoded, events: readonly StreamEvent[]): number =>
  events.reduce((count, event, i) => count + (isDeepStrictEqual(decoded[i], event) ? 0 : 1), 0) +
  Math.max(0, decoded.length - events.length);

/** Best (lowest) CPU µs per event of `passes` runs of `work`. */
function cpuMicrosPerEvent(events: number, passes: number, work: () => void): number {
  work(); // warm-up
  let best = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < passes; pass++) {
    const before = process.cpuUsage();
    work();
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / events);
  }
  return best;
}

/** The events of each PutRecords call, grouped by destination shard (the grouping is not timed). */
function shardGroups(events: readonly StreamEvent[], perCall: number, shardMap: ShardMap): StreamEvent[][] {
  const groups: StreamEvent[][] = [];
  for (let start = 0; start < events.length; start += perCall) {
    const byShard = new Map<string, StreamEvent[]>();
    for (const event of events.slice(start, start + perCall)) {
      const shardId = shardMap.shardFor(event.userId).shardId;
      const group = byShard.get(shardId) ?? [];
      group.push(event);
      byShard.set(shardId, group);
    }
    groups.push(...byShard.values());
  }
  return groups;
}

const asRecords = (packed: AggregatedRecord<UserRecord>[]): FormatRecord[] =>
  packed.map((record) => ({ partitionKey: record.partitionKey, data: record.data, events: record.records.length }));

function measureJson(events: readonly StreamEvent[], passes: number): FormatResult {
  let records: FormatRecord[] = [];
  const encodeMicros = cpuMicrosPerEvent(events.length, passes, () => {
    records = events.map((event) => ({
      partitionKey: event.userId,
      data: Buffer.from(JSON.stringify(event)),
      events: 1,
    }));
  });
  let decoded: Decoded = [];
  const decodeMicros = cpuMicrosPerEvent(events.length, passes, () => {
    decoded = records.map((record, i) => {
      const result = decodeEvent(record.data, i, DEFAULT_EVENT_LIMITS);
      return result.ok ? result.event : undefined;
    });
  });
  const mismatches = countMismatches(decoded, events);
  return { name: 'json: one event per record', records, encodeMicros, decodeMicros, mismatches };
}

function measureKpl(groups: readonly StreamEvent[][], singleShard: ShardMap, passes: number): FormatResult {
  const events = groups.flat();
  const inputs = groups.map((group) =>
    group.map((event): UserRecord => {
      const data = Buffer.from(JSON.stringify(event));
      return { partitionKey: event.userId, data, event, bytes: data.byteLength };
    }),
  );
  let records: FormatRecord[] = [];
  const encodeMicros = cpuMicrosPerEvent(events.length, passes, () => {
    records = inputs.flatMap((input) => asRecords(aggregateByShard(input, singleShard)));
  });
  let decoded: Decoded = [];
  const decodeMicros = cpuMicrosPerEvent(events.length, passes, () => {
    decoded = [];
    records.forEach((record, i) => {
      const split = deaggregateRecord(
        { sequenceNumber: String(i), partitionKey: record.partitionKey, data: record.data },
        'shardId-000000000000',
        i,
      );
      if (!split.ok) {
        for (let e = 0; e < record.events; e++) decoded.push(undefined);
        return;
      }
      for (const userRecord of split.userRecords) {
        const result = decodeEvent(userRecord.data, decoded.length, DEFAULT_EVENT_LIMITS);
        decoded.push(result.ok ? result.event : undefined);
      }
    });
  });
  const mismatches = countMismatches(decoded, events);
  return { name: 'KPL aggregates of json', records, encodeMicros, decodeMicros, mismatches };
}

function measureCompact(
  groups: readonly StreamEvent[][],
  singleShard: ShardMap,
  compress: boolean,
  passes: number,
): FormatResult {
  const events = groups.flat();
  // The collector's compact entries carry the event and an upper bound of its JSON length (what
  // its packers bound a record by), computed while validating; not timed.
  const inputs = groups.map((group) =>
    group.map((event): UserRecord => ({ partitionKey: event.userId, event, bytes: jsonByteBound(event) })),
  );
  let records: FormatRecord[] = [];
  const encodeMicros = cpuMicrosPerEvent(events.length, passes, () => {
    records = inputs.flatMap((input) => asRecords(packCompactByShard(input, singleShard, { compress })));
  });
  let decoded: Decoded = [];
  const decodeMicros = cpuMicrosPerEvent(events.length, passes, () => {
    decoded = [];
    records.forEach((record, i) => {
      const result = decodeCompactRecord(record.data, i, DEFAULT_EVENT_LIMITS);
      if (!result.ok) {
        for (let e = 0; e < record.events; e++) decoded.push(undefined);
        return;
      }
      for (const event of result.events) decoded.push(event.ok ? event.event : undefined);
    });
  });
  const mismatches = countMismatches(decoded, events);
  return {
    name: compress ? 'compact + deflate' : 'compact',
    records,
    encodeMicros,
    decodeMicros,
    mismatches,
  };
}

/** The workload's well-formed events as the collector writes them. */
function workloadEvents(count: number, seed: number, segmentDimensions: number): StreamEvent[] {
  const receivedAt = Date.UTC(2026, 0, 1);
  const events: StreamEvent[] = [];
  const requests = generateRequests({
    seed,
    events: count,
    eventsPerRequest: 100,
    users: 20_000,
    experiments: 3,
    variants: 3,
    metrics: 3,
    segmentValues: 20,
    segmentDimensions,
    duplicateShare: 0,
    malformedShare: 0,
  });
  for (const request of requests) {
    for (const event of request.events) events.push(toStreamEvent(event as IncomingEvent, receivedAt + events.length));
  }
  return events;
}

export const recordFormatScenario: BenchScenario = {
  name: 'record-format',
  description:
    'Bytes per event, events per shard-MB and Kinesis shards for a target rate, encode/decode CPU: json, KPL, compact, compact + deflate',
  options: [
    { flags: '--events <n>', description: 'events in the workload', defaultValue: '100000' },
    {
      flags: '--events-per-call <n>',
      description: 'events per PutRecords call (then grouped by shard)',
      defaultValue: '500',
    },
    { flags: '--shards <n>', description: 'destination shards the events of a call are grouped by', defaultValue: '4' },
    { flags: '--rate <events/s>', description: 'event rate the shard counts are computed for', defaultValue: '100000' },
    { flags: '--segment-dimensions <n>', description: 'segment dimensions per event (0–3)', defaultValue: '3' },
    { flags: '--passes <n>', description: 'timed passes (best is reported)', defaultValue: '5' },
    { flags: '--seed <n>', description: 'workload seed', defaultValue: '42' },
  ],
  async run({ options, progress, command }) {
    const started = Date.now();
    const eventCount = Number(options.events);
    const perCall = Number(options.eventsPerCall);
    const shardCount = Number(options.shards);
    const rate = Number(options.rate);
    const passes = Number(options.passes);
    const segmentDimensions = Number(options.segmentDimensions);
    const seed = Number(options.seed);

    progress(0.02, 'generating the workload');
    const events = workloadEvents(eventCount, seed, segmentDimensions);
    const shardMap = await loadShardMap(createNoOpKinesis({ shards: shardCount }), 'bench');
    const singleShard = await loadShardMap(createNoOpKinesis({ shards: 1 }), 'bench');
    const groups = shardGroups(events, perCall, shardMap);

    progress(0.1, 'json');
    const results = [measureJson(groups.flat(), passes)];
    progress(0.3, 'KPL aggregates');
    results.push(measureKpl(groups, singleShard, passes));
    progress(0.5, 'compact');
    results.push(measureCompact(groups, singleShard, false, passes));
    progress(0.75, 'compact + deflate');
    results.push(measureCompact(groups, singleShard, true, passes));
    progress(1, 'done');

    const rows: BenchRow[] = [];
    const bytesPerEvent: Record<string, number> = {};
    const shardsFor: Record<string, number> = {};
    const notes: string[] = [];
    for (const result of results) {
      const meteredBytes = result.records.reduce(
        (sum, record) => sum + record.data.byteLength + Buffer.byteLength(record.partitionKey),
        0,
      );
      const perEvent = meteredBytes / events.length;
      const eventsPerRecord = events.length / result.records.length;
      const needed = shardsNeeded(rate, perEvent, eventsPerRecord);
      bytesPerEvent[result.name] = perEvent;
      shardsFor[result.name] = needed.shards;
      rows.push({
        name: result.name,
        metrics: {
          'events/record': eventsPerRecord,
          'bytes/event': perEvent,
          'events per shard-MB': SHARD_BYTES_PER_SECOND / perEvent,
          [`MiB/s at ${rate.toLocaleString('en-US')} ev/s`]: (rate * perEvent) / SHARD_BYTES_PER_SECOND,
          [`records/s at ${rate.toLocaleString('en-US')} ev/s`]: rate / eventsPerRecord,
          [`shards for ${rate.toLocaleString('en-US')} ev/s`]: needed.shards,
          'bound by': needed.boundBy,
          'encode µs/event': result.encodeMicros,
          'decode µs/event': result.decodeMicros,
        },
      });
      if (result.mismatches > 0)
        notes.push(
          `CORRECTNESS FAILURE: ${result.name}: ${result.mismatches} of ${events.length} events did not decode back to the event encoded`,
        );
    }
    if (notes.length === 0)
      notes.push(`Every format decoded back to the ${events.length.toLocaleString('en-US')} events encoded.`);
    notes.push(
      'Encode: json = JSON.stringify + Buffer.from per event; KPL = the KPL aggregator over those JSON bytes; compact = the compact encoder (ingest/kpl-aggregation.ts packCompactByShard → encodeCompactRecord). The collector serializes events to JSON only for json and KPL streams; for compact streams it checks the contract size rule on an upper bound of the JSON length and serializes only an event whose bound is over the limit. Decode includes the contract checks: decodeEvent (JSON.parse + validateStreamEvent) per JSON event, de-aggregation first for KPL, decodeCompactRecord for compact.',
      `Shards = ⌈max(bytes/s ÷ 1 MiB, records/s ÷ 1,000)⌉ per shard write limit; an aggregate carries the events of one ${perCall}-event PutRecords call for one of ${shardCount} shards, so fewer events per call (a lightly loaded collector) means smaller aggregates and a larger compact dictionary share per event.`,
    );
    const json = 'json: one event per record';
    const ratios: Record<string, number> = {};
    for (const name of ['KPL aggregates of json', 'compact', 'compact + deflate']) {
      ratios[`${name} / json (bytes per event)`] = (bytesPerEvent[name] ?? 0) / (bytesPerEvent[json] ?? 1);
      ratios[`${name} / json (shards for ${rate.toLocaleString('en-US')} ev/s)`] =
        (shardsFor[name] ?? 0) / (shardsFor[json] ?? 1);
    }
    return {
      scenario: 'record-format',
      title: 'Stream record formats: bytes, Kinesis shards and CPU per event',
      command,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      environment: benchEnvironment(),
      parameters: {
        events: eventCount,
        eventsPerCall: perCall,
        shards: shardCount,
        rate,
        segmentDimensions,
        passes,
        seed,
        shardLimits: { bytesPerSecond: SHARD_BYTES_PER_SECOND, recordsPerSecond: SHARD_RECORDS_PER_SECOND },
      },
      rows,
      ratios,
      targets: [],
      notes,
    } satisfies BenchReport;
  },
};
