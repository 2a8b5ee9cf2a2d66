/**
 * The pipeline's health in AWS, where the Event Processor is a Lambda function with no
 * metrics endpoint: one CloudWatch `GetMetricData` call per run (the AWS SDK's
 * `GetMetricDataCommand` on the client of common/aws-clients.ts, signed with the function's
 * own credentials) reads
 *
 *   lag          AWS/Lambda IteratorAge (Maximum) of the Event Processor, its latest minute
 *   STATE_LOST   ExperimentationPlatform StateLost (Sum; the processors' STATE_LOST log lines,
 *                cdk/monitoring-stack.ts) over the last 5 minutes > 0
 *   dead letters AWS/Kinesis IncomingRecords (Sum) of the dead-letter stream over the window
 *
 * A minute with no data point (no invocation, nothing dead-lettered) counts as 0. A failed
 * call makes the reading unknown (null): alerts then neither fire nor clear. Worked example:
 * lag values [120000, 5000] (newest first), StateLost [0, 2], IncomingRecords [3, 4] →
 * `{ lagMs: 120000, stateLost: true, deadLetterGrowth: 7 }`.
 *
 * @example
 *   const source = createCloudWatchHealthSource({ client: createCloudWatchClient(config),
 *     processorFunctionName, deadLetterStreamName, windowMs: 900_000 });
 */
import {
  GetMetricDataCommand,
  ScanBy,
  type CloudWatchClient,
  type MetricDataQuery,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import type { HealthReadingResult, ProcessorHealthSource } from './processor-health-source.js';

/** Namespace of the metrics the platform derives from its logs (cdk/monitoring-stack.ts). */
export const PLATFORM_METRIC_NAMESPACE = 'ExperimentationPlatform';
/** The StateLost metric's name (cdk/monitoring-stack.ts). */
export const STATE_LOST_METRIC_NAME = 'StateLost';
/** How far back lag and STATE_LOST are read. */
const RECENT_MS = 5 * 60_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** Pages of one reading at most (three queries of a few points fit in one). */
const MAX_PAGES = 5;

export interface CloudWatchHealthOptions {
  /** From `createCloudWatchClient` (AWS_ENDPOINT_URL_CLOUDWATCH: a local fake in tests). */
  client: CloudWatchClient;
  processorFunctionName: string;
  deadLetterStreamName: string;
  /** The dead-letter window (MONITOR_DEAD_LETTER_WINDOW). */
  windowMs: number;
  now?: () => Date;
}

/** The three queries of one reading (ids `lag`, `stateLost`, `deadLetters`). */
export function healthQueries(options: {
  processorFunctionName: string;
  deadLetterStreamName: string;
  windowSeconds: number;
}): MetricDataQuery[] {
  return [
    {
      Id: 'lag',
      MetricStat: {
        Metric: {
          Namespace: 'AWS/Lambda',
          MetricName: 'IteratorAge',
          Dimensions: [{ Name: 'FunctionName', Value: options.processorFunctionName }],
        },
        Period: 60,
        Stat: 'Maximum',
      },
    },
    {
      Id: 'stateLost',
      MetricStat: {
        Metric: { Namespace: PLATFORM_METRIC_NAMESPACE, MetricName: STATE_LOST_METRIC_NAME },
        Period: RECENT_MS / 1000,
        Stat: 'Sum',
      },
    },
    {
      Id: 'deadLetters',
      MetricStat: {
        Metric: {
          Namespace: 'AWS/Kinesis',
          MetricName: 'IncomingRecords',
          Dimensions: [{ Name: 'StreamName', Value: options.deadLetterStreamName }],
        },
        Period: options.windowSeconds,
        Stat: 'Sum',
      },
    },
  ];
}

/** Values per query id, newest first (the order `TimestampDescending` asks for), across pages. */
function valuesById(results: readonly MetricDataResult[]): Record<string, number[]> {
  const values: Record<string, number[]> = {};
  for (const result of results) {
    if (result.Id === undefined) continue;
    (values[result.Id] ??= []).push(...(result.Values ?? []).filter(Number.isFinite));
  }
  return values;
}

/** The CloudWatch source (see the module comment). */
export function createCloudWatchHealthSource(options: CloudWatchHealthOptions): ProcessorHealthSource {
  const now = options.now ?? (() => new Date());
  const windowSeconds = Math.max(60, Math.round(options.windowMs / 60_000) * 60);
  const queries = healthQueries({ ...options, windowSeconds });
  return {
    async read(): Promise<HealthReadingResult> {
      const end = now();
      const start = new Date(end.getTime() - Math.max(RECENT_MS, windowSeconds * 1000));
      try {
        const results: MetricDataResult[] = [];
        let nextToken: string | undefined;
        for (let page = 0; page < MAX_PAGES; page++) {
          const output = await options.client.send(
            new GetMetricDataCommand({
              MetricDataQueries: queries,
              StartTime: start,
              EndTime: end,
              ScanBy: ScanBy.TIMESTAMP_DESCENDING,
              ...(nextToken ? { NextToken: nextToken } : {}),
            }),
            { abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
          );
          results.push(...(output.MetricDataResults ?? []));
          nextToken = output.NextToken;
          if (!nextToken) break;
        }
        const values = valuesById(results);
        const sum = (list: number[] | undefined) => (list ?? []).reduce((total, value) => total + value, 0);
        return {
          reading: {
            deadLetterGrowth: sum(values.deadLetters),
            lagMs: values.lag?.[0] ?? 0,
            stateLost: sum(values.stateLost) > 0,
          },
        };
      } catch (error) {
        const name = error instanceof Error ? error.name : 'Error';
        const message = error instanceof Error ? error.message : String(error);
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        return {
          reading: null,
          error: `CloudWatch GetMetricData failed${status ? ` (${status} ${name})` : ` (${name})`}: ${message}`,
        };
      }
    },
  };
}
