import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineError } from '../errors.js';
import {
  FAKE_AWS_CREDENTIALS,
  startFakeSecretsManager,
  type FakeSecretsManager,
} from '../test-support/fake-secrets-manager.js';
import {
  API_KEY_SECRET_ID_VARIABLE,
  DEFINITIONS_API_KEY_SECRET_ID_VARIABLE,
  environmentSecrets,
  isCredentialRefused,
  STATE_PASSWORD_SECRET_ID_VARIABLE,
  withPassword,
} from './secret-environment.js';
import { createSecretsProvider } from './secret-value.js';

let fake: FakeSecretsManager;
beforeAll(async () => {
  fake = await startFakeSecretsManager();
});
afterAll(async () => {
  await fake.close();
});

const provider = () =>
  createSecretsProvider({ region: 'us-east-1', endpoint: fake.endpoint, credentials: FAKE_AWS_CREDENTIALS });
const secretArn = (name: string) =>
  `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-${Math.random().toString(36).slice(2, 8)}`;

describe('environmentSecrets against a fake Secrets Manager', () => {
  it('reads the API key and the state password at cold start over the real GetSecretValue protocol', async () => {
    const apiKeyArn = secretArn('internal-key');
    const passwordArn = secretArn('state-password');
    fake.put(apiKeyArn, JSON.stringify({ keys: 'key-one,key-two' }));
    fake.put(passwordArn, JSON.stringify({ username: 'processors', password: 'p4ssw0rd' }));
    const env = {
      [API_KEY_SECRET_ID_VARIABLE]: apiKeyArn,
      [STATE_PASSWORD_SECRET_ID_VARIABLE]: passwordArn,
      STATE_REDIS_URL: 'rediss://processors@state.example:6379',
      LOG_LEVEL: 'info',
    };
    const resolved = await environmentSecrets(env, { provider: provider() }).resolve();
    expect(resolved.EXPERIMENTATION_API_KEY).toBe('key-one');
    expect(resolved.STATE_REDIS_URL).toBe('rediss://processors:p4ssw0rd@state.example:6379');
    expect(resolved.LOG_LEVEL).toBe('info');
    // The input stays untouched: the resolved copy is what loadConfig gets.
    expect(env.STATE_REDIS_URL).toBe('rediss://processors@state.example:6379');
    expect(fake.targets).toContain('secretsmanager.GetSecretValue');
  });

  it('reads the processors’ definitions API key from PROCESSOR_DEFINITIONS_API_KEY_SECRET_ID, and re-reads it on demand', async () => {
    const arn = secretArn('internal-key');
    fake.put(arn, JSON.stringify({ keys: 'key-one,key-two' }));
    const secrets = environmentSecrets({ [DEFINITIONS_API_KEY_SECRET_ID_VARIABLE]: arn }, { provider: provider() });
    expect(DEFINITIONS_API_KEY_SECRET_ID_VARIABLE).toBe('PROCESSOR_DEFINITIONS_API_KEY_SECRET_ID');
    const resolved = await secrets.resolve();
    expect(resolved.PROCESSOR_DEFINITIONS_API_KEY).toBe('key-one');
    expect(resolved).not.toHaveProperty('EXPERIMENTATION_API_KEY');
    fake.put(arn, JSON.stringify({ keys: 'key-rotated' }));
    expect(await secrets.definitionsApiKey?.get()).toBe('key-one');
    expect(await secrets.definitionsApiKey?.refresh()).toBe('key-rotated');
  });

  it('serves the cached value, and the rotated one once asked to refresh after a refusal', async () => {
    const apiKeyArn = secretArn('rotating-key');
    fake.put(apiKeyArn, JSON.stringify({ keys: 'before-rotation' }));
    const secrets = environmentSecrets({ [API_KEY_SECRET_ID_VARIABLE]: apiKeyArn }, { provider: provider() });
    expect((await secrets.resolve()).EXPERIMENTATION_API_KEY).toBe('before-rotation');
    fake.put(apiKeyArn, JSON.stringify({ keys: 'after-rotation' }));
    expect((await secrets.resolve()).EXPERIMENTATION_API_KEY).toBe('before-rotation');
    expect(fake.reads(apiKeyArn)).toBe(1);
    expect((await secrets.resolve({ refresh: true })).EXPERIMENTATION_API_KEY).toBe('after-rotation');
    expect(await secrets.apiKey?.get()).toBe('after-rotation');
    expect(fake.reads(apiKeyArn)).toBe(2);
  });

  it('shares one read between concurrent cold-start callers', async () => {
    const apiKeyArn = secretArn('concurrent-key');
    fake.put(apiKeyArn, JSON.stringify({ keys: 'shared' }));
    const secrets = environmentSecrets({ [API_KEY_SECRET_ID_VARIABLE]: apiKeyArn }, { provider: provider() });
    const values = await Promise.all([secrets.apiKey?.get(), secrets.apiKey?.get(), secrets.apiKey?.get()]);
    expect(values).toEqual(['shared', 'shared', 'shared']);
    expect(fake.reads(apiKeyArn)).toBe(1);
  });

  it('fails with a retriable error naming the secret, never its value, when it cannot be read', async () => {
    const missing = secretArn('missing');
    const error = await environmentSecrets({ [API_KEY_SECRET_ID_VARIABLE]: missing }, { provider: provider() })
      .resolve()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PipelineError);
    expect(error).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', retriable: true });
    expect((error as Error).message).toContain(missing);
  });

  it('is refused by the fake when the request is signed with other credentials', async () => {
    const arn = secretArn('signed');
    fake.put(arn, JSON.stringify({ keys: 'k' }));
    const forged = createSecretsProvider({
      region: 'us-east-1',
      endpoint: fake.endpoint,
      credentials: { ...FAKE_AWS_CREDENTIALS, secretAccessKey: 'not-the-key' },
    });
    const error = await environmentSecrets({ [API_KEY_SECRET_ID_VARIABLE]: arn }, { provider: forged })
      .resolve()
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    expect(fake.reads(arn)).toBe(0);
  });

  it('refuses a secret without the expected JSON key as a configuration error', async () => {
    const arn = secretArn('wrong-shape');
    fake.put(arn, JSON.stringify({ token: 'not-under-password' }));
    const error = await environmentSecrets(
      { [STATE_PASSWORD_SECRET_ID_VARIABLE]: arn, STATE_REDIS_URL: 'rediss://u@h:6379' },
      { provider: provider() },
    )
      .resolve()
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((error as Error).message).not.toContain('not-under-password');
  });

  it('changes nothing when no secret is configured, and reads nothing', async () => {
    const env = { EXPERIMENTATION_API_KEY: 'local-key' };
    const before = fake.targets.length;
    expect(await environmentSecrets(env, { provider: provider() }).resolve()).toEqual(env);
    expect(fake.targets.length).toBe(before);
  });
});

describe('withPassword and isCredentialRefused', () => {
  it('puts a password into a URL and names the missing variable otherwise', () => {
    expect(withPassword('rediss://user@host:6379', 'a/b')).toBe('rediss://user:a%2Fb@host:6379');
    expect(() => withPassword(undefined, 'x')).toThrow(/STATE_REDIS_URL is not/);
  });

  it('recognises refused credentials through causes, and nothing else', () => {
    expect(isCredentialRefused(new Error('WRONGPASS invalid username-password pair'))).toBe(true);
    expect(isCredentialRefused(new Error('wrapped', { cause: new Error('NOAUTH Authentication required.') }))).toBe(
      true,
    );
    expect(isCredentialRefused(new PipelineError('UNAUTHORIZED', 'bad key'))).toBe(true);
    expect(isCredentialRefused(new Error('password authentication failed for user "app"'))).toBe(true);
    expect(isCredentialRefused(new Error('ECONNREFUSED'))).toBe(false);
    expect(isCredentialRefused('WRONGPASS')).toBe(false);
  });
});
