/**
 * Signing out across instances: two query API instances share the machine's Redis (a
 * random key prefix) and PostgreSQL schema; a token signed out on one is refused by both,
 * and by an instance started afterwards (the revocation lives in Redis, not in a process).
 * Tokens are real Cognito-shaped JWTs verified by aws-jwt-verify against a local JWKS.
 * With Redis unreachable, reads go on and writes by signed-in users are refused (503).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createSilentLogger } from '../../common/logger.js';
import { freePort } from '../../local/stand-ins.js';
import { randomName } from '../../local/test-support/test-config.js';
import { createQueryApi } from '../app.js';
import { EDITOR_GROUP } from '../auth/authenticate.js';
import type { QueryApiInstance } from '../context.js';
import { createQueryApiMetrics } from '../metrics.js';
import { connectQueryApiRedis } from '../start-query-api.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { auditEventCount, storedAuditEvents } from '../test-support/audit-chain.js';
import { startLocalCognito, type LocalCognito } from '../test-support/local-cognito.js';

const API_KEY = 'sessions-service-key-0123';

let cognito: LocalCognito;
let api: TestApi;
let redisA: Redis;
let redisB: Redis;
let instanceB: QueryApiInstance;
const prefix = `${randomName('qa-sessions')}:`;
/** A second instance of the service: same database, same Redis (its own connection), same key prefix. */
const anotherInstance = (
  redis: Redis | undefined,
  extra: Parameters<typeof createQueryApi>[1] extends infer D ? Partial<D> : never = {},
) =>
  createQueryApi(api.config, {
    database: api.database,
    dynamo: api.dynamo,
    jwksCache: cognito.jwksCache,
    redisKeyPrefix: prefix,
    ...(redis ? { redis } : {}),
    ...extra,
  });

