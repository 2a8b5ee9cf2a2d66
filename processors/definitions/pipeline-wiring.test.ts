/**
 * createPipelineFromConfig wires the plan source from PROCESSOR_DEFINITIONS_API_URL into the
 * counter sink: real query API (PostgreSQL), real counter sink (dynalite, in-process state).
 * With the API unreachable, a batch of a never-fetched experiment fails retriable and nothing
 * is counted; with the API up, a capped metric's cells carry the capped sums.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCompactRecord } from '../../common/compact-records.js';
import { createSilentLogger } from '../../common/logger.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import { startQueryApi, type RunningQueryApi } from '../../query-api/start-query-api.js';
import { createTestSchema, type TestSchema } from '../../local/test-support/test-schema.js';
import { classifyCommitError } from '../commit/classify-error.js';
import { kinesisRecord, sampleEvent } from '../test-support/pipeline-doubles.js';
import { createPipelineFromConfig } from '../pipeline-from-config.js';
import { provisionPipeline } from '../../local/provision.js';
import type { ShardBatch } from '../types.js';

const KEY = 'wiring-key';
let schema: TestSchema;
let api: RunningQueryApi;

beforeAll(async () => {
  schema = await createTestSchema('plan_wiring');
  api = await startQueryApi(testConfig({ DATABASE_URL: schema.url, QUERY_API_PORT: '0', API_KEYS: KEY }));
});
afterAll(async () => {
  await api?.stop();
  await schema?.drop();
});

async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const batchOf = (experimentId: string): ShardBatch => {
  const at = Date.parse('2026-06-01T00:00:00Z');
  const event = (overrides: Parameters<typeof sampleEvent>[0]) =>
    sampleEvent({ experimentId, userId: 'u-1', timestamp: at, receivedAt: at, ...overrides });
  return {
    shardId: 'shardId-000000000000',
    records: [
      kinesisRecord('10', event({})),
      kinesisRecord('11', event({ type: 'conversion', metric: 'revenue', value: 300 })),
      kinesisRecord('12', event({ type: 'conversion', metric: 'revenue', value: 400 })),
    ],
  };
};

async function runtimeFor(apiUrl: string) {
  const config = testConfig({ PROCESSOR_DEFINITIONS_API_URL: apiUrl, PROCESSOR_DEFINITIONS_API_KEY: KEY });
  const runtime = await createPipelineFromConfig(config, { logger: createSilentLogger(), index: null });
  await provisionPipeline(config, { kinesis: runtime.kinesis, dynamo: runtime.dynamo });
  const cells = async () => {
    const out = await runtime.dynamo.send(new ScanCommand({ TableName: config.dynamodb.countersTable }));
    return out.Items ?? [];
  };
  return { runtime, cells };
}

describe('processors: counter plans wired from PROCESSOR_DEFINITIONS_API_URL', () => {
  it('fails a batch of a never-fetched experiment with a retriable error while the API is down, counting nothing', async () => {
    const { runtime, cells } = await runtimeFor(await deadUrl());
    try {
      const error: unknown = await runtime.pipeline.processBatch(batchOf('checkout')).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', retriable: true });
      expect(String((error as Error).message)).toMatch(/checkout/);
      expect(classifyCommitError(error)).toBe('retry');
      expect((await cells()).filter((item) => item.experiment_id?.S === 'checkout')).toEqual([]);
    } finally {
      await runtime.close();
    }
  });

  it('keeps the capped sums of a capped metric once the definition is read from the API', async () => {
    const experimentId = randomName('wired');
    const created = await fetch(`${api.url}/api/v1/experiments`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        key: experimentId,
        name: experimentId,
        status: 'running',
        variants: [
          { id: 'control', weight: 0.5 },
          { id: 'treatment', weight: 0.5 },
        ],
        controlVariantId: 'control',
        metrics: [{ key: 'revenue', type: 'mean', cap: 500 }],
      }),
    });
    expect(created.status).toBe(201);
    const { runtime, cells } = await runtimeFor(api.url);
    try {
      const outcome = await runtime.pipeline.processBatch(batchOf(experimentId));
      expect(outcome).toMatchObject({ counted: 3 });
      const revenue = (await cells()).find((item) => item.variant_metric?.S === 'control#revenue');
      // One user, total 700 capped at 500: Σ min(T, C) = 500, Σ min(T, C)² = 250000 (stored as decimals).
      expect(Number(revenue?.sum?.N)).toBe(700);
      expect(Number(revenue?.capped_sum?.N)).toBe(500);
      expect(Number(revenue?.capped_sum_squares?.N)).toBe(250_000);
    } finally {
      await runtime.close();
    }
  });

  it('keeps the CUPED sums from covariates an impression carried in a compact record', async () => {
    const experimentId = randomName('cuped');
    const created = await fetch(`${api.url}/api/v1/experiments`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        key: experimentId,
        name: experimentId,
        status: 'running',
        variants: [
          { id: 'control', weight: 0.5 },
          { id: 'treatment', weight: 0.5 },
        ],
        controlVariantId: 'control',
        metrics: [{ key: 'revenue', type: 'mean', cap: 500, cuped: true }],
      }),
    });
    expect(created.status).toBe(201);
    const at = Date.parse('2026-06-01T00:00:00Z');
    const event = (overrides: Parameters<typeof sampleEvent>[0]) =>
      sampleEvent({ experimentId, userId: 'u-1', timestamp: at, receivedAt: at, ...overrides });
    const record = encodeCompactRecord([
      event({ covariates: { revenue: 10, unrelated: 3 } }),
      event({ type: 'conversion', metric: 'revenue', value: 300 }),
      event({ type: 'conversion', metric: 'revenue', value: 400 }),
    ]);
    const { runtime, cells } = await runtimeFor(api.url);
    try {
      const outcome = await runtime.pipeline.processBatch({
        shardId: 'shardId-000000000000',
        records: [kinesisRecord('20', record)],
      });
      expect(outcome).toMatchObject({ counted: 3 });
      const revenue = (await cells()).find((item) => item.variant_metric?.S === 'control#revenue');
      // c = 10 fixed by the first impression; T = 300 then 700, capped at 500.
      expect(Number(revenue?.covariate_sum?.N)).toBe(10);
      expect(Number(revenue?.covariate_sum_squares?.N)).toBe(100);
      expect(Number(revenue?.covariate_cross?.N)).toBe(7000); // Σ T·c = 700 · 10
      expect(Number(revenue?.capped_covariate_cross?.N)).toBe(5000); // Σ min(T, 500)·c
    } finally {
      await runtime.close();
    }
  });
});
