import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { evaluateFlag } from '../common/assignment.js';
import type { FlagDefinition } from '../common/experiment-definition.js';
import { randomName } from '../local/test-support/test-config.js';
import { createDefinitionClient } from '../common/definition-client.js';
import { createFlagEvaluationHandler, handler } from './flag-evaluation-handler.js';
import { startExperimentApi, type ExperimentApiStub } from './test-support/experiment-api-stub.js';

describe('flag evaluation Lambda handler (real local experiment API)', () => {
  let api: ExperimentApiStub;
  let key: string;
  let flag: FlagDefinition;

  beforeEach(async () => {
    api = await startExperimentApi();
    key = randomName('new-nav');
    flag = {
      key,
      enabled: true,
      defaultValue: { layout: 'classic' },
      value: { layout: 'compact' },
      rollout: 0.5,
      hashSeed: key,
      targeting: { attribute: 'appVersion', op: 'version_gte', value: '3.0.0' },
    };
    api.flags.set(key, flag);
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await api.close();
  });

  const evaluate = () =>
    createFlagEvaluationHandler({ client: createDefinitionClient({ apiUrl: api.url, apiKey: api.apiKey }) });

  it('evaluates rollout and targeting like the shared core', async () => {
    const handle = evaluate();
    const reasons = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const attributes = { appVersion: '3.1.0' };
      const result = await handle({ flagKey: key, userId: `user-${i}`, attributes });
      expect(result).toEqual(evaluateFlag(flag, `user-${i}`, attributes));
      reasons.add((result as { reason: string }).reason);
    }
    expect(reasons).toEqual(new Set(['in-rollout', 'outside-rollout']));
    expect(await handle({ flagKey: key, userId: 'user-1', attributes: { appVersion: '2.9.9' } })).toEqual({
      value: { layout: 'classic' },
      reason: 'not-targeted',
    });
    expect(api.requests).toEqual([`/api/v1/flags/${key}`]);
  });

  it('serves the default when the flag is off', async () => {
    api.flags.set(key, { ...flag, enabled: false });
    expect(await evaluate()({ flagKey: key, userId: 'u' })).toEqual({
      value: { layout: 'classic' },
      reason: 'disabled',
    });
  });

  it('answers invalid payloads, unknown flags and API outages with error objects', async () => {
    const handle = evaluate();
    expect(await handle({ flagKey: key })).toMatchObject({
      error: {
        code: 'VALIDATION_FAILED',
        details: [{ field: 'userId', rule: 'required', message: 'userId is required' }],
      },
    });
    expect(await handle(undefined)).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    expect(await handle({ flagKey: 'missing-flag', userId: 'u' })).toMatchObject({ error: { code: 'NOT_FOUND' } });
    api.mode = 'hang';
    const hung = createFlagEvaluationHandler({ client: createDefinitionClient({ apiUrl: api.url, timeoutMs: 200 }) });
    expect(await hung({ flagKey: key, userId: 'u' })).toMatchObject({
      error: { code: 'DEPENDENCY_UNAVAILABLE', retriable: true },
    });
  });

  it('is configured from the environment through loadConfig', async () => {
    vi.stubEnv('EXPERIMENTATION_API_URL', 'not a url');
    expect(await handler({ flagKey: key, userId: 'u' })).toMatchObject({ error: { code: 'CONFIG_INVALID' } });
    vi.stubEnv('EXPERIMENTATION_API_URL', `${api.url}/`);
    vi.stubEnv('EXPERIMENTATION_API_KEY', api.apiKey);
    vi.stubEnv('LOG_LEVEL', 'silent');
    // One user inside the 50 % rollout and one outside, by the shared core: the configured handler
    // must give each the exact value and reason, and refuse the targeting for an older app.
    const attributes = { appVersion: '3.0.0' };
    const ids = Array.from({ length: 64 }, (_, i) => `user-${i}`);
    const inside = ids.find((id) => evaluateFlag(flag, id, attributes).reason === 'in-rollout') ?? '';
    const outside = ids.find((id) => evaluateFlag(flag, id, attributes).reason === 'outside-rollout') ?? '';
    expect(await handler({ flagKey: key, userId: inside, attributes })).toEqual({
      value: { layout: 'compact' },
      reason: 'in-rollout',
    });
    expect(await handler({ flagKey: key, userId: outside, attributes })).toEqual({
      value: { layout: 'classic' },
      reason: 'outside-rollout',
    });
    expect(await handler({ flagKey: key, userId: inside, attributes: { appVersion: '2.9.9' } })).toEqual({
      value: { layout: 'classic' },
      reason: 'not-targeted',
    });
  });
});
