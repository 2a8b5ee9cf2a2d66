import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FAKE_AWS_CREDENTIALS,
  startFakeSecretsManager,
  type FakeSecretsManager,
} from '../../common/test-support/fake-secrets-manager.js';
import { randomName } from '../../local/test-support/test-config.js';
import { startExperimentApi, type ExperimentApiStub } from '../test-support/experiment-api-stub.js';
import { silentLog } from './edge-log.js';
import { createEdgeSecret, EDGE_SECRET_TTL_MS, type AwsCredentials } from './edge-secret.js';
import { createExperimentSource } from './experiment-source.js';

let fake: FakeSecretsManager;
beforeAll(async () => {
  fake = await startFakeSecretsManager();
});
afterAll(async () => {
  await fake.close();
});

/** A fake clock the secret's TTL is measured on. */
function fakeClock(start = Date.UTC(2025, 0, 1)) {
  let at = start;
  return { now: () => at, advance: (ms: number) => (at += ms) };
}

const edgeSecret = (secretId: string, clock = fakeClock(), credentials: AwsCredentials = FAKE_AWS_CREDENTIALS) =>
  createEdgeSecret({
    secretId,
    region: 'us-east-1',
    endpoint: fake.endpoint,
    credentials: () => credentials,
    now: clock.now,
  });

describe('edge secret (GetSecretValue signed by aws4) against a fake Secrets Manager', () => {
  it('reads the first key with a signature the fake accepts, caches it for the TTL, then reads again', async () => {
    const secretId = randomName('edge/split-url-api-key');
    fake.put(secretId, JSON.stringify({ keys: 'edge-key-1,older-key' }));
    const clock = fakeClock();
    const secret = edgeSecret(secretId, clock);
    expect(await secret.get()).toBe('edge-key-1');
    fake.put(secretId, JSON.stringify({ keys: 'edge-key-2' }));
    clock.advance(EDGE_SECRET_TTL_MS - 1);
    expect(await secret.get()).toBe('edge-key-1');
    expect(fake.reads(secretId)).toBe(1);
    clock.advance(1);
    expect(await secret.get()).toBe('edge-key-2');
    expect(fake.reads(secretId)).toBe(2);
  });

  it('signs with temporary credentials (session token) too', async () => {
    const secretId = randomName('edge/session');
    fake.put(secretId, JSON.stringify({ keys: 'with-token' }));
    const secret = edgeSecret(secretId, fakeClock(), { ...FAKE_AWS_CREDENTIALS, sessionToken: 'token-123' });
    expect(await secret.get()).toBe('with-token');
  });

  it('is refused with other credentials, and keeps serving the last good key when a refresh fails', async () => {
    const secretId = randomName('edge/refused');
    fake.put(secretId, JSON.stringify({ keys: 'good' }));
    const forged = edgeSecret(secretId, fakeClock(), { ...FAKE_AWS_CREDENTIALS, secretAccessKey: 'wrong' });
    await expect(forged.get()).rejects.toThrow(/403 InvalidSignatureException/);
    expect(fake.reads(secretId)).toBe(0);

    const secret = edgeSecret(randomName('edge/missing-later'));
    await expect(secret.get()).rejects.toThrow(/ResourceNotFoundException/);
    const kept = edgeSecret(secretId);
    expect(await kept.get()).toBe('good');
    fake.put(secretId, JSON.stringify({ other: 'no keys' }));
    expect(await kept.refresh()).toBe('good');
  });

  it('lets the experiment source recover from a rotated key: 401, re-read, retry once', async () => {
    const api: ExperimentApiStub = await startExperimentApi('rotated-key');
    try {
      const key = randomName('rotation');
      api.experiments.set(key, {
        key,
        status: 'running',
        variants: [
          { id: 'control', weight: 1, url: '/a' },
          { id: 'b', weight: 1, url: '/b' },
        ],
        controlVariantId: 'control',
        coverage: 1,
        hashSeed: key,
        hashVersion: 2,
      });
      const secretId = randomName('edge/rotation');
      fake.put(secretId, JSON.stringify({ keys: 'previous-key' }));
      const secret = edgeSecret(secretId);
      expect(await secret.get()).toBe('previous-key');
      // The operator rotated: the API accepts only the new key, and the secret holds it.
      fake.put(secretId, JSON.stringify({ keys: 'rotated-key' }));
      const source = createExperimentSource({ apiUrl: api.url, apiKey: secret, experimentKey: key, log: silentLog });
      const lookup = await source.get();
      expect(lookup.freshness).toBe('fresh');
      expect(lookup.experiment?.key).toBe(key);
      expect(api.requests).toHaveLength(2);
      expect(fake.reads(secretId)).toBe(2);
    } finally {
      await api.close();
    }
  });
});
