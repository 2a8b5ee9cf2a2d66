/**
 * A `dlq` command run in-process against this run's kinesalite: random main and
 * dead-letter streams, letters written by the real dead-letter sink (or raw records, for
 * envelopes older writers produced), captured stdout/stderr, and readers of both streams.
 */
import { PassThrough } from 'node:stream';
import { createKinesisClient } from '../../../common/aws-clients.js';
import type { Config } from '../../../common/config.js';
import { createSilentLogger } from '../../../common/logger.js';
import { ensureStream } from '../../../local/provision.js';
import { testConfig } from '../../../local/test-support/test-config.js';
import type { DeadLetter } from '../../types.js';
import { buildDlqProgram } from '../cli-program.js';
import { createDeadLetterSink } from '../dead-letter-sink.js';
import type { DeadLetterEnvelope } from '../envelope.js';
import { putRecordsDurably } from '../put-records.js';
import { readDeadLetters, readStreamFromStart } from '../reader.js';

export const FAST_RETRIES = { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 5 };

export interface DlqHarnessOptions {
  /** `OPENSEARCH_ENDPOINT` (a fake OpenSearch's URL); indexing is off without it. */
  opensearchUrl?: string;
  /** An existing config (streams, tables) instead of a fresh one. */
  config?: Config;
}

/** A record as read back from the main stream. */
export interface MainStreamRecord {
  partitionKey: string;
  data: string;
}

/**
 * Creates both streams and returns the helpers.
 *
 * @example
 *   const dlq = await startDlqHarness({ opensearchUrl: server.url });
 *   await dlq.sendLetters([letter]);
 *   const out = await dlq.run('replay');
 */
export async function startDlqHarness(options: DlqHarnessOptions = {}) {
  const config =
    options.config ?? testConfig(options.opensearchUrl ? { OPENSEARCH_ENDPOINT: options.opensearchUrl } : {});
  const kinesis = createKinesisClient(config);
  await Promise.all([
    ensureStream(kinesis, config.kinesis.dlqStreamName, 2),
    ensureStream(kinesis, config.kinesis.streamName, 2),
  ]);
  const deadLetterSink = createDeadLetterSink({
    kinesis,
    streamName: config.kinesis.dlqStreamName,
    sourceStreamName: config.kinesis.streamName,
    logger: createSilentLogger(),
    retryPolicy: FAST_RETRIES,
  });

  /** Writes letters as the pipeline does. */
  const sendLetters = (letters: DeadLetter[]) => deadLetterSink.send(letters);

  /** Writes records to the dead-letter stream as they are (e.g. envelopes of an older version). */
  const sendRawRecords = (records: { data: Uint8Array; partitionKey: string }[]) =>
    putRecordsDurably(kinesis, config.kinesis.dlqStreamName, records, { policy: FAST_RETRIES });

  /** Runs one `dlq` command in-process and returns what it printed on stdout. */
  const run = async (...argv: string[]): Promise<string> => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stderr.resume();
    const chunks: string[] = [];
    stdout.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
    const program = buildDlqProgram({
      config,
      kinesis,
      logger: createSilentLogger(),
      stdout,
      stderr,
      retryPolicy: FAST_RETRIES,
    });
    await program.parseAsync(argv, { from: 'user' });
    return chunks.join('');
  };

  const mainStreamRecords = async (): Promise<MainStreamRecord[]> =>
    (
      await readStreamFromStart({ kinesis, streamName: config.kinesis.streamName, limit: 10_000 }, (record) => ({
        partitionKey: record.partitionKey,
        data: Buffer.from(record.data).toString(),
      }))
    ).items.sort((a, b) => a.partitionKey.localeCompare(b.partitionKey));

  const deadLetters = async (): Promise<DeadLetterEnvelope[]> => {
    const { letters } = await readDeadLetters({ kinesis, streamName: config.kinesis.dlqStreamName, limit: 10_000 });
    return letters.flatMap((letter) => (letter.decoding.ok ? [letter.decoding.envelope] : []));
  };

  return { config, kinesis, sendLetters, sendRawRecords, run, mainStreamRecords, deadLetters };
}
