/**
 * Wraps the real Kinesis client (kinesalite) to inject the failures kinesalite never
 * produces: per-entry PutRecords failures, whole-call exceptions, and stalls. Entries
 * marked as failed are not forwarded, exactly as Kinesis would not have stored them.
 */
import { PutRecordsCommand, type KinesisClient, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';

export interface PutRecordsFaultPlan {
  /** Error code to fail an entry with, or undefined to let it through. `call` counts from 0. */
  failEntry?(call: number, partitionKey: string, entryIndex: number): string | undefined;
  /**
   * True to answer an entry with neither `SequenceNumber` nor `ErrorCode` (an empty result
   * entry), without forwarding it. `call` counts from 0.
   */
  answerEmpty?(call: number, partitionKey: string, entryIndex: number): boolean;
  /** An error to throw for the whole call instead of sending it. */
  throwForCall?(call: number): Error | undefined;
  /** Awaited before each call is forwarded (to stall the stream). */
  gate?(): Promise<void>;
}

export class FaultInjectingKinesis {
  calls = 0;
  forwardedEntries = 0;
  /** Records per PutRecords call, in call order. */
  readonly callRecords: number[] = [];

  constructor(
    private readonly real: KinesisClient,
    private readonly plan: PutRecordsFaultPlan,
  ) {}

  async send(command: any): Promise<any> {
    if (!(command instanceof PutRecordsCommand)) return this.real.send(command);
    const call = this.calls++;
    this.callRecords.push(command.input.Records?.length ?? 0);
    await this.plan.gate?.();
    const thrown = this.plan.throwForCall?.(call);
    if (thrown) throw thrown;
    const entries = command.input.Records ?? [];
    const failures = entries.map((entry, i) => this.plan.failEntry?.(call, entry.PartitionKey ?? '', i));
    const empty = entries.map((entry, i) => this.plan.answerEmpty?.(call, entry.PartitionKey ?? '', i) === true);
    const forwarded = entries.filter((_, i) => failures[i] === undefined && !empty[i]);
    this.forwardedEntries += forwarded.length;
    const realResults =
      forwarded.length > 0
        ? ((await this.real.send(new PutRecordsCommand({ ...command.input, Records: forwarded }))).Records ?? [])
        : [];
    let next = 0;
    const results: PutRecordsResultEntry[] = failures.map((code, i) =>
      empty[i]
        ? {}
        : code === undefined
          ? (realResults[next++] ?? {})
          : { ErrorCode: code, ErrorMessage: `injected ${code}` },
    );
    return { FailedRecordCount: failures.filter((f) => f !== undefined).length, Records: results, $metadata: {} };
  }
}
