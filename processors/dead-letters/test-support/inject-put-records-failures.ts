/**
 * Throttling injection for tests: kinesalite never throttles, so this middleware on a
 * real KinesisClient withholds chosen entries of a PutRecords call from kinesalite and
 * reports them as `ProvisionedThroughputExceededException`, exactly as Kinesis does.
 * The other entries are really written. Every call's entries are recorded.
 */
import type { KinesisClient, PutRecordsCommandInput, PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';

export interface PutRecordsRecorder {
  /** Partition keys of the entries of every PutRecords call, in call order. */
  readonly calls: string[][];
  remove(): void;
}

/**
 * Fails the entries `chooseFailures(callNumber, entryCount)` names (0-based indexes).
 *
 * @example
 *   const recorder = injectPutRecordsFailures(kinesis, (call) => (call === 0 ? [1, 3] : []));
 */
export function injectPutRecordsFailures(
  kinesis: KinesisClient,
  chooseFailures: (callNumber: number, entryCount: number) => number[],
): PutRecordsRecorder {
  const calls: string[][] = [];
  const name = `injectPutRecordsFailures-${Math.random().toString(36).slice(2)}`;
  kinesis.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'PutRecordsCommand') return next(args);
      const input = args.input as PutRecordsCommandInput;
      const entries = input.Records ?? [];
      calls.push(entries.map((entry) => entry.PartitionKey ?? ''));
      const failing = new Set(chooseFailures(calls.length - 1, entries.length));
      if (failing.size === 0) return next(args);
      const kept = entries.filter((_, index) => !failing.has(index));
      // Kinesis refuses an empty PutRecords, so when every entry fails nothing is sent at all.
      const result =
        kept.length > 0
          ? await next({ ...args, input: { ...input, Records: kept } })
          : {
              output: {
                $metadata: { httpStatusCode: 200 },
                FailedRecordCount: 0,
                Records: [],
              } as PutRecordsCommandOutput,
              response: undefined,
            };
      const output = result.output as PutRecordsCommandOutput;
      const written = [...(output.Records ?? [])];
      output.Records = entries.map((_, index) =>
        failing.has(index)
          ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard (injected)' }
          : (written.shift() ?? {}),
      );
      output.FailedRecordCount = (output.FailedRecordCount ?? 0) + failing.size;
      return result;
    },
    { step: 'initialize', name },
  );
  return { calls, remove: () => kinesis.middlewareStack.remove(name) };
}
