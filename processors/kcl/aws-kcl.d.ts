/**
 * Types for `aws-kcl` (the package ships none), written from its source
 * (lib/kcl/kcl_process.js, kcl_manager.js, checkpointer.js): the record processor
 * interface of the MultiLang protocol version 2.
 */
declare module 'aws-kcl' {
  /** A record as the MultiLang daemon sends it (already KPL de-aggregated). */
  export interface KclRecord {
    /** Base64 of the user record's bytes. */
    data: string;
    partitionKey: string;
    sequenceNumber: string;
    subSequenceNumber?: number;
    approximateArrivalTimestamp?: number;
  }

  /** Sends a checkpoint to the daemon; the callback gets the daemon's error name, if any. */
  export interface KclCheckpointer {
    checkpoint(
      sequenceNumber: string | null,
      callback: (error: string | null | undefined, sequenceNumber?: string) => void,
    ): void;
    checkpoint(callback: (error: string | null | undefined, sequenceNumber?: string) => void): void;
  }

  export interface InitializeInput {
    shardId: string;
    sequenceNumber?: string;
    subSequenceNumber?: number;
  }

  export interface ProcessRecordsInput {
    records: KclRecord[];
    checkpointer: KclCheckpointer;
    millisBehindLatest?: number;
  }

  export interface CheckpointableInput {
    checkpointer: KclCheckpointer;
  }

  /** Every callback must eventually call `completeCallback`, which answers the daemon with a status. */
  export interface RecordProcessor {
    initialize(input: InitializeInput, completeCallback: () => void): void;
    processRecords(input: ProcessRecordsInput, completeCallback: () => void): void;
    leaseLost(input: Record<string, never>, completeCallback: () => void): void;
    shardEnded(input: CheckpointableInput, completeCallback: () => void): void;
    shutdownRequested?(input: CheckpointableInput, completeCallback: () => void): void;
  }

  export interface KclProcess {
    run(): void;
  }

  export default function kcl(
    recordProcessor: RecordProcessor,
    input?: NodeJS.ReadableStream,
    output?: NodeJS.WritableStream,
    error?: NodeJS.WritableStream,
  ): KclProcess;
}
