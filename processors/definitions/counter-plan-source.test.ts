/**
 * The processors' plan source against the real query API: startQueryApi (migrations, Fastify
 * listening on a port, API keys) on the machine's PostgreSQL (a random schema for this file).
 * Definitions are created through the API's own routes; nothing is stubbed. "API down" is a
 * port nothing listens on.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../common/config.js';
import { counterPlanOf, EMPTY_COUNTER_PLAN, type CounterPlan } from '../../common/counter-plan.js';
import { createDefinitionClient } from '../../common/definition-client.js';
import { isPipelineError } from '../../common/errors.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import { startQueryApi, type RunningQueryApi } from '../../query-api/start-query-api.js';
import { createTestSchema, type TestSchema } from '../../local/test-support/test-schema.js';
import { classifyCommitError } from '../commit/classify-error.js';
import { counterPlanSourceFromConfig, createDefinitionsPlanSource } from './counter-plan-source.js';

const PROCESSOR_KEY = 'processors-definitions-key';
const ADMIN_KEY = 'operator-key';

let schema: TestSchema;
let api: RunningQueryApi;

beforeAll(async () => {
  schema = await createTestSchema('plan_source');
  api = await startQueryApi(
    testConfig({ DATABASE_URL: schema.url, QUERY_API_PORT: '0', API_KEYS: `${ADMIN_KEY},${PROCESSOR_KEY}` }),
  );
});
afterAll(async () => {
  await api?.stop();
  await schema?.drop();
});

const METRICS = [
  { key: 'revenue', type: 'mean', cap: 500, cuped: true },
  { key: 'orders', type: 'mean' },
  { key: 'signup', type: 'binomial', cuped: true },
  { key: 'aov', type: 'ratio', numerator: 'revenue', denominator: 'orders' },
];

async function createExperiment(metrics: unknown[] = METRICS, baseUrl = api.url, key = randomName('plan')) {
  const response = await fetch(`${baseUrl}/api/v1/experiments`, {
    method: 'POST',
    headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({
      key,
      name: key,
      status: 'running',
      variants: [
        { id: 'control', weight: 0.5 },
        { id: 'treatment', weight: 0.5 },
      ],
      controlVariantId: 'control',
      metrics,
    }),
  });
  expect(response.status, await response.clone().text()).toBe(201);
  return key;
}

/** A base URL on which nothing listens (a port just closed). */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const plansOf = (ttlMs = 60_000, apiUrl = api.url) =>
  createDefinitionsPlanSource(createDefinitionClient({ apiUrl, apiKey: PROCESSOR_KEY, ttlMs }));

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20)); // poll the condition
  }
}

