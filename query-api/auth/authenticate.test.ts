/**
 * Authentication through the app with real Cognito JWT verification (aws-jwt-verify):
 * tokens are signed with a locally generated RSA key whose JWKS is served over HTTP on
 * 127.0.0.1; only the JWKS location is redirected there (Cognito itself cannot run here).
 */
import { createServer, type Server } from 'node:http';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { CognitoJwtVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../../local/test-support.js';
import { experimentBody, startTestApi, type TestApi } from '../test-app.js';
import { EDITOR_GROUP } from './authenticate.js';

const USER_POOL_ID = 'us-east-1_TestPool1';
const CLIENT_ID = 'test-client-id';
const API_KEY = 'service-key-0123456789';
const KID = 'local-test-key';

let jwksServer: Server;
let jwksRequests = 0;
let privateKey: KeyObject;
let api: TestApi;

const base64url = (value: object | Buffer) =>
  (Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value))).toString('base64url');

/** Signs a Cognito-shaped access token with the local key. */
function accessToken(claims: Record<string, unknown> = {}, key: KeyObject = privateKey): string {
  const now = Math.floor(Date.now() / 1000);
  const { issuer } = CognitoJwtVerifier.parseUserPoolId(USER_POOL_ID);
  const payload = {
    sub: 'analyst-1',
    iss: issuer,
    client_id: CLIENT_ID,
    token_use: 'access',
    iat: now,
    exp: now + 600,
    ...claims,
  };
  const signingInput = `${base64url({ alg: 'RS256', kid: KID, typ: 'JWT' })}.${base64url(payload)}`;
  return `${signingInput}.${base64url(sign('RSA-SHA256', Buffer.from(signingInput), key))}`;
}

beforeAll(async () => {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  privateKey = keys.privateKey;
  const jwk = { ...keys.publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
  jwksServer = createServer((_request, response) => {
    jwksRequests++;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const address = jwksServer.address();
  const localJwks = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/jwks.json`;
  // Only the download location changes: signature, issuer, client id and expiry are checked by aws-jwt-verify.
  const jwksCache = new SimpleJwksCache({
    fetcher: { fetch: async () => (await fetch(localJwks)).arrayBuffer() },
  });
  api = await startTestApi(
    { API_KEYS: `other-key,${API_KEY}`, COGNITO_USER_POOL_ID: USER_POOL_ID, COGNITO_CLIENT_ID: CLIENT_ID },
    { jwksCache },
  );
});
afterAll(async () => {
  await api.close();
  await new Promise((resolve) => jwksServer.close(resolve));
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

  it('accepts a valid Cognito token for reads, and answers 403 for writes without the editor group', async () => {
    const token = accessToken();
    expect((await request({ authorization: `Bearer ${token}` })).statusCode).toBe(200);
    expect(jwksRequests).toBeGreaterThan(0);
    const forbidden = await request({ authorization: `Bearer ${token}` }, 'POST', experimentBody(randomName('auth')));
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().error.message).toContain(EDITOR_GROUP);
    const editor = accessToken({ 'cognito:groups': [EDITOR_GROUP] });
    const created = await request({ authorization: `Bearer ${editor}` }, 'POST', experimentBody(randomName('auth')));
    expect(created.statusCode).toBe(201);
  });

  it.each([
    ['expired', () => accessToken({ exp: Math.floor(Date.now() / 1000) - 60 }), /expired/i],
    ['for another client', () => accessToken({ client_id: 'someone-else' }), /client/i],
    ['from another issuer', () => accessToken({ iss: 'https://example.com/evil' }), /iss/i],
    [
      'signed with another key',
      () => accessToken({}, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey),
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

  it('leaves /health, /ready, /metrics and /docs open', async () => {
    for (const url of ['/health', '/metrics', '/docs/json']) {
      expect((await api.app.inject({ url })).statusCode, url).toBe(200);
    }
    expect([200, 503]).toContain((await api.app.inject({ url: '/ready' })).statusCode);
  });
});
