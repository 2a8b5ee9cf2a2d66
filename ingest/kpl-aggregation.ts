/**
 * KPL aggregation: many user records packed into one Kinesis record (protobuf, the
 * format the KPL, the KCL and aws-kinesis-agg share), which is how producers beat the
 * 1,000 records/s per-shard limit. Records are grouped by destination shard and each
 * aggregate is sent with an ExplicitHashKey inside that shard's range, so every user
 * record stays on the shard its own partition key maps to.
 */
import { createRequire } from 'node:module';
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

export interface UserRecord<T> {
  partitionKey: string;
  data: Uint8Array;
  /** Caller's handle (e.g. the pending request entry), returned with the aggregate that carries it. */
  ref: T;
}

export interface AggregatedRecord<T> {
  partitionKey: string;
  explicitHashKey: string;
  data: Buffer;
  refs: T[];
}

/**
 * Packs user records into aggregated Kinesis records, one or more per destination shard,
 * preserving the order of records within each shard.
 *
 * @example
 *   const aggregates = aggregateByShard(records, shardMap); // → [{ partitionKey, explicitHashKey, data, refs }]
 */
export function aggregateByShard<T>(records: readonly UserRecord<T>[], shardMap: ShardMap): AggregatedRecord<T>[] {
  const byShard = new Map<string, { hashKey: string; records: UserRecord<T>[] }>();
  for (const record of records) {
    const shard = shardMap.shardFor(record.partitionKey);
    let group = byShard.get(shard.shardId);
    if (!group) {
      group = { hashKey: shard.startingHashKey.toString(), records: [] };
      byShard.set(shard.shardId, group);
    }
    group.records.push(record);
  }
  const aggregates: AggregatedRecord<T>[] = [];
  for (const group of byShard.values()) {
    let aggregator = new RecordAggregator();
    let refs: T[] = [];
    let bytes = 0;
    const seal = (): void => {
      const encoded = aggregator.build();
      if (encoded)
        aggregates.push({
          partitionKey: encoded.partitionKey,
          explicitHashKey: group.hashKey,
          data: encoded.data,
          refs,
        });
      aggregator = new RecordAggregator();
      refs = [];
      bytes = 0;
    };
    for (const record of group.records) {
      const data = Buffer.isBuffer(record.data)
        ? record.data
        : Buffer.from(record.data.buffer, record.data.byteOffset, record.data.byteLength);
      const userRecord = { partitionKey: record.partitionKey, data };
      // An upper bound of the protobuf framing; aggregates stay far below the library's own 1 MB check.
      const size = data.length + userRecord.partitionKey.length + 16;
      if (aggregator.length() > 0 && bytes + size > MAX_AGGREGATE_BYTES) seal();
      aggregator.addUserRecord(userRecord);
      refs.push(record.ref);
      bytes += size;
    }
    seal();
  }
  return aggregates;
}
