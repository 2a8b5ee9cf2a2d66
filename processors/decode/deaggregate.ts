/**
 * KPL de-aggregation. Producers that aggregate pack many user records into one Kinesis
 * record (protobuf after a 4-byte magic number, MD5 checksum at the end). Records without
 * the magic number are plain and pass through as a single user record with sub-sequence 0,
 * so this step costs one 4-byte comparison on the common path.
 */
import { deaggregateSync } from 'aws-kinesis-agg';
import type { EventRejection } from '../../common/event-contract.js';
import type { KinesisRecord } from '../types.js';
import type { UserRecord } from './user-record.js';

/** The KPL aggregation format's magic number (aggregation-format.md, version 0.9.0). */
const KPL_MAGIC = [0xf3, 0x89, 0x9a, 0xc2] as const;

/** True when the bytes start with the KPL magic number. */
export function isKplAggregate(data: Uint8Array): boolean {
  return (
    data.byteLength > KPL_MAGIC.length + 16 &&
    data[0] === KPL_MAGIC[0] &&
    data[1] === KPL_MAGIC[1] &&
    data[2] === KPL_MAGIC[2] &&
    data[3] === KPL_MAGIC[3]
  );
}

/** Either the user records inside a Kinesis record, or why the aggregate could not be opened. */
export type Deaggregation = { ok: true; userRecords: UserRecord[] } | { ok: false; rejection: EventRejection };

const asBuffer = (data: Uint8Array): Buffer =>
  Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/**
 * Splits one Kinesis record into its user records. A corrupt aggregate (bad protobuf or
 * checksum) is reported, never thrown, so the caller can dead-letter it and move on.
 * `index` is the record's position in its batch, used in the rejection.
 */
export function deaggregateRecord(record: KinesisRecord, shardId: string, index: number): Deaggregation {
  const plain = (): Deaggregation => ({
    ok: true,
    userRecords: [
      {
        id: { shardId, sequenceNumber: record.sequenceNumber, subSequenceNumber: record.subSequenceNumber ?? 0 },
        partitionKey: record.partitionKey,
        data: record.data,
      },
    ],
  });
  if (record.subSequenceNumber !== undefined || !isKplAggregate(record.data)) return plain();

  let failure: unknown;
  let decoded: { partitionKey: string; subSequenceNumber: number; data: string }[] = [];
  deaggregateSync(
    {
      data: asBuffer(record.data).toString('base64'),
      partitionKey: record.partitionKey,
      sequenceNumber: record.sequenceNumber,
    } as never,
    true,
    (error: unknown, userRecords?: typeof decoded) => {
      if (error) failure = error;
      else decoded = userRecords ?? [];
    },
  );
  if (failure !== undefined) {
    return {
      ok: false,
      rejection: {
        index,
        field: '(record)',
        rule: 'kpl-aggregate',
        message: `KPL aggregate could not be decoded: ${failure instanceof Error ? failure.message : JSON.stringify(failure)}`,
      },
    };
  }
  return {
    ok: true,
    userRecords: decoded.map((userRecord) => ({
      id: { shardId, sequenceNumber: record.sequenceNumber, subSequenceNumber: userRecord.subSequenceNumber },
      partitionKey: userRecord.partitionKey,
      data: Buffer.from(userRecord.data, 'base64'),
    })),
  };
}
