/**
 * KPL aggregation: many user records packed into one Kinesis record (protobuf, the
 * format the KPL, the KCL and aws-kinesis-agg share), which is how producers beat the
 * 1,000 records/s per-shard limit. Records are grouped by destination shard and each
 * aggregate is sent with an ExplicitHashKey inside that shard's range, so every user
 * record stays on the shard its own partition key maps to.
 */
import { createRequire } from 'node:module';
import { encodeCompactRecord } from '../common/compact-records.js';
import type { StreamEvent } from '../common/event-contract.js';
import type { ShardMap } from './shard-map.js';

interface EncodedRecord {
  partitionKey: string;
  data: Buffer;
}

interface RecordAggregator {
  addUserRecord(record: { partitionKey: string; data: Buffer }): void;
  build(): EncodedRecord | undefined;
  length(): number;
}

const require = createRequire(import.meta.url);
const { RecordAggregator } = require('aws-kinesis-agg') as { RecordAggregator: new () => RecordAggregator };

/** Aggregates stay well under the 1 MB record limit so one slow shard never holds a huge record. */
export const MAX_AGGREGATE_BYTES = 256 * 1024;

/**
 * What the packers read of a user record; callers pass their own objects (e.g. pending entries).
 * A record has its JSON bytes (`data`), its event, or both; `bytes` bounds its size (at least
 * the JSON's length), which is what the packers count against `MAX_AGGREGATE_BYTES`.
 */
export interface UserRecord {
  partitionKey: string;
  /** The event as JSON (encoded from `json`, or serialized from `event`, when absent). */
  data?: Uint8Array;
  /** The event as JSON text, when `data` is absent and the caller has it. */
  json?: string;
  /** The event behind `data`, for the compact format (parsed from `data` when absent). */
  event?: StreamEvent;
  /** Its eventId's 16 bytes, from `eventIdAt`, when the caller has them (compact format only). */
  eventIdBytes?: Uint8Array;
  eventIdAt?: number;
  bytes: number;
}

/** A user record's JSON bytes: its `data`, its JSON text encoded, or its event serialized (JSON and KPL streams carry JSON). */
export function userRecordData(record: UserRecord): Uint8Array {
  if (record.data !== undefined) return record.data;
  if (record.json !== undefined) return Buffer.from(record.json);
  if (record.event === undefined) throw new Error('a user record needs its data or its event');
  return Buffer.from(JSON.stringify(record.event));
}

/** A user record's event: its `event`, or its JSON bytes parsed. */
function userRecordEvent(record: UserRecord): StreamEvent {
  if (record.event !== undefined) return record.event;
  if (record.data === undefined) throw new Error('a user record needs its data or its event');
  return JSON.parse(Buffer.from(record.data).toString('utf8')) as StreamEvent;
}

export interface AggregatedRecord<R> {
  partitionKey: string;
  explicitHashKey: string;
  data: Buffer;
  /** The caller's user records this record carries, in order. */
  records: R[];
}

/** Records grouped by destination shard, in their order. */
function groupByShard<R extends UserRecord>(
  records: readonly R[],
  shardMap: ShardMap,
): { hashKey: string; records: R[] }[] {
  const byShard = new Map<string, { hashKey: string; records: R[] }>();
  for (const record of records) {
    const shard = shardMap.shardFor(record.partitionKey);
    let group = byShard.get(shard.shardId);
    if (!group) {
      group = { hashKey: shard.startingHashKey.toString(), records: [] };
      byShard.set(shard.shardId, group);
    }
    group.records.push(record);
  }
  return [...byShard.values()];
}

/**
 * Packs user records into aggregated Kinesis records, one or more per destination shard,
 * preserving the order of records within each shard.
 *
 * @example
 *   const aggregates = aggregateByShard(records, shardMap); // → [{ partitionKey, explicitHashKey, data, records }]
 */
export function aggregateByShard<R extends UserRecord>(
  records: readonly R[],
  shardMap: ShardMap,
): AggregatedRecord<R>[] {
  const aggregates: AggregatedRecord<R>[] = [];
  for (const group of groupByShard(records, shardMap)) {
    let aggregator = new RecordAggregator();
    let refs: R[] = [];
    let bytes = 0;
    const seal = (): void => {
      const encoded = aggregator.build();
      if (encoded)
        aggregates.push({
          partitionKey: encoded.partitionKey,
          explicitHashKey: group.hashKey,
          data: encoded.data,
          records: refs,
        });
      aggregator = new RecordAggregator();
      refs = [];
      bytes = 0;
    };
    for (const record of group.records) {
      const json = userRecordData(record);
      const data = Buffer.isBuffer(json) ? json : Buffer.from(json.buffer, json.byteOffset, json.byteLength);
      const userRecord = { partitionKey: record.partitionKey, data };
      // An upper bound of the protobuf framing; aggregates stay far below the library's own 1 MB check.
      const size = data.length + userRecord.partitionKey.length + 16;
      if (aggregator.length() > 0 && bytes + size > MAX_AGGREGATE_BYTES) seal();
      aggregator.addUserRecord(userRecord);
      refs.push(record);
      bytes += size;
    }
    seal();
  }
  return aggregates;
}

/**
 * Packs events into compact records (common/compact-records.ts), one or more per destination
 * shard, preserving their order within each shard. A record holds at most
 * `MAX_AGGREGATE_BYTES` of the events' JSON, which bounds its own size (a compact event is
 * always smaller than its JSON). The partition key of a record is its first event's; the
 * explicit hash key keeps it on that shard.
 *
 * @example
 *   const records = packCompactByShard(entries, shardMap, { compress: false });
 */
export function packCompactByShard<R extends UserRecord>(
  records: readonly R[],
  shardMap: ShardMap,
  options: { compress: boolean },
): AggregatedRecord<R>[] {
  const packed: AggregatedRecord<R>[] = [];
  for (const group of groupByShard(records, shardMap)) {
    let events: StreamEvent[] = [];
    let eventIds: { bytes: (Uint8Array | undefined)[]; at: number[] } = { bytes: [], at: [] };
    let refs: R[] = [];
    let bytes = 0;
    let partitionKey = '';
    const seal = (): void => {
      if (events.length === 0) return;
      packed.push({
        partitionKey,
        explicitHashKey: group.hashKey,
        data: encodeCompactRecord(events, options, eventIds),
        records: refs,
      });
      events = [];
      eventIds = { bytes: [], at: [] };
      refs = [];
      bytes = 0;
    };
    for (const record of group.records) {
      if (events.length > 0 && bytes + record.bytes > MAX_AGGREGATE_BYTES) seal();
      if (events.length === 0) partitionKey = record.partitionKey;
      events.push(userRecordEvent(record));
      eventIds.bytes.push(record.eventIdBytes);
      eventIds.at.push(record.eventIdAt ?? 0);
      refs.push(record);
      bytes += record.bytes;
    }
    seal();
  }
  return packed;
}
