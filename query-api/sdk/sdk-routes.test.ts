/**
 * SDK connections and the GrowthBook payload route on the real query API (PostgreSQL schema
 * per file, dynalite, the in-process results cache), driven with `inject`: keys created,
 * listed, rotated and deleted with audit events; the payload's content, CORS, ETag/304,
 * Cache-Control, 400/404; what is left out is reported with its reason and logged.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/logger.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { CLIENT_KEY_PATTERN } from './sdk-connection-store.js';
import { SDK_PAYLOAD_REFRESH_SECONDS } from './sdk-payload-service.js';

const ADMIN_KEY = 'admin-key-0123456789';
const READ_KEY = 'read-key-0123456789';
const admin = { 'x-api-key': ADMIN_KEY };

describe('SDK connections and GET /api/features/{clientKey}', () => {
  let api: TestApi;
  let clock = Date.parse('2026-03-01T10:00:00.000Z');
  const logLines: string[] = [];

  const createConnection = async (environment = 'production', name?: string) => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/api/v1/sdk-connections',
      headers: admin,
      payload: { environment, ...(name === undefined ? {} : { name }) },
    });
    expect(response.statusCode).toBe(201);
    return response.json<{ id: string; clientKey: string; environment: string; name: string; featuresPath: string }>();
  };
  const features = (clientKey: string, headers: Record<string, string> = {}) =>
    api.app.inject({ method: 'GET', url: `/api/features/${clientKey}`, headers });
  const nextInterval = () => {
    clock += SDK_PAYLOAD_REFRESH_SECONDS * 1000;
  };

  beforeAll(async () => {
    const logger = createLogger({
      level: 'warn',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          logLines.push(chunk.toString());
          done();
        },
      }),
    });
    api = await startTestApi({ API_KEYS: READ_KEY, ADMIN_API_KEYS: ADMIN_KEY }, { logger, now: () => new Date(clock) });
    const definitions = [
      experimentBody('checkout', {
        status: 'running',
        variants: [
          { id: 'control', weight: 0.2, name: 'Control' },
          { id: 'treatment', weight: 0.8 },
        ],
        coverage: 0.5,
        targeting: { attribute: 'country', op: 'in', values: ['US', 'CA'] },
      }),
      experimentBody('draft-one'),
      experimentBody('nested-targeting', {
        status: 'running',
        targeting: {
          and: [
            { attribute: 'country', op: 'eq', value: 'US' },
            { attribute: 'device.os', op: 'eq', value: 'ios' },
          ],
        },
      }),
    ];
    for (const payload of definitions) {
      const created = await api.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: admin, payload });
      expect(created.statusCode, created.body).toBe(201);
    }
    const flag = await api.app.inject({
      method: 'POST',
      url: '/api/v1/flags',
      headers: admin,
      payload: { key: 'new-nav', enabled: true, defaultValue: false, value: true, rollout: 0.2 },
    });
    expect(flag.statusCode, flag.body).toBe(201);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('creates a public client key for an environment, recorded in the audit trail', async () => {
    const created = await createConnection('production', 'web-storefront');
    expect(created.clientKey).toMatch(CLIENT_KEY_PATTERN);
    expect(created).toMatchObject({ environment: 'production', name: 'web-storefront' });
    expect(created.featuresPath).toBe(`/api/features/${created.clientKey}`);
    const history = await api.app.inject({
      method: 'GET',
      url: `/api/v1/audit-events?resourceId=${created.id}&resourceType=sdk-connection`,
      headers: admin,
    });
    expect(history.statusCode, history.body).toBe(200);
    const [event] = history.json().items;
    expect(event).toMatchObject({
      action: 'sdk-connection.created',
      actor: { type: 'api-key', id: 'admin-key#0' },
      change: { after: { clientKey: created.clientKey, environment: 'production' } },
    });
  });

  it('refuses connection changes without the admin scope and bad bodies with the field and rule', async () => {
    const noKey = await api.app.inject({
      method: 'POST',
      url: '/api/v1/sdk-connections',
      payload: { environment: 'x' },
    });
    expect(noKey.statusCode).toBe(401);
    const readOnly = await api.app.inject({
      method: 'POST',
      url: '/api/v1/sdk-connections',
      headers: { 'x-api-key': READ_KEY },
      payload: { environment: 'x' },
    });
    expect(readOnly.statusCode).toBe(403);
    expect(readOnly.json().error.message).toMatch(
      /^this is an admin route \(audit trail compliance, SDK connections\)/,
    );
    const listed = await api.app.inject({
      method: 'GET',
      url: '/api/v1/sdk-connections',
      headers: { 'x-api-key': READ_KEY },
    });
    expect(listed.statusCode).toBe(403);
    const bad = await api.app.inject({
      method: 'POST',
      url: '/api/v1/sdk-connections',
      headers: admin,
      payload: { environment: '', extra: 1 },
    });
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json().error.details)).toContain('environment');
    const unknownId = await api.app.inject({
      method: 'GET',
      url: '/api/v1/sdk-connections/not-a-uuid',
      headers: admin,
    });
    expect(unknownId.statusCode).toBe(400);
  });

  it('serves running experiments and flags as GrowthBook features, with CORS, ETag and Cache-Control', async () => {
    const { clientKey } = await createConnection();
    const response = await features(clientKey, { origin: 'https://shop.example' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(response.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect(response.headers['cache-control']).toBe(`public, max-age=${SDK_PAYLOAD_REFRESH_SECONDS}`);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    const body = response.json();
    expect(Object.keys(body.features).sort()).toEqual(['checkout', 'new-nav']);
    expect(body.features.checkout).toEqual({
      defaultValue: 'control',
      rules: [
        {
          id: 'experiment:checkout',
          key: 'checkout',
          name: 'Experiment checkout',
          variations: ['control', 'treatment'],
          weights: [0.2, 0.8],
          coverage: 0.5,
          hashAttribute: 'id',
          hashVersion: 2,
          seed: 'checkout',
          condition: { country: { $in: ['US', 'CA'] } },
          meta: [{ key: 'control', name: 'Control' }, { key: 'treatment' }],
        },
      ],
    });
    expect(body.features['new-nav']).toEqual({
      defaultValue: false,
      rules: [
        { id: 'flag:new-nav', force: true, hashAttribute: 'id', hashVersion: 2, seed: 'new-nav', range: [0, 0.2] },
      ],
    });
    expect(new Date(body.dateUpdated).getTime()).not.toBeNaN();

    const again = await features(clientKey, { 'if-none-match': response.headers.etag as string });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers['x-cache']).toBe('hit');
    expect(again.headers.etag).toBe(response.headers.etag);
    const stale = await features(clientKey, { 'if-none-match': '"something-else"' });
    expect(stale.statusCode).toBe(200);
  });

  it('answers preflights for SDKs configured with extra request headers', async () => {
    const { clientKey } = await createConnection();
    const preflight = await api.app.inject({
      method: 'OPTIONS',
      url: `/api/features/${clientKey}`,
      headers: {
        origin: 'https://shop.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'x-tenant',
      },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    expect(preflight.headers['access-control-allow-headers']).toBe('x-tenant');
    expect(preflight.headers['access-control-allow-methods']).toContain('GET');
  });

  it('answers 400 for a malformed key and 404 for an unknown one, both readable cross-origin', async () => {
    const malformed = await features('not-a-key');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.details[0]).toMatchObject({ field: 'clientKey', rule: 'pattern' });
    expect(malformed.headers['access-control-allow-origin']).toBe('*');
    const unknown = await features('sdk-AAAAAAAAAAAAAAAAAAAAAA');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('NOT_FOUND');
    expect(unknown.headers['access-control-allow-origin']).toBe('*');
  });

  it('leaves out what cannot be translated exactly: reported with the reason, and logged', async () => {
    const { id, clientKey } = await createConnection();
    const report = await api.app.inject({
      method: 'GET',
      url: `/api/v1/sdk-connections/${id}/payload-report`,
      headers: admin,
    });
    expect(report.statusCode, report.body).toBe(200);
    expect(report.json()).toMatchObject({
      connectionId: id,
      clientKey,
      formatVersion: 1,
      features: [
        { key: 'new-nav', kind: 'flag', rules: 1 },
        { key: 'checkout', kind: 'experiment', rules: 1 },
      ],
      omitted: [
        {
          type: 'experiment',
          key: 'nested-targeting',
          reason: 'dotted-attribute',
          path: 'targeting.and[1].attribute',
        },
      ],
    });
    const logged = logLines.map((line) => JSON.parse(line) as Record<string, any>).filter((line) => line.sdkPayload);
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        sdkPayload: {
          type: 'experiment',
          key: 'nested-targeting',
          reason: 'dotted-attribute',
          path: 'targeting.and[1].attribute',
        },
      }),
    );
    // Logged once per process and reason, not once per build.
    await api.app.inject({ method: 'GET', url: `/api/v1/sdk-connections/${id}/payload-report`, headers: admin });
    expect(logLines.filter((line) => line.includes('nested-targeting')).length).toBe(logged.length);
  });

  it('serves a change within one refresh interval, and the ETag changes with the payload', async () => {
    const { clientKey } = await createConnection();
    const before = await features(clientKey);
    const patched = await api.app.inject({
      method: 'PATCH',
      url: '/api/v1/flags/new-nav',
      headers: admin,
      payload: { rollout: 0.5 },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    const cached = await features(clientKey);
    expect(cached.headers.etag).toBe(before.headers.etag);
    nextInterval();
    const after = await features(clientKey, { 'if-none-match': before.headers.etag as string });
    expect(after.statusCode).toBe(200);
    expect(after.headers.etag).not.toBe(before.headers.etag);
    expect(after.json().features['new-nav'].rules[0].range).toEqual([0, 0.5]);
    expect(Date.parse(after.json().dateUpdated)).toBeGreaterThan(Date.parse(before.json().dateUpdated));
  });

  it('rotates and deletes keys: the old key answers 404 from the next interval, the new one 200', async () => {
    const created = await createConnection('staging');
    expect((await features(created.clientKey)).statusCode).toBe(200);
    const rotated = await api.app.inject({
      method: 'POST',
      url: `/api/v1/sdk-connections/${created.id}/rotate`,
      headers: admin,
    });
    expect(rotated.statusCode, rotated.body).toBe(200);
    const { clientKey: newKey, rotatedAt } = rotated.json();
    expect(newKey).toMatch(CLIENT_KEY_PATTERN);
    expect(newKey).not.toBe(created.clientKey);
    expect(rotatedAt).not.toBeNull();
    nextInterval();
    expect((await features(created.clientKey)).statusCode).toBe(404);
    expect((await features(newKey)).statusCode).toBe(200);

    const listed = await api.app.inject({ method: 'GET', url: '/api/v1/sdk-connections', headers: admin });
    expect(listed.json().items.map((item: { clientKey: string }) => item.clientKey)).toContain(newKey);

    const deleted = await api.app.inject({
      method: 'DELETE',
      url: `/api/v1/sdk-connections/${created.id}`,
      headers: admin,
    });
    expect(deleted.statusCode).toBe(204);
    nextInterval();
    expect((await features(newKey)).statusCode).toBe(404);
    const gone = await api.app.inject({ method: 'GET', url: `/api/v1/sdk-connections/${created.id}`, headers: admin });
    expect(gone.statusCode).toBe(404);
    const history = await api.app.inject({
      method: 'GET',
      url: `/api/v1/audit-events?resourceId=${created.id}&resourceType=sdk-connection`,
      headers: admin,
    });
    expect(history.json().items.map((event: { action: string }) => event.action)).toEqual([
      'sdk-connection.deleted',
      'sdk-connection.rotated',
      'sdk-connection.created',
    ]);
  });
});
