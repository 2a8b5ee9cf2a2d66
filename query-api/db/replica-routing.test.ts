/**
 * Read/write routing with DATABASE_REPLICA_URL: the "replica" is a second schema on the
 * machine's PostgreSQL, so the test can see which pool served each statement.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../../local/test-support/test-config.js';
import { createAuditKeyRing } from '../audit/audit-keys.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { seedAuditChain } from '../test-support/audit-chain.js';
import { createTestSchema, type TestSchema } from '../../local/test-support/test-schema.js';
import { createDatabase, type Database } from './database.js';
import { runMigrations } from './migrations.js';

let replica: TestSchema;
let replicaDb: Database;
let api: TestApi;
beforeAll(async () => {
  replica = await createTestSchema('replica');
  replicaDb = createDatabase({ poolSize: 2, maxOverflow: 0, poolTimeoutMs: 5_000 }, { url: replica.url });
  await runMigrations(replicaDb.writer);
  api = await startTestApi({ DATABASE_REPLICA_URL: replica.url });
});
afterAll(async () => {
  await api.close();
  await replicaDb.close();
  await replica.drop();
});

describe('DATABASE_REPLICA_URL routing', () => {
  it('uses a separate reader pool', () => {
    expect(api.database.usesReplica).toBe(true);
    expect(api.database.reader).not.toBe(api.database.writer);
  });

  it('writes to the primary and reads from the replica', async () => {
    const key = randomName('routed');
    const created = await api.app.inject({ method: 'POST', url: '/api/v1/experiments', payload: experimentBody(key) });
    expect(created.statusCode).toBe(201);
    const primaryRows = await api.database.writer.query('SELECT key FROM experiments WHERE key = $1', [key]);
    expect(primaryRows.rowCount).toBe(1);
    // The replica has not "caught up": reads go there, so the experiment is not visible yet.
    expect((await api.app.inject({ url: `/api/v1/experiments/${key}` })).statusCode).toBe(404);

    await replicaDb.writer.query('INSERT INTO experiments (key, definition) VALUES ($1, $2)', [
      key,
      { ...created.json<object>(), name: 'as replicated' },
    ]);
    const read = await api.app.inject({ url: `/api/v1/experiments/${key}` });
    expect(read.json().name).toBe('as replicated');
    const list = await api.app.inject({ url: `/api/v1/experiments?after=${key.slice(0, -1)}` });
    expect(list.json().items.map((item: { name: string }) => item.name)).toContain('as replicated');
  });

  it('reads the audit trail (export, verify, history) from the replica; writes it on the primary', async () => {
    const key = randomName('audit-routed');
    await api.app.inject({ method: 'POST', url: '/api/v1/experiments', payload: experimentBody(key) });
    const onPrimary = await api.database.writer.query('SELECT action FROM audit_events WHERE resource_id = $1', [key]);
    expect(onPrimary.rows).toEqual([{ action: 'experiment.created' }]);
    // The replica has not caught up: the export and the history are empty, the (empty) chain verifies.
    expect((await api.app.inject({ url: '/api/v1/compliance/export' })).body).toBe('');
    expect((await api.app.inject({ url: `/api/v1/audit-events?resourceId=${key}` })).json().items).toEqual([]);
    expect((await api.app.inject({ url: '/api/v1/compliance/verify' })).json()).toMatchObject({ ok: true, events: 0 });

    await seedAuditChain(replicaDb.writer, createAuditKeyRing(api.config.audit.hmacSecret!), 2);
    const exported = (await api.app.inject({ url: '/api/v1/compliance/export' })).body.trimEnd().split('\n');
    expect(exported.map((line) => JSON.parse(line).resource.id)).toEqual(['seeded-0', 'seeded-1']);
    expect((await api.app.inject({ url: '/api/v1/compliance/verify' })).json()).toMatchObject({ ok: true, events: 2 });
  });

  it('patches on the primary (read-modify-write never uses the replica)', async () => {
    const key = randomName('patched');
    await api.app.inject({ method: 'POST', url: '/api/v1/experiments', payload: experimentBody(key) });
    const patched = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/experiments/${key}`,
      payload: { status: 'running' },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ key, status: 'running', name: `Experiment ${key}` });
  });
});
