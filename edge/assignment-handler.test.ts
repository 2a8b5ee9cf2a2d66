import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { assignVariant } from '../common/assignment.js';
import type { ExperimentDefinition } from '../common/experiment-definition.js';
import { randomName, waitFor } from '../local/test-support/test-config.js';
import { createAssignmentHandler, handler } from './assignment-handler.js';
import { createDefinitionClient } from '../common/definition-client.js';
import { startExperimentApi, type ExperimentApiStub } from './test-support/experiment-api-stub.js';

const experiment = (key: string, overrides: Partial<ExperimentDefinition> = {}): ExperimentDefinition => ({
  key,
  name: 'Pricing page',
  status: 'running',
  variants: [
    { id: 'control', weight: 0.5 },
    { id: 'annual', weight: 0.5 },
  ],
  controlVariantId: 'control',
  coverage: 1,
  hashSeed: key,
  hashVersion: 2,
  metrics: [],
  segmentDimensions: [],
  ...overrides,
});

describe('assignment Lambda handler (real local experiment API)', () => {
  let api: ExperimentApiStub;
  let key: string;

  beforeEach(async () => {
    api = await startExperimentApi();
    key = randomName('pricing');
    api.experiments.set(key, experiment(key, { targeting: { attribute: 'country', op: 'in', values: ['US', 'CA'] } }));
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await api.close();
  });

  const assign = (ttlMs?: number) =>
    createAssignmentHandler({
      client: createDefinitionClient({ apiUrl: api.url, apiKey: api.apiKey, ...(ttlMs ? { ttlMs } : {}) }),
    });

  it('assigns like every other component, and explains exclusions', async () => {
    const handle = assign();
    for (const userId of ['u-1', 'u-2', 'u-3', 'u-4']) {
      const expected = assignVariant(experiment(key), userId);
      expect(await handle({ experimentKey: key, userId, attributes: { country: 'US' } })).toEqual({
        variantId: expected.variantId,
        inExperiment: true,
        reason: 'assigned',
      });
    }
    expect(await handle({ experimentKey: key, userId: 'u-1', attributes: { country: 'FR' } })).toEqual({
      variantId: 'control',
      inExperiment: false,
      reason: 'not-targeted',
    });
    expect(await handle({ experimentKey: key, userId: 'u-1' })).toMatchObject({ reason: 'not-targeted' });
    expect(api.requests).toHaveLength(1); // cached
  });

  it('answers bad payloads with an error object naming each field and rule', async () => {
    const handle = assign();
    const cases: [unknown, string, string][] = [
      [null, '(payload)', 'type'],
      ['{"experimentKey":"x"}', '(payload)', 'type'],
      [{ userId: 'u-1' }, 'experimentKey', 'required'],
      [{ experimentKey: key, userId: '' }, 'userId', 'minLength'],
      [{ experimentKey: 'bad key!', userId: 'u' }, 'experimentKey', 'pattern'],
      [{ experimentKey: key, userId: 'u', attributes: 'US' }, 'attributes', 'type'],
      [{ experimentKey: key, userId: 'u', extra: 1 }, 'extra', 'unknown-field'],
    ];
    for (const [payload, field, rule] of cases) {
      const result = await handle(payload);
      expect(result).toMatchObject({ error: { code: 'VALIDATION_FAILED', retriable: false } });
      expect((result as { error: { details: unknown[] } }).error.details).toContainEqual(
        expect.objectContaining({ field, rule }),
      );
    }
  });

  it('answers NOT_FOUND for an unknown experiment and DEPENDENCY_UNAVAILABLE when the API is down', async () => {
    const handle = assign();
    expect(await handle({ experimentKey: 'no-such-experiment', userId: 'u-1' })).toEqual({
      error: { code: 'NOT_FOUND', message: 'experiment "no-such-experiment" not found', retriable: false },
    });
    api.mode = 'error';
    expect(await handle({ experimentKey: key, userId: 'u-1' })).toMatchObject({
      error: { code: 'DEPENDENCY_UNAVAILABLE', retriable: true },
    });
    api.mode = 'garbage';
    expect(await handle({ experimentKey: `${key}-2`, userId: 'u-1' })).toMatchObject({
      error: { code: 'DEPENDENCY_UNAVAILABLE' },
    });
  });

  it('refuses a definition the API sends in the wrong shape', async () => {
    api.experiments.set(key, { key, variants: 'none' });
    expect(await assign()({ experimentKey: key, userId: 'u-1' })).toMatchObject({
      error: { code: 'DEPENDENCY_UNAVAILABLE', message: expect.stringContaining('invalid definition') },
    });
  });

  it('keeps answering from the stale copy when a refresh fails', async () => {
    const handle = assign(5);
    const first = await handle({ experimentKey: key, userId: 'u-9', attributes: { country: 'CA' } });
    expect(first).toMatchObject({ inExperiment: true });
    api.mode = 'error';
    // Once the entry is stale, the next call refreshes, fails, and still answers.
    await waitFor(
      async () => {
        expect(await handle({ experimentKey: key, userId: 'u-9', attributes: { country: 'CA' } })).toEqual(first);
        return api.requests.length >= 2;
      },
      5_000,
      'a failed refresh',
    );
  });

  it('reads EXPERIMENTATION_API_URL through loadConfig, answering a config error when it is missing', async () => {
    vi.stubEnv('EXPERIMENTATION_API_URL', '');
    expect(await handler({ experimentKey: key, userId: 'u-1' })).toMatchObject({ error: { code: 'CONFIG_INVALID' } });
    vi.stubEnv('EXPERIMENTATION_API_URL', api.url);
    vi.stubEnv('EXPERIMENTATION_API_KEY', api.apiKey);
    vi.stubEnv('LOG_LEVEL', 'silent');
    expect(await handler({ experimentKey: key, userId: 'u-1', attributes: { country: 'US' } })).toMatchObject({
      inExperiment: true,
    });
  });
});
