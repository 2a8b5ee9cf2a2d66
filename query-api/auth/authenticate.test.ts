/**
 * Authentication through the app with real Cognito JWT verification (aws-jwt-verify):
 * tokens are signed with a locally generated RSA key whose JWKS is served over HTTP on
 * 127.0.0.1 (test-support/local-cognito.ts); only the JWKS location is redirected there
 * (Cognito itself cannot run here).
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../../local/test-support/test-config.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { startLocalCognito, type LocalCognito } from '../test-support/local-cognito.js';
import { EDITOR_GROUP } from './authenticate.js';

const API_KEY = 'service-key-0123456789';

let cognito: LocalCognito;
let api: TestApi;

beforeAll(async () => {
  cognito = await startLocalCognito();
  api = await startTestApi({ API_KEYS: `other-key,${API_KEY}`, ...cognito.env }, { jwksCache: cognito.jwksCache });
});
afterAll(async () => {
  await api.close();
  await cognito.stop();
});

const request = (headers: Record<string, string>, method: 'GET' | 'POST' = 'GET', payload?: object) =>
  api.app.inject({
    method,
    url: '/api/v1/experiments',
    headers,
    ...(payload ? { payload } : {}),
  });

describe('authentication (locally generated JWKS served on 127.0.0.1, real aws-jwt-verify)', () => {
  it('answers 401 without credentials, naming what is accepted', async () => {
    const response = await request({});
    expect(response.statusCode).toBe(401);
    expect(response.json().error).toEqual({
      code: 'UNAUTHORIZED',
      message: 'credentials required: send x-api-key or Authorization: Bearer <Cognito token>',
    });
  });

  it('accepts a configured API key for reads and writes; rejects others with 401', async () => {
    expect((await request({ 'x-api-key': API_KEY })).statusCode).toBe(200);
    const created = await request({ 'x-api-key': API_KEY }, 'POST', experimentBody(randomName('auth')));
    expect(created.statusCode).toBe(201);
    const wrong = await request({ 'x-api-key': 'not-a-key' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error.message).toBe('the x-api-key header is not a valid API key');
  });

  it('accepts a valid Cognito access token for reads, and answers 403 for writes without the editor group', async () => {
    const token = cognito.accessToken();
    expect((await request({ authorization: `Bearer ${token}` })).statusCode).toBe(200);
    expect(cognito.jwksRequests).toBeGreaterThan(0);
    const forbidden = await request({ authorization: `Bearer ${token}` }, 'POST', experimentBody(randomName('auth')));
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().error.message).toContain(EDITOR_GROUP);
    const editor = cognito.accessToken({ 'cognito:groups': [EDITOR_GROUP] });
    const created = await request({ authorization: `Bearer ${editor}` }, 'POST', experimentBody(randomName('auth')));
    expect(created.statusCode).toBe(201);
  });

  // Issue 11: ID tokens were accepted (tokenUse: null); an ID token is not an API credential.
  it('rejects a Cognito ID token of the same pool and client with 401, even one naming the editor group', async () => {
    const token = cognito.idToken();
    const read = await request({ authorization: `Bearer ${token}` });
    expect(read.statusCode).toBe(401);
    expect(read.json().error.message).toMatch(/^the bearer token was rejected: .*token use/i);
    const write = await request({ authorization: `Bearer ${token}` }, 'POST', experimentBody(randomName('auth')));
    expect(write.statusCode).toBe(401);
  });

  it.each([
    ['expired', () => cognito.accessToken({ exp: Math.floor(Date.now() / 1000) - 60 }), /expired/i],
    ['for another client', () => cognito.accessToken({ client_id: 'someone-else' }), /client/i],
    ['without a client_id', () => cognito.accessToken({ client_id: undefined }), /client/i],
    ['from another issuer', () => cognito.accessToken({ iss: 'https://example.com/evil' }), /iss/i],
    [
      'signed with another key',
      () => cognito.accessToken({}, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey),
      /signature/i,
    ],
    ['malformed', () => 'not.a.jwt', /./],
  ])('rejects a token %s with 401 and the reason', async (_what, makeToken, reason) => {
    const response = await request({ authorization: `Bearer ${makeToken()}` });
    expect(response.statusCode).toBe(401);
    expect(response.json().error.message).toMatch(/^the bearer token was rejected: /);
    expect(response.json().error.message).toMatch(reason);
  });

  it('rejects a non-Bearer Authorization header with 401', async () => {
    const response = await request({ authorization: 'Basic dXNlcjpwYXNz' });
    expect(response.statusCode).toBe(401);
    expect(response.json().error.message).toBe('the Authorization header must be "Bearer <token>"');
  });

  it('answers 401 before reading the body of an unauthenticated write', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      headers: { 'content-type': 'application/json' },
      payload: '{not json',
    });
    expect(response.statusCode).toBe(401);
  });

  it('leaves /health, /ready and /docs open, and does not serve /metrics on the public port', async () => {
    for (const url of ['/health', '/docs/json']) {
      expect((await api.app.inject({ url })).statusCode, url).toBe(200);
    }
    expect([200, 503]).toContain((await api.app.inject({ url: '/ready' })).statusCode);
    // Unknown to this port: 404 for a caller with a key (401 without one, like every non-public path).
    expect((await api.app.inject({ url: '/metrics', headers: { 'x-api-key': API_KEY } })).statusCode).toBe(404);
    expect((await api.app.inject({ url: '/metrics' })).statusCode).toBe(401);
  });
});
