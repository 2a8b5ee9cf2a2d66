/**
 * `npm start`'s embedded PostgreSQL (PGlite over the pg wire) under concurrent writes, through
 * the real query API: every request answered, every audit event in one unbroken chain.
 */
import { afterEach, expect, it } from 'vitest';
import { createDynamoClient } from '../common/aws-clients.js';
import { createQueryApi } from '../query-api/app.js';
import { createDatabase } from '../query-api/db/database.js';
import { runMigrations } from '../query-api/db/migrations.js';
import { experimentBody } from '../query-api/test-support/test-app.js';
import { embeddedDatabaseEnv, startEmbeddedPostgres } from './embedded-postgres.js';
import { testConfig } from './test-support/test-config.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it(
  'embedded PostgreSQL with npm start’s settings: 30 concurrent creations all succeed, 30 audit events in one chain',
  { timeout: 60_000 },
  async () => {
    const postgres = await startEmbeddedPostgres();
    cleanups.push(() => postgres.stop());
    const config = testConfig(embeddedDatabaseEnv(postgres.url, {}));
    expect(config.database.poolSize + config.database.maxOverflow).toBe(1);
    const database = createDatabase(config.database);
    cleanups.push(() => database.close());
    await runMigrations(database.writer);
    const dynamo = createDynamoClient(config); // not called by these routes
    cleanups.push(() => Promise.resolve(dynamo.destroy()));
    const app = await createQueryApi(config, { database, dynamo });
    cleanups.push(() => app.close());
    await app.ready();

    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        app.inject({ method: 'POST', url: '/api/v1/experiments', payload: experimentBody(`concurrent-${i}`) }),
      ),
    );
    expect(answers.map((answer) => answer.statusCode)).toEqual(Array.from({ length: 30 }, () => 201));
    const { rows } = await database.writer.query<{ events: string; first: string; last: string }>(
      'SELECT count(*) AS events, min(position) AS first, max(position) AS last FROM audit_events',
    );
    expect(rows[0]).toEqual({ events: '30', first: '1', last: '30' });
  },
);

it('keeps pool settings the caller chose', () => {
  expect(embeddedDatabaseEnv('postgres://x', { DATABASE_POOL_SIZE: '4', DATABASE_MAX_OVERFLOW: '2' })).toEqual({
    DATABASE_URL: 'postgres://x',
    DATABASE_POOL_SIZE: '4',
    DATABASE_MAX_OVERFLOW: '2',
  });
});
