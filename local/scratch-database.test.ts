import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { startScratchDatabase } from './scratch-database.js';

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('startScratchDatabase (real PostgreSQL)', () => {
  it('gives a run a schema of its own on DATABASE_URL and drops it on stop', async () => {
    const base = inject('postgresUrl');
    const scratch = await startScratchDatabase(base, 'scratch_test');
    expect(scratch.schema).toMatch(/^scratch_test_[0-9a-f]{8}$/);
    const [path] = await query<{ search_path: string }>(scratch.url, 'SHOW search_path');
    expect(path?.search_path).toBe(scratch.schema);
    await query(scratch.url, 'CREATE TABLE only_here (id int)');
    const schemas = (sql: string) => query<{ schema_name: string }>(base, sql);
    const find = `SELECT schema_name FROM information_schema.schemata WHERE schema_name = '${scratch.schema}'`;
    expect(await schemas(find)).toHaveLength(1);
    await scratch.stop();
    expect(await schemas(find)).toHaveLength(0);
  });
});
