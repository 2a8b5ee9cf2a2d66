/**
 * Test support: a fresh PostgreSQL schema per test file on the machine's PostgreSQL,
 * reached through `search_path` in the connection string, dropped afterwards.
 */
import pg from 'pg';
import { inject } from 'vitest';
import { schemaScopedUrl } from '../scratch-database.js';
import { randomName } from './test-config.js';

export interface TestSchema {
  /** Connection string whose sessions use only this schema. */
  readonly url: string;
  readonly schema: string;
  drop(): Promise<void>;
}

/** Creates a random schema and returns a connection string scoped to it. */
export async function createTestSchema(prefix = 'qa'): Promise<TestSchema> {
  const base = inject('postgresUrl');
  const schema = randomName(prefix).replace(/-/g, '_');
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  return {
    url: schemaScopedUrl(base, schema),
    schema,
    async drop() {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
}
