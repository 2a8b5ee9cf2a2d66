/**
 * Wraps the real Kinesis client (kinesalite) and keeps every record a PutRecords call wrote,
 * with the sequence number Kinesis gave it, so a test can hand exactly what the collector wrote
 * to the processors' decoding without reading the stream back.
 */
import { PutRecordsCommand, type KinesisClient, type PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import type { KinesisRecord } from '../../processors/types.js';

export class RecordingKinesis {
  /** Records Kinesis accepted, in call order. */
  readonly written: KinesisRecord[] = [];

  constructor(private readonly real: KinesisClient) {}

  async send(command: any): Promise<any> {
    const output: unknown = await this.real.send(command);
    if (command instanceof PutRecordsCommand) {
      const entries = command.input.Records ?? [];
      const results = (output as PutRecordsCommandOutput).Records ?? [];
      results.forEach((result, i) => {
        const entry = entries[i];
        if (!entry?.Data || !result.SequenceNumber) return;
        this.written.push({
          sequenceNumber: result.SequenceNumber,
          partitionKey: entry.PartitionKey ?? '',
          data: entry.Data,
        });
      });
    }
    return output;
  }
}
