/**
 * Contract between the edge and the query API, tested for real: the query API runs as it
 * does in production (startQueryApi: migrations, Fastify listening on a port, API keys)
 * on the machine's PostgreSQL (a random schema for this file), and the edge's definition
 * client and the Assignment / Flag Evaluation Lambda handlers fetch from it over HTTP.
 * Definitions are created through the API's own POST/PATCH routes; nothing is stubbed.
 * A change on either side of the contract (route, auth header, key encoding, 404
 * handling, or the shape of the definition JSON) fails a test here.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { assignVariant, evaluateFlag } from '../common/assignment.js';
import type { ExperimentDefinition, FlagDefinition } from '../common/experiment-definition.js';
import { randomName } from '../local/test-support/test-config.js';
import { startQueryApi, type RunningQueryApi } from '../query-api/start-query-api.js';
import { createTestSchema, type TestSchema } from '../local/test-support/test-schema.js';
import { testConfig } from '../local/test-support/test-config.js';
import { createAssignmentHandler, handler as assignmentLambda } from './assignment-handler.js';
import { createDefinitionClient, type DefinitionClient } from '../common/definition-client.js';
import { createFlagEvaluationHandler, handler as flagEvaluationLambda } from './flag-evaluation-handler.js';

const EDGE_KEY = 'edge-contract-key';
const OTHER_KEY = 'analyst-script-key';

let schema: TestSchema;
let api: RunningQueryApi;

beforeAll(async () => {
  schema = await createTestSchema('edge_contract');
  api = await startQueryApi(
    testConfig({ DATABASE_URL: schema.url, QUERY_API_PORT: '0', API_KEYS: `${OTHER_KEY},${EDGE_KEY}` }),
  );
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await api?.stop();
  await schema?.drop();
});

/** Calls a route of the real API with the service key, as an operator's script would. */
async function callApi(method: 'POST' | 'PATCH' | 'GET', path: string, body?: unknown) {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: { 'x-api-key': OTHER_KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

/** Creates through the API and returns the definition it answered with (201). */
async function create(resource: 'experiments' | 'flags', body: Record<string, unknown>): Promise<any> {
  const created = await callApi('POST', `/api/v1/${resource}`, body);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

const client = (overrides: { apiKey?: string; ttlMs?: number } = { apiKey: EDGE_KEY }): DefinitionClient =>
  createDefinitionClient({ apiUrl: api.url, ...overrides });

/**
 * The experiment the edge must see for a create request with only the required fields and
 * targeting: every field assignment reads, spelled out, so a renamed, dropped or added
 * field in the API's answer fails here (the edge refuses unknown fields).
 */
function expectedExperiment(key: string): ExperimentDefinition {
  return {
    key,
    name: 'Checkout button',
    status: 'running',
    variants: [
      { id: 'control', weight: 0.5 },
      { id: 'green', name: 'Green button', weight: 0.5, url: '/checkout-green' },
    ],
    controlVariantId: 'control',
    coverage: 0.8,
    hashSeed: key,
    hashVersion: 2,
    metrics: [{ key: 'purchase', type: 'binomial', lowerIsBetter: false }],
    segmentDimensions: ['country'],
    targeting: { attribute: 'country', op: 'in', values: ['US', 'CA'] },
  };
}

const experimentCreateBody = (key: string) => ({
  key,
  name: 'Checkout button',
  status: 'running',
  variants: [
    { id: 'control', weight: 0.5 },
    { id: 'green', name: 'Green button', weight: 0.5, url: '/checkout-green' },
  ],
  controlVariantId: 'control',
  coverage: 0.8,
  metrics: [{ key: 'purchase', type: 'binomial' }],
  segmentDimensions: ['country'],
  targeting: { attribute: 'country', op: 'in', values: ['US', 'CA'] },
});

describe('definition client against the real query API (PostgreSQL)', () => {
  it('gets an experiment created through the API, with every field the edge reads', async () => {
    const key = randomName('checkout');
    const created = await create('experiments', experimentCreateBody(key));
    const expected = expectedExperiment(key);
    // What the API answers is exactly what the edge's schema describes: no field more, none less.
    expect(created).toEqual(expected);
    expect(await client().experiment(key)).toEqual(expected);
  });

  it('gets a flag created through the API, defaults applied by the API', async () => {
    const key = randomName('new-nav');
    await create('flags', {
      key,
      enabled: true,
      defaultValue: { layout: 'classic' },
      value: { layout: 'compact' },
      targeting: { attribute: 'appVersion', op: 'version_gte', value: '3.0.0' },
    });
    const expected: FlagDefinition = {
      key,
      enabled: true,
      defaultValue: { layout: 'classic' },
      value: { layout: 'compact' },
      rollout: 1,
      hashSeed: key,
      targeting: { attribute: 'appVersion', op: 'version_gte', value: '3.0.0' },
    };
    expect(await client().flag(key)).toEqual(expected);
  });

  it('sends the x-api-key the API accepts, and never takes a refusal for "not found"', async () => {
    const key = randomName('guarded');
    await create('flags', { key, enabled: true, defaultValue: false, value: true });
    expect(await client().flag(key)).toMatchObject({ key, enabled: true });
    // Without the key, or with a wrong one, the API answers 401: a failure, not a missing flag.
    await expect(client({}).flag(key)).rejects.toMatchObject({
      code: 'DEPENDENCY_UNAVAILABLE',
      message: expect.stringContaining('answered 401'),
    });
    await expect(client({ apiKey: 'not-a-key' }).flag(key)).rejects.toMatchObject({
      code: 'DEPENDENCY_UNAVAILABLE',
      message: expect.stringContaining('answered 401'),
    });
    await expect(client({ apiKey: 'not-a-key' }).experiment('no-such-experiment')).rejects.toMatchObject({
      message: expect.stringContaining('answered 401'),
    });
  });

  it('encodes keys: every character a key may hold reaches the right definition', async () => {
    // Keys allow letters, digits and _ . : - ; ':' is percent-encoded on the way.
    const base = randomName('k');
    const keys = [`${base}.v2:eu-west_1`, `${base}:a:b`, `${base}..x`, `${base}-`, `${base}_.`];
    for (const key of keys) {
      await create('experiments', { ...experimentCreateBody(key), name: `name of ${key}` });
      await create('flags', { key, enabled: true, defaultValue: key, value: `${key}!` });
    }
    const edge = client();
    for (const key of keys) {
      expect(await edge.experiment(key)).toMatchObject({ key, name: `name of ${key}`, hashSeed: key });
      expect(await edge.flag(key)).toMatchObject({ key, defaultValue: key, value: `${key}!` });
    }
  });

  it('never lets a key reach another route: "/", "?" and "#" stay inside the key', async () => {
    const key = randomName('routed');
    await create('experiments', experimentCreateBody(key));
    const edge = client();
    // Unencoded, these would read the results route, the list, or the experiment itself.
    for (const tricky of [`${key}/results`, `${key}?limit=1`, `${key}#x`, `../experiments/${key}`]) {
      await expect(edge.experiment(tricky), tricky).rejects.toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        message: expect.stringContaining('answered 400'),
      });
    }
    expect(await edge.experiment(key)).toMatchObject({ key });
  });

  it('answers null for unknown keys (the API says 404), and the handlers answer NOT_FOUND', async () => {
    const edge = client();
    const unknown = randomName('never-created');
    expect(await edge.experiment(unknown)).toBeNull();
    expect(await edge.flag(unknown)).toBeNull();
    // A flag key is not an experiment key: the two resources do not leak into each other.
    const flagOnly = randomName('flag-only');
    await create('flags', { key: flagOnly, enabled: true, defaultValue: 0, value: 1 });
    expect(await client().experiment(flagOnly)).toBeNull();
    expect(await createAssignmentHandler({ client: edge })({ experimentKey: unknown, userId: 'u-1' })).toEqual({
      error: { code: 'NOT_FOUND', message: `experiment "${unknown}" not found`, retriable: false },
    });
    expect(await createFlagEvaluationHandler({ client: edge })({ flagKey: unknown, userId: 'u-1' })).toEqual({
      error: { code: 'NOT_FOUND', message: `flag "${unknown}" not found`, retriable: false },
    });
  });

  it('sees a change made through PATCH once its cached copy expires', async () => {
    const key = randomName('ramp');
    await create('flags', { key, enabled: true, defaultValue: 'off', value: 'on', rollout: 0 });
    const edge = client({ apiKey: EDGE_KEY, ttlMs: 1 });
    expect(await edge.flag(key)).toMatchObject({ rollout: 0 });
    const patched = await callApi('PATCH', `/api/v1/flags/${key}`, { rollout: 1 });
    expect(patched.status).toBe(200);
    // ttl 1 ms: any later read refreshes; lru-cache measures age with its own clock.
    await vi.waitFor(async () => expect(await edge.flag(key)).toMatchObject({ rollout: 1 }), { timeout: 5_000 });
  });
});

describe('Assignment and Flag Evaluation Lambdas against the real query API', () => {
  it('assign through the definitions the API serves, exactly like the shared core', async () => {
    const key = randomName('pricing');
    const definition = await create('experiments', experimentCreateBody(key));
    const assign = createAssignmentHandler({ client: client() });
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const userId = `user-${i}`;
      const expected = assignVariant(expectedExperiment(key), userId, { country: 'US' });
      const result = await assign({ experimentKey: key, userId, attributes: { country: 'US' } });
      expect(result).toEqual({
        variantId: expected.variantId,
        inExperiment: expected.inExperiment,
        reason: expected.reason,
      });
      seen.add((result as { reason: string }).reason);
    }
    // Coverage 0.8 and targeting are both exercised through the served definition.
    expect(seen).toEqual(new Set(['assigned', 'outside-coverage']));
    expect(await assign({ experimentKey: key, userId: 'user-1', attributes: { country: 'FR' } })).toEqual({
      variantId: 'control',
      inExperiment: false,
      reason: 'not-targeted',
    });
    expect(definition.hashSeed).toBe(key);
  });

  it('evaluate flags through the definitions the API serves, exactly like the shared core', async () => {
    const key = randomName('compact-nav');
    const flag = await create('flags', {
      key,
      enabled: true,
      defaultValue: { layout: 'classic' },
      value: { layout: 'compact' },
      rollout: 0.5,
      targeting: { attribute: 'appVersion', op: 'version_gte', value: '3.0.0' },
    });
    const evaluate = createFlagEvaluationHandler({ client: client() });
    const reasons = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const attributes = { appVersion: '3.1.0' };
      const result = await evaluate({ flagKey: key, userId: `user-${i}`, attributes });
      expect(result).toEqual(evaluateFlag(flag as FlagDefinition, `user-${i}`, attributes));
      reasons.add((result as { reason: string }).reason);
    }
    expect(reasons).toEqual(new Set(['in-rollout', 'outside-rollout']));
  });

  it('the deployed entry points read EXPERIMENTATION_API_URL and EXPERIMENTATION_API_KEY and reach the API', async () => {
    const experimentKey = randomName('entry');
    const flagKey = randomName('entry-flag');
    await create('experiments', experimentCreateBody(experimentKey));
    await create('flags', { key: flagKey, enabled: true, defaultValue: 'a', value: 'b' });
    vi.stubEnv('EXPERIMENTATION_API_URL', `${api.url}/`);
    vi.stubEnv('EXPERIMENTATION_API_KEY', EDGE_KEY);
    vi.stubEnv('LOG_LEVEL', 'silent');
    const expected = assignVariant(expectedExperiment(experimentKey), 'user-7', { country: 'CA' });
    expect(await assignmentLambda({ experimentKey, userId: 'user-7', attributes: { country: 'CA' } })).toEqual({
      variantId: expected.variantId,
      inExperiment: expected.inExperiment,
      reason: expected.reason,
    });
    expect(await flagEvaluationLambda({ flagKey, userId: 'user-7' })).toEqual({ value: 'b', reason: 'in-rollout' });
  });
});
