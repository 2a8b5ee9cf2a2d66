/**
 * The audit trail through the app, on the machine's PostgreSQL (a schema per test file)
 * with real Cognito token verification (test-support/local-cognito.ts): every change
 * writes exactly one signed event in its own transaction, failures write none and roll
 * back together, concurrent writers never fork the chain, and the audit routes are
 * admin-only where they should be and refuse bad parameters with 400 naming the field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../../local/test-support/test-config.js';
import { createQueryApi } from '../app.js';
import { ADMIN_GROUP, EDITOR_GROUP } from '../auth/authenticate.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { auditEventCount, storedAuditEvents } from '../test-support/audit-chain.js';
import { startLocalCognito, type LocalCognito } from '../test-support/local-cognito.js';
import type { AuditEvent } from './audit-event.js';
import { auditKeyId } from './audit-keys.js';

const WRITER_KEY = 'audit-writer-key-0123456789';
const ADMIN_KEY = 'audit-admin-key-0123456789';
const writer = { 'x-api-key': WRITER_KEY };
const admin = { 'x-api-key': ADMIN_KEY };

let cognito: LocalCognito;
let api: TestApi;
beforeAll(async () => {
  cognito = await startLocalCognito();
  api = await startTestApi(
    { API_KEYS: WRITER_KEY, ADMIN_API_KEYS: ADMIN_KEY, ...cognito.env },
    { jwksCache: cognito.jwksCache, rateLimitPerMinute: 1_000_000 },
  );
});
afterAll(async () => {
  await api?.close();
  await cognito?.stop();
});

const lastEvent = async (): Promise<AuditEvent> => {
  const events = await storedAuditEvents(api.database.writer);
  return events[events.length - 1]!;
};
const verifyAll = async () => (await api.app.inject({ url: '/api/v1/compliance/verify', headers: admin })).json();

describe('every change writes exactly one audit event, in its transaction', () => {
  it('records create, patch, status change and delete of experiments and flags, with actor, IP and request id', async () => {
    const key = randomName('audited');
    const flag = randomName('audited-flag');
    const editor = { authorization: `Bearer ${cognito.accessToken({ 'cognito:groups': [EDITOR_GROUP] })}` };
    const steps: {
      name: string;
      method: 'POST' | 'PATCH' | 'DELETE';
      url: string;
      payload?: object;
      headers?: Record<string, string>;
      status: number;
      expected?: Partial<AuditEvent>;
    }[] = [
      {
        name: 'create experiment',
        method: 'POST',
        url: '/api/v1/experiments',
        payload: experimentBody(key),
        status: 201,
        expected: { action: 'experiment.created', resource: { type: 'experiment', id: key } },
      },
      {
        name: 'rename experiment (signed-in editor)',
        method: 'PATCH',
        url: `/api/v1/experiments/${key}`,
        payload: { name: 'Renamed', coverage: 1 },
        headers: editor,
        status: 200,
        expected: {
          action: 'experiment.updated',
          actor: { type: 'user', id: 'analyst-1', username: 'analyst-1@example.com' },
          change: { fields: { name: { before: `Experiment ${key}`, after: 'Renamed' } } },
        },
      },
      {
        name: 'start experiment',
        method: 'PATCH',
        url: `/api/v1/experiments/${key}`,
        payload: { status: 'running' },
        status: 200,
        expected: {
          action: 'experiment.status-changed',
          change: { fields: { status: { before: 'draft', after: 'running' } } },
        },
      },
      {
        name: 'delete a running experiment (refused)',
        method: 'DELETE',
        url: `/api/v1/experiments/${key}`,
        status: 409,
      },
      {
        name: 'stop experiment',
        method: 'PATCH',
        url: `/api/v1/experiments/${key}`,
        payload: { status: 'stopped' },
        status: 200,
        expected: { action: 'experiment.status-changed' },
      },
      {
        name: 'delete experiment',
        method: 'DELETE',
        url: `/api/v1/experiments/${key}`,
        headers: { 'if-match': '"v4"' },
        status: 204,
        expected: { action: 'experiment.deleted', resource: { type: 'experiment', id: key } },
      },
      {
        name: 'create flag',
        method: 'POST',
        url: '/api/v1/flags',
        payload: { key: flag, defaultValue: false, value: true },
        status: 201,
        expected: { action: 'flag.created', change: { after: expect.objectContaining({ key: flag, enabled: false }) } },
      },
      {
        name: 'enable flag',
        method: 'PATCH',
        url: `/api/v1/flags/${flag}`,
        payload: { enabled: true },
        status: 200,
        expected: { action: 'flag.updated', change: { fields: { enabled: { before: false, after: true } } } },
      },
      {
        name: 'delete flag',
        method: 'DELETE',
        url: `/api/v1/flags/${flag}`,
        status: 204,
        expected: { action: 'flag.deleted', change: { before: expect.objectContaining({ key: flag, enabled: true }) } },
      },
    ];
    for (const [index, step] of steps.entries()) {
      const requestId = `audit-step-${index}`;
      const before = await auditEventCount(api.database.writer);
      const response = await api.app.inject({
        method: step.method,
        url: step.url,
        headers: { ...(step.headers?.authorization ? {} : writer), 'x-request-id': requestId, ...step.headers },
        ...(step.payload ? { payload: step.payload } : {}),
      });
      expect(response.statusCode, `${step.name}: ${response.body}`).toBe(step.status);
      expect(await auditEventCount(api.database.writer), step.name).toBe(before + (step.expected ? 1 : 0));
      if (!step.expected) continue;
      const { change, ...expected } = step.expected;
      const event = await lastEvent();
      expect(event, step.name).toMatchObject({
        position: before + 1,
        requestId,
        sourceIp: '127.0.0.1',
        keyId: auditKeyId(api.config.audit.hmacSecret!),
        actor: { type: 'api-key', id: 'key#0', username: null },
        ...expected,
      });
      // Exactly the fields that changed (coverage was sent unchanged in the rename: not recorded).
      if (change) expect(event.change, step.name).toEqual(change);
    }
    expect(await api.app.inject({ url: `/api/v1/experiments/${key}`, headers: writer })).toMatchObject({
      statusCode: 404,
    });
    const everything = JSON.stringify(await storedAuditEvents(api.database.writer));
    expect(everything).not.toContain(WRITER_KEY);
    expect(everything).not.toContain(editor.authorization.slice(7, 60));
    expect(await verifyAll()).toMatchObject({ ok: true, failures: [] });
  });

  it('records a value JSON cannot hold as PostgreSQL stores it (1e400 → null) and still verifies', async () => {
    const key = randomName('infinite');
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/flags',
      headers: { ...writer, 'content-type': 'application/json' },
      payload: `{"key":"${key}","defaultValue":1e400,"value":{"n":-1e400}}`,
    });
    expect(created.statusCode, created.body).toBe(201);
    const patched = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/flags/${key}`,
      headers: { ...writer, 'content-type': 'application/json' },
      payload: '{"value":{"n":1e400}}',
    });
    expect(patched.statusCode, patched.body).toBe(200);
    const events = (await storedAuditEvents(api.database.writer)).filter((event) => event.resource.id === key);
    expect(events.map((event) => event.change)).toEqual([
      { after: expect.objectContaining({ defaultValue: null, value: { n: null } }) },
      { fields: {} },
    ]);
    expect(await verifyAll()).toMatchObject({ ok: true });
  });

  it('writes nothing for a refused change (400, 404, 409, 412)', async () => {
    const key = randomName('refused');
    await api.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: writer, payload: experimentBody(key) });
    const before = await auditEventCount(api.database.writer);
    const refused = [
      { method: 'POST', url: '/api/v1/experiments', payload: experimentBody(key) },
      { method: 'POST', url: '/api/v1/experiments', payload: experimentBody(randomName('bad'), { coverage: 3 }) },
      { method: 'PATCH', url: `/api/v1/experiments/${key}`, payload: { controlVariantId: 'ghost' } },
      { method: 'PATCH', url: '/api/v1/experiments/no-such-key', payload: { name: 'x' } },
      { method: 'PATCH', url: `/api/v1/experiments/${key}`, payload: { name: 'x' }, headers: { 'if-match': '"v9"' } },
      { method: 'DELETE', url: `/api/v1/flags/no-such-flag` },
      { method: 'DELETE', url: `/api/v1/experiments/${key}`, headers: { 'if-match': '"v9"' } },
    ] as const;
    for (const request of refused) {
      const response = await api.app.inject({
        method: request.method,
        url: request.url,
        headers: { ...writer, ...('headers' in request ? request.headers : {}) },
        ...('payload' in request ? { payload: request.payload } : {}),
      });
      expect(response.statusCode, `${request.method} ${request.url}`).toBeGreaterThanOrEqual(400);
      expect(response.statusCode).toBeLessThan(500);
    }
    expect(await auditEventCount(api.database.writer)).toBe(before);
  });

  it('rolls the definition and its event back together when either fails', async () => {
    const db = api.database.writer;
    // A deferred constraint trigger fails at COMMIT, after both the definition and the event were written.
    await db.query(`CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`);
    await db.query(`CREATE CONSTRAINT TRIGGER doomed_experiments AFTER INSERT OR UPDATE ON experiments
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.definition->>'name' LIKE 'doomed%') EXECUTE FUNCTION refuse_change()`);
    // The audit insert itself fails for one resource.
    await db.query(`CREATE TRIGGER unaudited BEFORE INSERT ON audit_events
      FOR EACH ROW WHEN (NEW.resource_id LIKE 'unaudited%') EXECUTE FUNCTION refuse_change()`);
    try {
      const headBefore = (await db.query('SELECT position, signature FROM audit_chain_head')).rows[0];
      const countBefore = await auditEventCount(db);
      const doomed = randomName('doomed');
      const created = await api.app.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        headers: writer,
        payload: experimentBody(doomed, { name: 'doomed at commit' }),
      });
      expect(created.statusCode).toBe(500);
      const unaudited = randomName('unaudited');
      const notAudited = await api.app.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        headers: writer,
        payload: experimentBody(unaudited),
      });
      expect(notAudited.statusCode).toBe(500);
      const kept = randomName('kept');
      await api.app.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        headers: writer,
        payload: experimentBody(kept),
      });
      const renamed = await api.app.inject({
        method: 'PATCH',
        url: `/api/v1/experiments/${kept}`,
        headers: writer,
        payload: { name: 'doomed rename' },
      });
      expect(renamed.statusCode).toBe(500);

      const stored = await db.query<{ key: string }>('SELECT key FROM experiments WHERE key = ANY($1)', [
        [doomed, unaudited],
      ]);
      expect(stored.rows).toEqual([]);
      const keptNow = await api.app.inject({ url: `/api/v1/experiments/${kept}`, headers: writer });
      expect(keptNow.json().name).toBe(`Experiment ${kept}`);
      expect(keptNow.headers.etag).toBe('"v1"');
      // Only the creation of `kept` was recorded; the head moved by exactly that event.
      expect(await auditEventCount(db)).toBe(countBefore + 1);
      const head = (await db.query('SELECT position FROM audit_chain_head')).rows[0];
      expect(Number(head.position)).toBe(Number(headBefore.position) + 1);
      expect((await lastEvent()).resource.id).toBe(kept);
    } finally {
      await db.query('DROP TRIGGER unaudited ON audit_events');
      await db.query('DROP TRIGGER doomed_experiments ON experiments');
    }
    expect(await verifyAll()).toMatchObject({ ok: true });
  });

  it('never forks the chain under concurrent writers on two app instances', async () => {
    const second = await createQueryApi(api.config, { database: api.database, dynamo: api.dynamo });
    try {
      const before = await auditEventCount(api.database.writer);
      const keys = Array.from({ length: 24 }, () => randomName('race'));
      const responses = await Promise.all(
        keys.flatMap((key, index) => {
          const app = index % 2 === 0 ? api.app : second;
          return [
            app.inject({
              method: 'POST',
              url: '/api/v1/flags',
              headers: writer,
              payload: { key, defaultValue: 0, value: 1 },
            }),
          ];
        }),
      );
      expect(responses.map((response) => response.statusCode)).toEqual(keys.map(() => 201));
      const patches = await Promise.all(
        keys.map((key, index) =>
          (index % 2 === 0 ? second : api.app).inject({
            method: 'PATCH',
            url: `/api/v1/flags/${key}`,
            headers: writer,
            payload: { rollout: 0.5 },
          }),
        ),
      );
      expect(patches.map((response) => response.statusCode)).toEqual(keys.map(() => 200));
      const events = await storedAuditEvents(api.database.writer);
      expect(events).toHaveLength(before + 48);
      events.forEach((event, index) => {
        expect(event.position).toBe(index + 1);
        if (index > 0) {
          expect(event.previousSignature).toBe(events[index - 1]!.signature);
          expect(event.time >= events[index - 1]!.time).toBe(true);
        }
      });
      expect(await verifyAll()).toMatchObject({ ok: true, events: before + 48 });
    } finally {
      await second.close();
    }
  });

  it('summarizes failed authentications: one event per window, not one per request', async () => {
    const instance = await createQueryApi(api.config, { database: api.database, dynamo: api.dynamo });
    const before = await auditEventCount(api.database.writer);
    for (let i = 0; i < 25; i++) {
      const response = await instance.inject({ url: '/api/v1/experiments', headers: { 'x-api-key': `guess-${i}` } });
      expect(response.statusCode).toBe(401);
    }
    for (let i = 0; i < 5; i++) expect((await instance.inject({ url: '/api/v1/flags' })).statusCode).toBe(401);
    expect(await auditEventCount(api.database.writer)).toBe(before);
    await instance.close(); // the window ends: its summary is written
    expect(await auditEventCount(api.database.writer)).toBe(before + 1);
    const summary = await lastEvent();
    expect(summary).toMatchObject({
      action: 'authentication.failures',
      actor: { type: 'system', id: 'query-api', username: null },
      resource: { type: 'authentication', id: 'failed-attempts' },
      change: {
        failures: 30,
        sources: [
          { sourceIp: '127.0.0.1', reason: 'invalid-api-key', count: 25 },
          { sourceIp: '127.0.0.1', reason: 'missing-credentials', count: 5 },
        ],
        otherSources: 0,
        otherFailures: 0,
      },
    });
    expect(JSON.stringify(summary)).not.toContain('guess-');
  });
});

describe('audit routes', () => {
  it('lists one resource’s history newest first, paginated; sourceIp only for admins', async () => {
    const key = randomName('history');
    await api.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: writer, payload: experimentBody(key) });
    for (const name of ['one', 'two', 'three']) {
      await api.app.inject({ method: 'PATCH', url: `/api/v1/experiments/${key}`, headers: writer, payload: { name } });
    }
    const first = await api.app.inject({ url: `/api/v1/audit-events?resourceId=${key}&limit=3`, headers: writer });
    expect(first.statusCode).toBe(200);
    const page = first.json<{ items: AuditEvent[]; nextAfter: number | null }>();
    expect(page.items.map((event) => event.change)).toEqual([
      { fields: { name: { before: 'two', after: 'three' } } },
      { fields: { name: { before: 'one', after: 'two' } } },
      { fields: { name: { before: `Experiment ${key}`, after: 'one' } } },
    ]);
    expect(page.items.every((event) => event.sourceIp === null)).toBe(true);
    expect(page.nextAfter).toBe(page.items[2]!.position);
    const older = await api.app.inject({
      url: `/api/v1/audit-events?resourceId=${key}&resourceType=experiment&limit=3&after=${page.nextAfter}`,
      headers: admin,
    });
    expect(older.json()).toMatchObject({
      items: [{ action: 'experiment.created', sourceIp: '127.0.0.1' }],
      nextAfter: null,
    });
    const otherType = await api.app.inject({
      url: `/api/v1/audit-events?resourceId=${key}&resourceType=flag`,
      headers: writer,
    });
    expect(otherType.json()).toEqual({ items: [], nextAfter: null });
  });

  it('exports a time range as NDJSON and as CSV, with positions and signatures', async () => {
    const events = await storedAuditEvents(api.database.writer);
    const from = events[2]!.time;
    const to = events[5]!.time;
    const inRange = events.filter((event) => event.time >= from && event.time < to);
    const ndjson = await api.app.inject({
      url: `/api/v1/compliance/export?from=${from}&to=${to}`,
      headers: admin,
    });
    expect(ndjson.statusCode).toBe(200);
    expect(ndjson.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    const lines = ndjson.body
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditEvent);
    expect(lines).toEqual(inRange);
    const csv = await api.app.inject({ url: `/api/v1/compliance/export?format=csv&to=${to}`, headers: admin });
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    const records = csv.body.split('\r\n');
    expect(records[0]).toBe(
      'position,id,time,v,keyId,actorType,actorId,actorUsername,sourceIp,requestId,action,resourceType,resourceId,change,previousSignature,signature',
    );
    expect(records[1]).toMatch(new RegExp(`^1,${events[0]!.id},`));
    expect(records.filter((record) => record !== '')).toHaveLength(1 + events.filter((e) => e.time < to).length);
  });

  it('is admin-only for export and verify: ADMIN_API_KEYS or the Cognito admin group', async () => {
    for (const url of ['/api/v1/compliance/export', '/api/v1/compliance/verify']) {
      expect((await api.app.inject({ url })).statusCode, url).toBe(401);
      const forbidden = await api.app.inject({ url, headers: writer });
      expect(forbidden.statusCode, url).toBe(403);
      expect(forbidden.json().error.message).toContain('ADMIN_API_KEYS');
      const editor = cognito.accessToken({ 'cognito:groups': [EDITOR_GROUP] });
      expect((await api.app.inject({ url, headers: { authorization: `Bearer ${editor}` } })).statusCode, url).toBe(403);
      const groupAdmin = cognito.accessToken({ 'cognito:groups': [ADMIN_GROUP] });
      expect((await api.app.inject({ url, headers: { authorization: `Bearer ${groupAdmin}` } })).statusCode, url).toBe(
        200,
      );
      expect((await api.app.inject({ url, headers: admin })).statusCode, url).toBe(200);
    }
  });

  it.each([
    ['/api/v1/compliance/export?format=xml', 'format'],
    ['/api/v1/compliance/export?from=yesterday', 'from'],
    ['/api/v1/compliance/export?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
    ['/api/v1/compliance/verify?to=2026-13-45T00:00:00Z', 'to'],
    ['/api/v1/compliance/verify?from=2026-02-01T00:00:00Z&to=2026-02-01T00:00:00Z', 'to'],
    ['/api/v1/compliance/export?to=2026-06-30T23:59:60Z', 'to'],
    ['/api/v1/compliance/verify?from=0000-01-01T00:00:00Z', 'from'],
    ['/api/v1/audit-events', 'resourceId'],
    ['/api/v1/audit-events?resourceId=%00', 'resourceId'],
    ['/api/v1/audit-events?resourceId=x&limit=0', 'limit'],
    ['/api/v1/audit-events?resourceId=x&limit=1e309', 'limit'],
    ['/api/v1/audit-events?resourceId=x&after=abc', 'after'],
  ])('answers 400 naming the field for %s', async (url, field) => {
    const response = await api.app.inject({ url, headers: admin });
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().error.code).toBe('VALIDATION_FAILED');
    expect(response.json().error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
  });
});

describe('key rotation', () => {
  let rotationApi: TestApi;
  beforeAll(async () => {
    rotationApi = await startTestApi({ ADMIN_API_KEYS: ADMIN_KEY });
  });
  afterAll(async () => {
    await rotationApi?.close();
  });

  it('verifies a chain signed by a retired and a current key; names the key when the retired one is dropped', async () => {
    const oldSecret = rotationApi.config.audit.hmacSecret!;
    const newSecret = `${'n'.repeat(32)}-${randomName('rotated')}`;
    const create = (app: typeof rotationApi.app, key: string) =>
      app.inject({ method: 'POST', url: '/api/v1/flags', headers: admin, payload: { key, defaultValue: 0, value: 1 } });
    await create(rotationApi.app, randomName('before-rotation'));
    const rotatedConfig = { ...rotationApi.config, audit: { hmacSecret: newSecret, previousHmacSecrets: [oldSecret] } };
    const rotated = await createQueryApi(rotatedConfig, { database: rotationApi.database, dynamo: rotationApi.dynamo });
    const forgetful = await createQueryApi(
      { ...rotationApi.config, audit: { hmacSecret: newSecret, previousHmacSecrets: [] } },
      { database: rotationApi.database, dynamo: rotationApi.dynamo },
    );
    try {
      expect((await create(rotated, randomName('after-rotation'))).statusCode).toBe(201);
      const report = (await rotated.inject({ url: '/api/v1/compliance/verify', headers: admin })).json();
      expect(report).toMatchObject({ ok: true, events: 2 });
      expect(report.keyIds).toHaveLength(2);
      const missingKey = (await forgetful.inject({ url: '/api/v1/compliance/verify', headers: admin })).json();
      expect(missingKey).toMatchObject({ ok: false, firstFailure: { problem: 'unknown-key', position: 1 } });
      expect(missingKey.failures).toHaveLength(1);
    } finally {
      await Promise.all([rotated.close(), forgetful.close()]);
    }
  });
});