beforeAll(async () => {
  cognito = await startLocalCognito();
  redisA = new Redis(inject('redisUrl'));
  redisB = new Redis(inject('redisUrl'));
  api = await startTestApi(
    { ...cognito.env, API_KEYS: API_KEY },
    { jwksCache: cognito.jwksCache, redis: redisA, redisKeyPrefix: prefix },
  );
  instanceB = await anotherInstance(redisB);
});
afterAll(async () => {
  await instanceB?.close();
  await api?.close();
  const keys = await redisA.keys(`${prefix}*`);
  if (keys.length > 0) await redisA.del(...keys);
  redisA.disconnect();
  redisB.disconnect();
  await cognito?.stop();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const read = (app: QueryApiInstance, token: string) =>
  app.inject({ url: '/api/v1/experiments', headers: bearer(token) });
const logout = (app: QueryApiInstance, headers: Record<string, string>) =>
  app.inject({ method: 'POST', url: '/api/v1/sessions/logout', headers });
const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
    jti: string;
    origin_jti: string;
    exp: number;
  };

describe('POST /api/v1/sessions/logout with two instances sharing Redis', () => {
  it('revokes the token and its sign-in on every instance until the token expires, and records it', async () => {
    const signedIn = cognito.accessToken();
    const { jti, origin_jti: origin, exp } = claimsOf(signedIn);
    const refreshed = cognito.accessToken({ origin_jti: origin });
    const otherSignIn = cognito.accessToken();
    expect((await read(api.app, signedIn)).statusCode).toBe(200);
    expect((await read(instanceB, signedIn)).statusCode).toBe(200);
    const eventsBefore = await auditEventCount(api.database.writer);

    const response = await logout(api.app, { ...bearer(signedIn), 'x-request-id': 'logout-1' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      signedOut: true,
      tokenId: jti,
      originTokenId: origin,
      revokedUntil: new Date(exp * 1000).toISOString(),
    });

    for (const [name, app] of [
      ['A', api.app],
      ['B', instanceB],
    ] as const) {
      const refused = await read(app, signedIn);
      expect(refused.statusCode, name).toBe(401);
      expect(refused.json().error.message, name).toBe('the bearer token was revoked (signed out); sign in again');
      expect((await read(app, refreshed)).statusCode, `${name}: token refreshed from the same sign-in`).toBe(401);
      expect((await read(app, otherSignIn)).statusCode, `${name}: another sign-in`).toBe(200);
    }
    // Until the token's own expiry, no longer.
    const ttl = await redisA.pttl(`${prefix}revoked:jti:${jti}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(exp * 1000 - Date.now() + 1000);
    expect(await redisA.pttl(`${prefix}revoked:origin:${origin}`)).toBeGreaterThan(0);

    // A task started afterwards (a restart) refuses it too: the revocation is in Redis.
    const redisC = new Redis(inject('redisUrl'));
    const restarted = await anotherInstance(redisC);
    try {
      expect((await read(restarted, signedIn)).statusCode).toBe(401);
    } finally {
      await restarted.close();
      redisC.disconnect();
    }
    // Signing out again with the revoked token is itself refused.
    expect((await logout(instanceB, bearer(signedIn))).statusCode).toBe(401);

    const events = (await storedAuditEvents(api.database.writer)).slice(eventsBefore);
    // The sign-out, and the restarted instance's failed-authentication summary (written when it closed).
    expect(events.map((event) => event.action)).toEqual(['session.signed-out', 'authentication.failures']);
    expect(events[1]!.change).toMatchObject({ failures: 1, sources: [{ reason: 'revoked-token', count: 1 }] });
    expect(events[0]).toMatchObject({
      action: 'session.signed-out',
      actor: { type: 'user', id: 'analyst-1', username: 'analyst-1@example.com' },
      requestId: 'logout-1',
      resource: { type: 'session', id: jti },
      change: { tokenId: jti, originTokenId: origin, revokedUntil: new Date(exp * 1000).toISOString() },
    });
    expect(JSON.stringify(events)).not.toContain(signedIn.split('.')[2]!);
  });

  it('answers 400 naming the field for an API key: only bearer tokens sign out', async () => {
    const response = await logout(api.app, { 'x-api-key': API_KEY });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details).toEqual([expect.objectContaining({ field: 'authorization' })]);
  });

  it('revokes in process when no Redis is configured (one instance)', async () => {
    const alone = await anotherInstance(undefined);
    try {
      const token = cognito.accessToken();
      expect((await logout(alone, bearer(token))).statusCode).toBe(200);
      expect((await read(alone, token)).statusCode).toBe(401);
    } finally {
      await alone.close();
    }
  });
});

describe('Redis unreachable: fail closed for writes by signed-in users', () => {
  it('serves reads, refuses writes and sign-outs with 503 and records nothing; API keys still write', async () => {
    const metrics = createQueryApiMetrics();
    const deadRedis = connectQueryApiRedis(`redis://127.0.0.1:${await freePort()}`, createSilentLogger());
    const degraded = await anotherInstance(deadRedis, { metrics });
    try {
      const editor = cognito.accessToken({ 'cognito:groups': [EDITOR_GROUP] });
      const before = await auditEventCount(api.database.writer);
      expect((await read(degraded, editor)).statusCode).toBe(200);
      const key = randomName('closed');
      const write = await degraded.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        headers: bearer(editor),
        payload: experimentBody(key),
      });
      expect(write.statusCode).toBe(503);
      expect(write.json().error).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
      expect(write.json().error.message).toMatch(/session store \(Redis\) is unavailable/);
      expect((await logout(degraded, bearer(editor))).statusCode).toBe(503);
      expect(await auditEventCount(api.database.writer)).toBe(before);
      expect(
        (await api.app.inject({ url: `/api/v1/experiments/${key}`, headers: { 'x-api-key': API_KEY } })).statusCode,
      ).toBe(404);

      const byKey = await degraded.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        headers: { 'x-api-key': API_KEY },
        payload: experimentBody(key),
      });
      expect(byKey.statusCode).toBe(201);
      const fallbacks =
        (await metrics.registry.getSingleMetric('query_api_store_fallbacks_total')?.get())?.values ?? [];
      expect(fallbacks.find((value) => value.labels.store === 'sessions')?.value).toBeGreaterThanOrEqual(1);
    } finally {
      await degraded.close();
      deadRedis.disconnect();
    }
  });
});
