import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCloudWatchClient } from '../../common/aws-clients.js';
import { loadConfig } from '../../common/config.js';
import { createCloudWatchHealthSource, PLATFORM_METRIC_NAMESPACE } from './cloudwatch-health-source.js';
import { startFakeCloudWatch, type FakeCloudWatch } from './test-support/fake-cloudwatch.js';

const NOW = new Date('2026-11-26T10:05:07.000Z');

let fake: FakeCloudWatch;
let client: CloudWatchClient;

beforeAll(async () => {
  fake = await startFakeCloudWatch();
  // The one AWS client factory, pointed at the fake by the usual endpoint variable.
  const config = loadConfig({ AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_CLOUDWATCH: fake.url });
  client = createCloudWatchClient(config, { maxAttempts: 1 });
});
afterAll(async () => {
  client.destroy();
  await fake.close();
});
beforeEach(() => {
  fake.requests.length = 0;
  fake.metrics = {};
});

const source = () =>
  createCloudWatchHealthSource({
    client,
    processorFunctionName: 'experimentation-event-processor',
    deadLetterStreamName: 'ExperimentEvents-dlq',
    windowMs: 900_000,
    now: () => NOW,
  });

describe('CloudWatch health source against a fake CloudWatch (the SDK’s JSON protocol)', () => {
  it('asks for iterator age, StateLost and dead-letter records in one signed GetMetricData call', async () => {
    fake.metrics = { lag: [120_000, 5_000], stateLost: [0, 2], deadLetters: [3, 4] };
    expect(await source().read()).toEqual({ reading: { deadLetterGrowth: 7, lagMs: 120_000, stateLost: true } });
    expect(fake.requests).toHaveLength(1);
    const [request] = fake.requests;
    expect(request!.headers.authorization).toMatch(/Credential=\w+\/20\d{6}\/eu-west-1\/monitoring\/aws4_request/);
    const body = request!.body;
    expect(body.EndTime).toBe(NOW.getTime() / 1000);
    expect(body.StartTime).toBe((NOW.getTime() - 900_000) / 1000);
    expect(body.ScanBy).toBe('TimestampDescending');
    const queries = body.MetricDataQueries ?? [];
    expect(queries.map((q) => q.Id)).toEqual(['lag', 'stateLost', 'deadLetters']);
    expect(queries.map((q) => q.MetricStat?.Metric?.Namespace)).toEqual([
      'AWS/Lambda',
      PLATFORM_METRIC_NAMESPACE,
      'AWS/Kinesis',
    ]);
    expect(queries.map((q) => q.MetricStat?.Metric?.MetricName)).toEqual([
      'IteratorAge',
      'StateLost',
      'IncomingRecords',
    ]);
    expect(queries[0]!.MetricStat?.Metric?.Dimensions).toEqual([
      { Name: 'FunctionName', Value: 'experimentation-event-processor' },
    ]);
    expect(queries[2]!.MetricStat?.Metric?.Dimensions).toEqual([{ Name: 'StreamName', Value: 'ExperimentEvents-dlq' }]);
    expect(queries.map((q) => [q.MetricStat?.Stat, q.MetricStat?.Period])).toEqual([
      ['Maximum', 60],
      ['Sum', 300],
      ['Sum', 900],
    ]);
  });

  it('reads no data points as zero, and a refused call as unknown naming the error', async () => {
    expect(await source().read()).toEqual({ reading: { deadLetterGrowth: 0, lagMs: 0, stateLost: false } });
    fake.fail(403, 'AccessDenied', 'User is not authorized to perform: cloudwatch:GetMetricData');
    const refused = await source().read();
    expect(refused.reading).toBeNull();
    expect(refused.error).toMatch(/^CloudWatch GetMetricData failed \(403 AccessDenied\): User is not authorized/);
  });

  it('lag below and no StateLost or dead letters: a healthy reading', async () => {
    fake.metrics = { lag: [800, 120_000], stateLost: [0], deadLetters: [0] };
    expect(await source().read()).toEqual({ reading: { deadLetterGrowth: 0, lagMs: 800, stateLost: false } });
  });
});
