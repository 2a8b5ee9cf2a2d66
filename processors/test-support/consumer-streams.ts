/**
 * Integration-test helpers for the consumer: real kinesalite/dynalite clients with the
 * stream and checkpoint table created, records put in bulk, and a way to wrap the real
 * Kinesis client to inject the failures kinesalite never produces (throttling, expiry).
 */
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDynamoClient, createKinesisClient } from '../../common/aws-clients.js';
import type { Config } from '../../common/config.js';
import { ensureCheckpointTable, ensureStream } from '../../local/provision.js';

/** Clients for the config's endpoints, with the stream and the checkpoint table created. */
export async function provisionConsumer(
  config: Config,
  shardCount = 2,
): Promise<{ kinesis: KinesisClient; dynamo: DynamoDBClient }> {
  const kinesis = createKinesisClient(config);
  const dynamo = createDynamoClient(config);
  await Promise.all([
    ensureStream(kinesis, config.kinesis.streamName, shardCount),
    ensureCheckpointTable(dynamo, config.dynamodb.checkpointTable),
  ]);
  return { kinesis, dynamo };
}

/** Puts `payloads` (JSON-encoded unless already bytes) with the given partition keys, 500 per call. */
export async function putPayloads(
  kinesis: KinesisClient,
  streamName: string,
  entries: readonly { partitionKey: string; data: unknown }[],
): Promise<void> {
  for (let start = 0; start < entries.length; start += 500) {
    const chunk = entries.slice(start, start + 500).map((entry) => ({
      PartitionKey: entry.partitionKey,
      Data: entry.data instanceof Uint8Array ? entry.data : Buffer.from(JSON.stringify(entry.data)),
    }));
    const out = await kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: chunk }));
    if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records were not put`);
  }
}

/**
 * The real client, with `intercept` given a chance to throw before each command is sent
 * (by command name). Stands in for AWS behaviour kinesalite lacks; the command still goes
 * to kinesalite when `intercept` does not throw.
 */
export function interceptKinesis(real: KinesisClient, intercept: (commandName: string) => void): KinesisClient {
  return new Proxy(real, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
      return (command: { constructor: { name: string } }) => {
        intercept(command.constructor.name);
        return target.send(command as never);
      };
    },
  });
}

/** An error shaped like the SDK's service exceptions (the consumer recognises errors by name). */
export function kinesisServiceError(name: string): Error {
  const error = new Error(`${name} (injected by the test)`);
  error.name = name;
  return error;
}
