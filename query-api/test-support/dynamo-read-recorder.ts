/**
 * Test and bench support: a middleware on a real DynamoDBClient that records every read
 * request (Query, BatchGetItem, GetItem, Scan) with the sort keys of the items it returned,
 * and how many requests were in flight at once. Optionally it withholds keys of chosen
 * BatchGetItem calls from dynalite and reports them as `UnprocessedKeys`, as DynamoDB does
 * when it throttles (dynalite never does; the other keys are really read), and caps Query
 * pages at a few items so small tables page as large ones do at 1 MB.
 */
import type {
  AttributeValue,
  BatchGetItemCommandInput,
  BatchGetItemCommandOutput,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { COUNTER_SORT_KEY } from '../../common/counter-layout.js';

export interface RecordedRead {
  /** `QueryCommand`, `BatchGetItemCommand`, … */
  command: string;
  /** The request as the caller made it (before any withholding). */
  input: Record<string, unknown>;
  /** Sort keys of the items the response carried. */
  sortKeys: string[];
}

export interface DynamoReadRecorder {
  readonly reads: RecordedRead[];
  /** The most requests that were in flight at the same time since the last reset. */
  readonly maxInFlight: number;
  /** Every sort key returned since the last reset. */
  sortKeys(): string[];
  reset(): void;
  remove(): void;
}

export interface RecorderOptions {
  /**
   * For BatchGetItem call number `callNumber` (0-based, since the last reset) with
   * `keyCount` keys: the indexes of the keys to report as unprocessed instead of reading them.
   */
  withholdBatchKeys?: (callNumber: number, keyCount: number) => number[];
  /** Sets `Limit` on every Query, so its result comes in pages of this many items. */
  queryPageLimit?: number;
}

const READ_COMMANDS = new Set(['QueryCommand', 'BatchGetItemCommand', 'GetItemCommand', 'ScanCommand']);

type Item = Record<string, AttributeValue>;

function itemsOf(output: Record<string, unknown>): Item[] {
  if (Array.isArray(output.Items)) return output.Items as Item[];
  if (output.Item) return [output.Item as Item];
  const responses = output.Responses as Record<string, Item[]> | undefined;
  return responses ? Object.values(responses).flat() : [];
}

/**
 * Records the reads of `dynamo` until `remove()`.
 *
 * @example
 *   const recorder = recordDynamoReads(api.dynamo);
 *   await api.app.inject({ url: '/api/v1/experiments/x/results' });
 *   expect(recorder.reads.map((read) => read.command)).toEqual(['BatchGetItemCommand']);
 */
export function recordDynamoReads(dynamo: DynamoDBClient, options: RecorderOptions = {}): DynamoReadRecorder {
  const name = `recordDynamoReads-${Math.random().toString(36).slice(2)}`;
  const reads: RecordedRead[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let batchCalls = 0;

  /** Sends a BatchGetItem without the withheld keys and adds them back as unprocessed. */
  const withhold = async (
    next: (args: { input: object }) => Promise<{ output: object }>,
    args: { input: object },
  ): Promise<{ output: object }> => {
    const input = args.input as BatchGetItemCommandInput;
    const [tableName, request] = Object.entries(input.RequestItems ?? {})[0] ?? [];
    const keys = request?.Keys ?? [];
    const withheld = new Set(options.withholdBatchKeys?.(batchCalls++, keys.length) ?? []);
    if (!tableName || !request || withheld.size === 0) return next(args);
    const kept = keys.filter((_, index) => !withheld.has(index));
    const result =
      kept.length > 0
        ? await next({ ...args, input: { ...input, RequestItems: { [tableName]: { ...request, Keys: kept } } } })
        : { output: { $metadata: { httpStatusCode: 200 }, Responses: { [tableName]: [] } } };
    const output = result.output as BatchGetItemCommandOutput;
    output.UnprocessedKeys = { [tableName]: { Keys: keys.filter((_, index) => withheld.has(index)) } };
    return result;
  };

  dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? '';
      if (!READ_COMMANDS.has(command)) return next(args);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const paged =
          command === 'QueryCommand' && options.queryPageLimit !== undefined
            ? { ...args, input: { ...args.input, Limit: options.queryPageLimit } }
            : args;
        const result =
          command === 'BatchGetItemCommand' && options.withholdBatchKeys
            ? ((await withhold(next, args)) as Awaited<ReturnType<typeof next>>)
            : await next(paged);
        const sortKeys = itemsOf(result.output as unknown as Record<string, unknown>).map(
          (item) => item[COUNTER_SORT_KEY]?.S ?? '',
        );
        reads.push({ command, input: args.input as Record<string, unknown>, sortKeys });
        return result;
      } finally {
        inFlight--;
      }
    },
    { step: 'initialize', name },
  );

  return {
    reads,
    get maxInFlight() {
      return maxInFlight;
    },
    sortKeys: () => reads.flatMap((read) => read.sortKeys),
    reset() {
      reads.length = 0;
      maxInFlight = 0;
      batchCalls = 0;
    },
    remove: () => dynamo.middlewareStack.remove(name),
  };
}
