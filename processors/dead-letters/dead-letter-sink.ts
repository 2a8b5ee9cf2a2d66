/**
 * The dead-letter sink: writes records the pipeline could not use (bad JSON, contract
 * violations, oversized records, unknown versions, index mapping errors) to the
 * dead-letter Kinesis stream, each wrapped in the envelope of envelope.ts with its
 * original bytes and reasons. `send` resolves only when every letter is durably
 * written, so the pipeline can checkpoint past a poison record without losing it.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from '../../common/logger.js';
import type { RetryPolicy } from '../../common/retry.js';
import type { DeadLetter, DeadLetterSink } from '../types.js';
import { deadLetterPartitionKey, encodeDeadLetter } from './envelope.js';
import type { PutRecordsLimits } from '../../common/kinesis/put-records.js';
import { putRecordsDurably } from './put-records.js';

export interface DeadLetterSinkOptions {
  kinesis: KinesisClient;
  /** The dead-letter stream (`KINESIS_DLQ_STREAM_NAME`). */
  streamName: string;
  /** The stream the letters were read from, recorded in each envelope for replay. */
  sourceStreamName: string;
  logger: Logger;
  /** Retry policy for throttled entries; defaults to common/retry.ts' production policy. */
  retryPolicy?: RetryPolicy;
  /** PutRecords limits; the Kinesis ones unless a test wants smaller calls. */
  limits?: PutRecordsLimits;
  /** Clock for `deadLetteredAt`; injectable for tests. */
  now?: () => Date;
}

/**
 * Creates the dead-letter sink of processors/types.ts.
 *
 * @example
 *   const deadLetters = createDeadLetterSink({
 *     kinesis: createKinesisClient(config), streamName: config.kinesis.dlqStreamName,
 *     sourceStreamName: config.kinesis.streamName, logger,
 *   });
 *   await deadLetters.send(letters); // resolves once all are on the stream
 */
export function createDeadLetterSink(options: DeadLetterSinkOptions): DeadLetterSink {
  const logger = options.logger.child({ component: 'dead-letter-sink', streamName: options.streamName });
  const now = options.now ?? (() => new Date());
  return {
    async send(letters: readonly DeadLetter[]): Promise<void> {
      if (letters.length === 0) return;
      const context = { sourceStream: options.sourceStreamName, deadLetteredAt: now() };
      const entries = letters.map((letter) => {
        const encoded = encodeDeadLetter(letter, context);
        if (encoded.truncated) {
          logger.warn(
            { shardId: letter.id.shardId, sequenceNumber: letter.id.sequenceNumber, bytes: letter.data.byteLength },
            'dead letter too large for one Kinesis record: original bytes truncated, it will not be replayable',
          );
        }
        return { data: encoded.bytes, partitionKey: deadLetterPartitionKey(letter) };
      });
      await putRecordsDurably(options.kinesis, options.streamName, entries, {
        policy: options.retryPolicy,
        limits: options.limits,
        logger,
      });
      logger.debug({ letters: letters.length }, 'dead letters written');
    },
  };
}
