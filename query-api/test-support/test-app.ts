/**
 * Test support: a query API wired to real services — a fresh PostgreSQL schema
 * (migrated), a fresh counters table in the run's dynalite — driven with `app.inject()`.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Config } from '../../common/config.js';
import { createDynamoClient } from '../../common/aws-clients.js';
import { ensureCountersTable } from '../../local/provision.js';
import { testConfig } from '../../local/test-support/test-config.js';
import { createQueryApi, type QueryApiDeps } from '../app.js';
import type { QueryApiInstance } from '../context.js';
import { createDatabase, type Database } from '../db/database.js';
import { runMigrations } from '../db/migrations.js';
import { createTestSchema, type TestSchema } from '../../local/test-support/test-schema.js';

export interface TestApi {
  app: QueryApiInstance;
  config: Config;
  database: Database;
  dynamo: DynamoDBClient;
  schema: TestSchema;
  close(): Promise<void>;
}

/** Starts a query API on a fresh schema and table; `env` overrides configuration variables. */
export async function startTestApi(
  env: Record<string, string> = {},
  deps: Partial<QueryApiDeps> = {},
): Promise<TestApi> {
  const schema = await createTestSchema();
  const config = testConfig({ DATABASE_URL: schema.url, ...env });
  const database = deps.database ?? createDatabase(config.database);
  await runMigrations(database.writer);
  const dynamo = createDynamoClient(config);
  await ensureCountersTable(dynamo, config.dynamodb.countersTable);
  const app = await createQueryApi(config, { database, dynamo, ...deps });
  await app.ready();
  return {
    app,
    config,
    database,
    dynamo,
    schema,
    async close() {
      await app.close();
      await database.close();
      dynamo.destroy();
      await schema.drop();
    },
  };
}

/** A valid experiment create request; override fields per test. */
export function experimentBody(key: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    key,
    name: `Experiment ${key}`,
    variants: [
      { id: 'control', weight: 0.5 },
      { id: 'treatment', weight: 0.5, url: '/landing-b' },
    ],
    controlVariantId: 'control',
    metrics: [
      { key: 'signup', type: 'binomial' },
      { key: 'revenue', type: 'mean' },
    ],
    segmentDimensions: ['country', 'device'],
    ...overrides,
  };
}
