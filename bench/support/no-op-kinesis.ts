/**
 * A Kinesis client that writes nowhere, for measuring what the collector itself costs: it
 * answers every PutRecords entry with a fake sequence number and the shard its explicit hash
 * key (or, without one, the first shard) names, lists a static set of open shards (so the KPL
 * and compact packers get their shard map through the collector's own `startShardMapCache`),
 * and reports the stream ACTIVE. No network, no serialization, no SDK middleware.
 *
 * @example
 *   const kinesis = createNoOpKinesis({ shards: 4 });
 *   const collector = await startCollector(config, { kinesis });
 *   // ... load it ...; kinesis.recordsWritten → Kinesis records "written"
 */
import {
  DescribeStreamSummaryCommand,
  ListShardsCommand,
  PutRecordsCommand,
  type KinesisClient,
  type PutRecordsCommandOutput,
  type Shard,
} from '@aws-sdk/client-kinesis';

/** The top of the 128-bit hash-key space Kinesis maps partition keys into. */
const MAX_HASH_KEY = (1n << 128n) - 1n;

/** `count` open shards splitting the hash-key space evenly, as `CreateStream` does. */
export function evenShards(count: number): Shard[] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`shard count must be a positive integer, got ${count}`);
  const width = (MAX_HASH_KEY + 1n) / BigInt(count);
  return Array.from({ length: count }, (_, i) => ({
    ShardId: `shardId-${String(i).padStart(12, '0')}`,
    HashKeyRange: {
      StartingHashKey: (width * BigInt(i)).toString(),
      EndingHashKey: (i === count - 1 ? MAX_HASH_KEY : width * BigInt(i + 1) - 1n).toString(),
    },
    SequenceNumberRange: { StartingSequenceNumber: '0' },
  }));
}

export interface NoOpKinesis extends Pick<KinesisClient, 'send'> {
  /** Kinesis records PutRecords was given (aggregates count once). */
  readonly recordsWritten: number;
  /** Bytes of their data. */
  readonly bytesWritten: number;
}

/** Builds a no-op client with `shards` open shards (see the module comment). */
export function createNoOpKinesis(options: { shards: number }): NoOpKinesis {
  const shards = evenShards(options.shards);
  const shardByStart = new Map(shards.map((shard) => [shard.HashKeyRange?.StartingHashKey, shard.ShardId as string]));
  const firstShard = shards[0]?.ShardId as string;
  let sequence = 0;
  let recordsWritten = 0;
  let bytesWritten = 0;
  const putRecords = (command: PutRecordsCommand): PutRecordsCommandOutput => {
    const entries = command.input.Records ?? [];
    const records = entries.map((entry) => {
      recordsWritten++;
      bytesWritten += entry.Data?.byteLength ?? 0;
      const shardId =
        (entry.ExplicitHashKey === undefined ? undefined : shardByStart.get(entry.ExplicitHashKey)) ?? firstShard;
      return { SequenceNumber: `4959${String(++sequence).padStart(52, '0')}`, ShardId: shardId };
    });
    return { Records: records, FailedRecordCount: 0, $metadata: {} };
  };
  const client: NoOpKinesis = {
    get recordsWritten() {
      return recordsWritten;
    },
    get bytesWritten() {
      return bytesWritten;
    },
    send(command: unknown): Promise<unknown> {
      if (command instanceof PutRecordsCommand) return Promise.resolve(putRecords(command));
      if (command instanceof ListShardsCommand) return Promise.resolve({ Shards: shards, $metadata: {} });
      if (command instanceof DescribeStreamSummaryCommand)
        return Promise.resolve({
          StreamDescriptionSummary: { StreamStatus: 'ACTIVE', OpenShardCount: shards.length },
          $metadata: {},
        });
      return Promise.reject(
        new Error(`the no-op Kinesis client does not answer ${(command as object).constructor.name}`),
      );
    },
  };
  return client;
}
