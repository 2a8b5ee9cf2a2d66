/**
 * Rate limits are keyed on the verified principal (issue 11: the raw Authorization header
 * was the key, so `bearer X`, `BEARER X`, `Bearer  X` and a tab each got a fresh bucket).
 * Real Cognito verification against a locally served JWKS, real PostgreSQL and dynalite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../test-support/test-app.js';
import { startLocalCognito, type LocalCognito } from '../test-support/local-cognito.js';
import { rateLimitKey } from './rate-limit-key.js';

const LIMIT = 3;
const EDGE_ASSIGNMENT_KEY = 'assignment-function-key-0001';
const EDGE_FLAGS_KEY = 'flag-evaluation-function-key-0002';

let cognito: LocalCognito;
let api: TestApi;

beforeAll(async () => {
  cognito = await startLocalCognito();
  api = await startTestApi(
    { API_KEYS: `${EDGE_ASSIGNMENT_KEY},${EDGE_FLAGS_KEY}`, QUERY_API_TRUSTED_PROXY_HOPS: '1', ...cognito.env },
    { jwksCache: cognito.jwksCache, rateLimitPerMinute: LIMIT },
  );
});
afterAll(async () => {
  await api.close();
  await cognito.stop();
});

const list = (headers: Record<string, string>, remoteAddress = '10.1.0.1') =>
  api.app.inject({ url: '/api/v1/experiments', headers, remoteAddress });

async function exhaust(headers: Record<string, string>, remoteAddress?: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i <= LIMIT; i++) statuses.push((await list(headers, remoteAddress)).statusCode);
  return statuses;
}

describe('rate limits per verified principal', () => {
  it('gives a token holder one bucket whatever the spelling of the Authorization header', async () => {
    const token = cognito.accessToken({ sub: 'analyst-spelling' });
    expect(await exhaust({ authorization: `Bearer ${token}` })).toEqual([200, 200, 200, 429]);
    for (const spelling of [`bearer ${token}`, `BEARER ${token}`, `Bearer  ${token}`, `Bearer\t${token}`]) {
      const response = await list({ authorization: spelling });
      expect(response.statusCode, JSON.stringify(spelling.slice(0, 8))).toBe(429);
      expect(response.json().error.code).toBe('RATE_LIMITED');
    }
  });

  it('counts every token of one user (`sub`) in one bucket, and other users apart', async () => {
    const first = cognito.accessToken({ sub: 'analyst-tokens', jti: 'a' });
    expect(await exhaust({ authorization: `Bearer ${first}` })).toEqual([200, 200, 200, 429]);
    const fresh = cognito.accessToken({ sub: 'analyst-tokens', jti: 'b' });
    expect((await list({ authorization: `Bearer ${fresh}` })).statusCode).toBe(429);
    const someoneElse = cognito.accessToken({ sub: 'analyst-other' });
    expect((await list({ authorization: `Bearer ${someoneElse}` })).statusCode).toBe(200);
  });

  it('gives each API key (one per edge function) its own bucket', async () => {
    expect(await exhaust({ 'x-api-key': EDGE_ASSIGNMENT_KEY })).toEqual([200, 200, 200, 429]);
    expect((await list({ 'x-api-key': EDGE_FLAGS_KEY })).statusCode).toBe(200);
  });

  it('counts unauthenticated attempts per client IP (behind one proxy hop), not per forged header', async () => {
    const fromClient = (forged: string) => ({ 'x-forwarded-for': `${forged}, 203.0.113.7` });
    const statuses: number[] = [];
    for (let i = 0; i <= LIMIT; i++) {
      statuses.push((await list({ ...fromClient(`198.51.100.${i}`), 'x-api-key': `guess-${i}` })).statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    // Another client behind the same load balancer is not affected.
    expect((await list({ 'x-forwarded-for': '203.0.113.8', 'x-api-key': 'guess' })).statusCode).toBe(401);
  });

  it('derives keys from the principal only', () => {
    expect(rateLimitKey({ kind: 'service', subject: 'key#1', canWrite: true }, '10.0.0.1')).toBe('key:key#1');
    expect(rateLimitKey({ kind: 'user', subject: 'abc', canWrite: false }, '10.0.0.1')).toBe('sub:abc');
    expect(rateLimitKey({ kind: 'anonymous', subject: 'anonymous', canWrite: true }, '10.0.0.1')).toBe('ip:10.0.0.1');
    expect(rateLimitKey(undefined, '10.0.0.2')).toBe('ip:10.0.0.2');
  });
});
