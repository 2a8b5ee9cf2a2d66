import { readFileSync } from 'node:fs';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../../common/aws-clients.js';
import { EXPOSURE_METRIC } from '../../common/counter-layout.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import { handler as eventProcessor } from '../../processors/lambda-handler.js';
import { provisionPipeline } from '../../local/provision.js';
import { startTestApi, type TestApi } from '../test-support/test-app.js';

/** The documented Kinesis event shape the Event Processor receives (its own test fixture). */
const fixture = JSON.parse(
  readFileSync(new URL('../../processors/lambda/fixtures/kinesis-event.json', import.meta.url), 'utf8'),
) as KinesisStreamEvent;
const RECEIVED_AT = 1_700_000_000_100;

/** One Kinesis event of contract events, in order on one shard, shaped like the fixture's records. */
function kinesisEvent(events: Record<string, unknown>[]): KinesisStreamEvent {
  const template = fixture.Records[0] as KinesisStreamRecord;
  const base = BigInt(template.kinesis.sequenceNumber);
  return {
    Records: events.map((event, index) => ({
      ...template,
      kinesis: {
        ...template.kinesis,
        sequenceNumber: String(base + BigInt(index + 1)),
        data: Buffer.from(
          JSON.stringify({
            version: 1,
            eventId: crypto.randomUUID(),
            timestamp: RECEIVED_AT - 100,
            receivedAt: RECEIVED_AT,
            value: 1,
            ...event,
          }),
        ).toString('base64'),
      },
    })),
  };
}

