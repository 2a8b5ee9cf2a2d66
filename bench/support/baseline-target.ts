/**
 * The per-event baseline consumer as a child process (same conditions as the
 * processors). Env: AWS endpoints, KINESIS_STREAM_NAME, DYNAMODB_TABLE_NAME; argv[2]:
 * seconds to run at most. Prints `{"ready":"baseline"}`, `{"stats":{events,writes,at}}`
 * every 500 ms, and a final stats line when done.
 */
import { createDynamoClient, createKinesisClient } from '../../common/aws-clients.js';
import { loadConfig } from '../../common/config.js';
import { runPerEventConsumer, type BaselineProgress } from './baseline-consumer.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const seconds = Number(process.argv[2] ?? '20');
  const kinesis = createKinesisClient(config);
  const dynamo = createDynamoClient(config);
  const progress: BaselineProgress = { events: 0, writes: 0 };
  const emit = (): void => void process.stdout.write(`${JSON.stringify({ stats: { ...progress, at: Date.now() } })}\n`);
  process.stdout.write(`${JSON.stringify({ ready: 'baseline' })}\n`);
  const timer = setInterval(emit, 500);
  await runPerEventConsumer({
    kinesis,
    dynamo,
    streamName: config.kinesis.streamName,
    tableName: config.dynamodb.countersTable,
    concurrency: config.processors.writeConcurrency,
    deadline: Date.now() + seconds * 1000,
    progress,
  });
  clearInterval(timer);
  emit();
  process.stdout.write(`${JSON.stringify({ done: true })}\n`);
  kinesis.destroy();
  dynamo.destroy();
}

main().catch((error: unknown) => {
  process.stderr.write(`baseline target failed: ${String(error)}\n`);
  process.exit(1);
});
