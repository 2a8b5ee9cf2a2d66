import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FlagDefinition } from '../common/experiment-definition.js';
import { API_KEY_SECRET_ID_VARIABLE } from '../common/secrets/secret-environment.js';
import {
  FAKE_AWS_CREDENTIALS,
  startFakeSecretsManager,
  type FakeSecretsManager,
} from '../common/test-support/fake-secrets-manager.js';
import { randomName } from '../local/test-support/test-config.js';
import { handler } from './flag-evaluation-handler.js';
import { isFunctionUrlEvent, type FunctionUrlResult } from './function-url.js';
import { startExperimentApi, type ExperimentApiStub } from './test-support/experiment-api-stub.js';

/** A function URL invocation as Lambda delivers it (payload format 2.0, AWS_IAM auth). */
function functionUrlEvent(body: string, method = 'POST', isBase64Encoded = false) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    rawQueryString: '',
    headers: { 'content-type': 'application/json', host: 'abc.lambda-url.eu-west-1.on.aws' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      authorizer: {
        iam: { accessKey: 'AKID', accountId: '123456789012', userArn: 'arn:aws:iam::123456789012:user/sdk' },
      },
      domainName: 'abc.lambda-url.eu-west-1.on.aws',
      http: { method, path: '/', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'r-1',
      routeKey: '$default',
      stage: '$default',
      time: '01/Jan/2025:00:00:00 +0000',
      timeEpoch: 1735689600000,
    },
    body,
    isBase64Encoded,
  };
}

describe('Flag Evaluation over its function URL, key from a fake Secrets Manager', () => {
  let api: ExperimentApiStub;
  let secrets: FakeSecretsManager;
  let flagKey: string;
  const secretId = randomName('arn:aws:secretsmanager:us-east-1:123456789012:secret:internal-key');

  beforeAll(async () => {
    api = await startExperimentApi('current-key');
    secrets = await startFakeSecretsManager();
    flagKey = randomName('checkout-flag');
    const flag: FlagDefinition = {
      key: flagKey,
      enabled: true,
      defaultValue: false,
      value: true,
      rollout: 1,
      hashSeed: flagKey,
    };
    api.flags.set(flagKey, flag);
    // The cold start finds a key the API no longer accepts (rotated meanwhile).
    secrets.put(secretId, JSON.stringify({ keys: 'previous-key' }));
    vi.stubEnv('EXPERIMENTATION_API_URL', api.url);
    vi.stubEnv('EXPERIMENTATION_API_KEY', '');
    vi.stubEnv(API_KEY_SECRET_ID_VARIABLE, secretId);
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', secrets.endpoint);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', FAKE_AWS_CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', FAKE_AWS_CREDENTIALS.secretAccessKey);
    vi.stubEnv('LOG_LEVEL', 'silent');
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await api.close();
    await secrets.close();
  });

  it('tells function URL events from direct invocation payloads', () => {
    expect(isFunctionUrlEvent(functionUrlEvent('{}'))).toBe(true);
    expect(isFunctionUrlEvent({ flagKey: 'x', userId: 'u' })).toBe(false);
    expect(isFunctionUrlEvent({ version: '2.0', requestContext: {} })).toBe(false);
    expect(isFunctionUrlEvent(null)).toBe(false);
  });

  it('answers a refused key with 503, then recovers once the secret holds the rotated key', async () => {
    const request = JSON.stringify({ flagKey, userId: 'u-1' });
    const refused = (await handler(functionUrlEvent(request))) as FunctionUrlResult;
    expect(refused.statusCode).toBe(503);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'DEPENDENCY_UNAVAILABLE' } });
    // Cold start read + one re-read after the 401.
    expect(secrets.reads(secretId)).toBe(2);

    secrets.put(secretId, JSON.stringify({ keys: 'current-key' }));
    const answered = (await handler(functionUrlEvent(request))) as FunctionUrlResult;
    expect(answered).toMatchObject({ statusCode: 200, headers: { 'content-type': 'application/json' } });
    expect(JSON.parse(answered.body)).toEqual({ value: true, reason: expect.any(String) });
    expect(secrets.reads(secretId)).toBe(3);
    expect(secrets.targets.every((target) => target === 'secretsmanager.GetSecretValue')).toBe(true);
  });

  it('serves direct invocations with the same handler and the cached key', async () => {
    const before = secrets.reads(secretId);
    expect(await handler({ flagKey, userId: 'u-2' })).toEqual({ value: true, reason: expect.any(String) });
    expect(secrets.reads(secretId)).toBe(before);
  });

  it('maps bad requests to 4xx statuses naming the field', async () => {
    const notJson = (await handler(functionUrlEvent('{"flagKey":'))) as FunctionUrlResult;
    expect(notJson.statusCode).toBe(400);
    expect(JSON.parse(notJson.body)).toMatchObject({ error: { code: 'BODY_UNPARSEABLE' } });
    const get = (await handler(functionUrlEvent('', 'GET'))) as FunctionUrlResult;
    expect(get.statusCode).toBe(400);
    expect(JSON.parse(get.body).error.message).toMatch(/method/);
    const invalid = (await handler(
      functionUrlEvent(Buffer.from(JSON.stringify({ flagKey })).toString('base64'), 'POST', true),
    )) as FunctionUrlResult;
    expect(invalid.statusCode).toBe(400);
    expect(JSON.parse(invalid.body)).toMatchObject({
      error: { code: 'VALIDATION_FAILED', details: [expect.objectContaining({ field: 'userId', rule: 'required' })] },
    });
  });
});