describe('GET /api/v1/metrics/{metricKey}/totals (counters written by the Event Processor, real dynalite)', () => {
  let api: TestApi;
  const [expA, expB, expC] = ['a', 'b', 'c'].map((letter) => randomName(`exp-${letter}`)) as [string, string, string];
  const exposed = (experimentId: string, variantId: string, userId: string) => ({
    type: 'impression',
    experimentId,
    variantId,
    userId,
    segments: { country: 'US' },
  });
  const converted = (experimentId: string, variantId: string, userId: string, metric: string, value: number) => ({
    type: 'conversion',
    experimentId,
    variantId,
    userId,
    metric,
    value,
    segments: { country: 'US' },
  });

  beforeAll(async () => {
    // The processors' own local provisioning creates the table (with the metric-totals index).
    const config = testConfig();
    await provisionPipeline(config, { kinesis: createKinesisClient(config), dynamo: createDynamoClient(config) });
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_KINESIS: config.aws.kinesisEndpoint,
      AWS_ENDPOINT_URL_DYNAMODB: config.aws.dynamodbEndpoint,
      KINESIS_STREAM_NAME: config.kinesis.streamName,
      KINESIS_DLQ_STREAM_NAME: config.kinesis.dlqStreamName,
      DYNAMODB_TABLE_NAME: config.dynamodb.countersTable,
      DYNAMODB_CHECKPOINT_TABLE_NAME: config.dynamodb.checkpointTable,
      PROCESSOR_STATE_STORE: 'in-process',
      LOG_LEVEL: 'silent',
    });
    delete process.env.OPENSEARCH_ENDPOINT;
    delete process.env.REDIS_URL;
    const response = await eventProcessor(
      kinesisEvent([
        exposed(expA, 'control', 'u1'),
        exposed(expA, 'control', 'u2'),
        exposed(expA, 'treatment', 'u3'),
        exposed(expB, 'control', 'u4'),
        exposed(expC, 'control', 'u5'),
        converted(expA, 'control', 'u1', 'checkout', 5),
        converted(expA, 'control', 'u2', 'checkout', 5),
        converted(expA, 'treatment', 'u3', 'checkout', 7),
        converted(expB, 'control', 'u4', 'checkout', 3),
        converted(expC, 'control', 'u5', 'revenue', 9),
      ]),
    );
    expect(response).toEqual({ batchItemFailures: [] });
    api = await startTestApi({ DYNAMODB_TABLE_NAME: config.dynamodb.countersTable });
  });
  afterAll(async () => {
    await api.close();
  });

  const get = (url: string) => api.app.inject({ method: 'GET', url });

  it("answers every experiment's per-variant totals of the metric, and no segment cell", async () => {
    const response = await get('/api/v1/metrics/checkout/totals');
    expect(response.statusCode).toBe(200);
    const body = response.json<{ metricKey: string; totals: Record<string, unknown>[]; nextCursor?: string }>();
    expect(body.metricKey).toBe('checkout');
    expect(body.nextCursor).toBeUndefined();
    // Ordered by experiment; the variants of one experiment share the index key, in no fixed order.
    const key = (total: Record<string, unknown>) => `${String(total.experimentId)}|${String(total.variantId)}`;
    const ours = body.totals
      .filter((total) => [expA, expB, expC].includes(total.experimentId as string))
      .sort((x, y) => key(x).localeCompare(key(y)));
    const experimentOrder = body.totals.map((total) => total.experimentId as string);
    expect(experimentOrder).toEqual([...experimentOrder].sort());
    expect(ours).toEqual(
      [
        { experimentId: expA, variantId: 'control', events: 2, units: 2, sum: 10, sumSquares: 50, mean: 5 },
        { experimentId: expA, variantId: 'treatment', events: 1, units: 1, sum: 7, sumSquares: 49, mean: 7 },
        { experimentId: expB, variantId: 'control', events: 1, units: 1, sum: 3, sumSquares: 9, mean: 3 },
      ]
        .sort((x, y) => key(x).localeCompare(key(y)))
        .map((total) => ({ ...total, lastEventAt: expect.any(Number) })),
    );
  });

  it('serves exposures under $exposure', async () => {
    const response = await get(`/api/v1/metrics/${encodeURIComponent(EXPOSURE_METRIC)}/totals`);
    expect(response.statusCode).toBe(200);
    const totals = response.json<{ totals: { experimentId: string; variantId: string; units: number }[] }>().totals;
    expect(
      totals
        .filter((total) => total.experimentId === expA)
        .map((total) => [total.variantId, total.units])
        .sort(),
    ).toEqual([
      ['control', 2],
      ['treatment', 1],
    ]);
  });

  it('pages with limit and cursor through exactly the same totals', async () => {
    const all = (await get('/api/v1/metrics/checkout/totals')).json<{ totals: unknown[] }>().totals;
    const paged: unknown[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const response = await get(
        `/api/v1/metrics/checkout/totals?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(response.statusCode).toBe(200);
      const body = response.json<{ totals: unknown[]; nextCursor?: string }>();
      paged.push(...body.totals);
      cursor = body.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 50);
    expect(paged).toHaveLength(all.length);
    expect(paged).toEqual(expect.arrayContaining(all));
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it('refuses bad input with a 400 naming the field and the rule', async () => {
    const badKey = await get('/api/v1/metrics/not%20a%20key/totals');
    expect(badKey.statusCode).toBe(400);
    expect(badKey.body).toContain('metricKey');
    const badLimit = await get('/api/v1/metrics/checkout/totals?limit=0');
    expect(badLimit.statusCode).toBe(400);
    expect(badLimit.body).toContain('limit');
    const garbage = await get('/api/v1/metrics/checkout/totals?cursor=not-a-cursor');
    expect(garbage.statusCode).toBe(400);
    expect(garbage.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: [{ field: 'cursor' }] } });
    const first = (await get('/api/v1/metrics/checkout/totals?limit=1')).json<{ nextCursor: string }>();
    const foreign = await get(`/api/v1/metrics/revenue/totals?cursor=${encodeURIComponent(first.nextCursor)}`);
    expect(foreign.statusCode).toBe(400);
    expect(foreign.json()).toMatchObject({ error: { details: [{ field: 'cursor', rule: 'same-metric' }] } });
  });
});