describe('counter plans from the query API (real API on PostgreSQL)', () => {
  it('derives the plan of a stored definition, then answers synchronously while the definition is fresh', async () => {
    const key = await createExperiment();
    const plans = plansOf();
    const first = plans.planOf(key);
    expect(first).toBeInstanceOf(Promise);
    const plan = await first;
    expect(plan).toEqual(counterPlanOf({ metrics: METRICS as never }));
    expect(plan.covariateMetrics).toEqual(['revenue', 'signup']);
    expect(plan.metrics.get('revenue')).toEqual({
      cap: 500,
      cuped: true,
      ratios: [{ cellMetricKey: '$ratio:revenue/orders', partner: 'orders', side: 'numerator' }],
    });
    expect(plan.metrics.get('orders')?.ratios).toEqual([
      { cellMetricKey: '$ratio:revenue/orders', partner: 'revenue', side: 'denominator' },
    ]);
    // Fresh: synchronous, the very same plan object (memoized per fetched definition).
    const again = plans.planOf(key);
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toBe(plan);
  });

  it('gives an experiment the API does not know EMPTY_COUNTER_PLAN, cached like a value', async () => {
    const plans = plansOf();
    const missing = randomName('no-such');
    await expect(plans.planOf(missing)).resolves.toBe(EMPTY_COUNTER_PLAN);
    expect(plans.planOf(missing)).toBe(EMPTY_COUNTER_PLAN);
    const plain = await createExperiment([{ key: 'signup', type: 'binomial' }]);
    await expect(plans.planOf(plain)).resolves.toBe(EMPTY_COUNTER_PLAN);
  });

  it('fails a never-fetched experiment with a retriable error the commit step retries when the API is down', async () => {
    const plans = plansOf(60_000, await deadUrl());
    const error: unknown = await Promise.resolve(plans.planOf('checkout')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isPipelineError(error) && error.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(isPipelineError(error) && error.retriable).toBe(true);
    expect((error as Error).message).toContain('definition of experiment checkout unavailable');
    expect(classifyCommitError(error)).toBe('retry');
  });

  it('fails with a retriable error when the API refuses the key, never counting without the plan', async () => {
    const key = await createExperiment();
    const plans = createDefinitionsPlanSource(createDefinitionClient({ apiUrl: api.url, apiKey: 'wrong-key' }));
    const error: unknown = await Promise.resolve(plans.planOf(key)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(classifyCommitError(error)).toBe('retry');
  });

  it('keeps serving the stale plan when a refresh fails (API gone after the first fetch)', async () => {
    const key = randomName('stale');
    const schemaForSecond = await createTestSchema('plan_source_stale');
    const second = await startQueryApi(
      testConfig({ DATABASE_URL: schemaForSecond.url, QUERY_API_PORT: '0', API_KEYS: ADMIN_KEY }),
    );
    try {
      // A second API serves the same definition, then goes away.
      await createExperiment(METRICS, second.url, key);
      const client = createDefinitionClient({ apiUrl: second.url, apiKey: ADMIN_KEY, ttlMs: 1_000 });
      const plans = createDefinitionsPlanSource(client);
      const plan = await plans.planOf(key);
      expect(plan.covariateMetrics).toEqual(['revenue', 'signup']);
      await second.stop();
      await waitFor(() => client.freshExperiment(key) === undefined);
      const stale = plans.planOf(key);
      expect(stale).toBeInstanceOf(Promise);
      await expect(stale).resolves.toBe(plan);
    } finally {
      await second.stop().catch(() => undefined);
      await schemaForSecond.drop();
    }
  });
});

describe('counterPlanSourceFromConfig', () => {
  const recordingLogger = () => {
    const lines: { level: string; fields: unknown; message: string }[] = [];
    return {
      lines,
      info: (fields: unknown, message: string) => void lines.push({ level: 'info', fields, message }),
      warn: (fields: unknown, message: string) => void lines.push({ level: 'warn', fields, message }),
    };
  };

  it('without PROCESSOR_DEFINITIONS_API_URL: no plan source, and one line saying what is not kept', () => {
    const logger = recordingLogger();
    const config = loadConfig({});
    expect(config.processors.definitions).toEqual({ apiUrl: undefined, apiKey: undefined, ttlMs: 60_000 });
    expect(counterPlanSourceFromConfig(config.processors.definitions, logger as never)).toBeUndefined();
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        fields: { setting: 'PROCESSOR_DEFINITIONS_API_URL' },
        message: 'no experiment definitions source: ratio, capped and CUPED sums are not kept',
      },
    ]);
  });

  it('with the URL, key and TTL set: plans from that API with that key, the key never logged', async () => {
    const key = await createExperiment();
    const logger = recordingLogger();
    const config = loadConfig({
      PROCESSOR_DEFINITIONS_API_URL: api.url,
      PROCESSOR_DEFINITIONS_API_KEY: PROCESSOR_KEY,
      PROCESSOR_DEFINITIONS_TTL_MS: '5000',
    });
    expect(config.processors.definitions).toEqual({ apiUrl: api.url, apiKey: PROCESSOR_KEY, ttlMs: 5000 });
    const plans = counterPlanSourceFromConfig(config.processors.definitions, logger as never);
    const plan: CounterPlan | undefined = await plans?.planOf(key);
    expect(plan?.covariateMetrics).toEqual(['revenue', 'signup']);
    expect(JSON.stringify(logger.lines)).not.toContain(PROCESSOR_KEY);
    expect(logger.lines).toHaveLength(1);
  });

  it('refuses a TTL out of range, naming the variable', () => {
    expect(() => loadConfig({ PROCESSOR_DEFINITIONS_TTL_MS: '10' })).toThrow(/PROCESSOR_DEFINITIONS_TTL_MS/);
    expect(() => loadConfig({ PROCESSOR_DEFINITIONS_API_URL: 'not a url' })).toThrow(/PROCESSOR_DEFINITIONS_API_URL/);
  });
});
