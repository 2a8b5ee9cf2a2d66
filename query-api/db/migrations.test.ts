import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../local/test-support/test-config.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../local/embedded-postgres.js';
import { createTestSchema, type TestSchema } from '../../local/test-support/test-schema.js';
import { createDatabase, type Database } from './database.js';
import { MIGRATIONS, runMigrations } from './migrations.js';

const config = testConfig();

async function tablesIn(db: Database): Promise<string[]> {
  const { rows } = await db.writer.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`,
  );
  return rows.map((row) => row.table_name);
}

describe('migrations on the machine PostgreSQL', () => {
  let schema: TestSchema;
  let db: Database;
  beforeAll(async () => {
    schema = await createTestSchema();
    db = createDatabase(config.database, { url: schema.url });
  });
  afterAll(async () => {
    await db.close();
    await schema.drop();
  });

  it('applies every migration once, in order, and records it', async () => {
    expect(await runMigrations(db.writer)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await runMigrations(db.writer)).toEqual([]);
    expect(await tablesIn(db)).toEqual([
      'audit_chain_head',
      'audit_events',
      'experiments',
      'flags',
      'monitor_alerts',
      'monitor_health_samples',
      'monitor_pipeline_alerts',
      'result_snapshots',
      'schema_migrations',
      'sdk_connections',
    ]);
  });

  it('applies a new migration appended later, and concurrent runs apply it exactly once', async () => {
    const next = [...MIGRATIONS, { version: 99, name: 'test column', sql: 'ALTER TABLE flags ADD COLUMN note text' }];
    const outcomes = await Promise.all([runMigrations(db.writer, next), runMigrations(db.writer, next)]);
    expect(outcomes.flat()).toEqual([99]);
  });

  it('rolls back a failing migration and names it', async () => {
    const broken = [...MIGRATIONS, { version: 100, name: 'broken', sql: 'CREATE TABLE x (id int); SELECT nope' }];
    await expect(runMigrations(db.writer, broken)).rejects.toThrow(/migration 100 \(broken\) failed/);
    expect(await tablesIn(db)).not.toContain('x');
  });
});

describe('embedded PostgreSQL (PGlite over the pg wire)', () => {
  let embedded: EmbeddedPostgres;
  let db: Database;
  beforeAll(async () => {
    embedded = await startEmbeddedPostgres();
    db = createDatabase(config.database, { url: embedded.url });
    // PGlite compiles its WASM PostgreSQL at start: seconds on a quiet machine, more on a busy one.
  }, 120_000);
  afterAll(async () => {
    await db.close();
    await embedded.stop();
  });

  it('serves pg clients and runs the migrations', async () => {
    expect(embedded.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    expect(await runMigrations(db.writer)).toEqual(MIGRATIONS.map((m) => m.version));
    await db.writer.query(`INSERT INTO flags (key, definition) VALUES ($1, $2)`, ['f1', { key: 'f1' }]);
    const { rows } = await db.reader.query<{ definition: { key: string } }>('SELECT definition FROM flags');
    expect(rows).toEqual([{ definition: { key: 'f1' } }]);
  });
});

describe('pool settings and read routing', () => {
  it('sizes the pool as pool size + overflow with the pool timeout', async () => {
    const database = createDatabase(
      { ...config.database, poolSize: 3, maxOverflow: 2, poolTimeoutMs: 1500 },
      {
        url: 'postgres://127.0.0.1:1/none',
      },
    );
    expect(database.writer.options.max).toBe(5);
    expect(database.writer.options.connectionTimeoutMillis).toBe(1500);
    expect(database.usesReplica).toBe(false);
    expect(database.reader).toBe(database.writer);
    await database.close();
  });
});
