import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineError } from '../../common/errors.js';
import { createSecretsProvider } from '../../common/secrets/secret-value.js';
import {
  FAKE_AWS_CREDENTIALS,
  startFakeSecretsManager,
  type FakeSecretsManager,
} from '../../common/test-support/fake-secrets-manager.js';
import { resolveMonitorSecrets } from './lambda-handler.js';

let fake: FakeSecretsManager;
beforeAll(async () => {
  fake = await startFakeSecretsManager();
});
afterAll(async () => {
  await fake.close();
});

const provider = () =>
  createSecretsProvider({ region: 'us-east-1', endpoint: fake.endpoint, credentials: FAKE_AWS_CREDENTIALS });
const arn = (name: string) =>
  `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-${Math.random().toString(36).slice(2, 8)}`;

describe('the monitor Lambda reads its secrets from a fake Secrets Manager', () => {
  it('puts the Slack token and the SendGrid key in place of their *_SECRET_ID', async () => {
    const slack = arn('slack');
    const sendgrid = arn('sendgrid');
    fake.put(slack, 'xoxb-from-secrets-manager');
    fake.put(sendgrid, 'SG.from-secrets-manager');
    const env = { SLACK_BOT_TOKEN_SECRET_ID: slack, SENDGRID_API_KEY_SECRET_ID: sendgrid, LOG_LEVEL: 'info' };
    const resolved = await resolveMonitorSecrets(env, provider());
    expect(resolved).toMatchObject({
      SLACK_BOT_TOKEN: 'xoxb-from-secrets-manager',
      SENDGRID_API_KEY: 'SG.from-secrets-manager',
      LOG_LEVEL: 'info',
    });
    expect(env).not.toHaveProperty('SLACK_BOT_TOKEN');
    expect(await resolveMonitorSecrets({ LOG_LEVEL: 'info' }, provider())).toEqual({ LOG_LEVEL: 'info' });
  });

  it('fails with a typed error naming the secret, never its value, when it cannot be read', async () => {
    const missing = arn('missing');
    const failure = await resolveMonitorSecrets({ SLACK_BOT_TOKEN_SECRET_ID: missing }, provider()).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(PipelineError);
    expect((failure as PipelineError).code).toBe('DEPENDENCY_UNAVAILABLE');
    expect((failure as PipelineError).message).toContain(missing);
  });
});
