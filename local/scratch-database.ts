/**
 * A PostgreSQL of its own for a one-off run (benchmarks, the screenshot script): a fresh
 * schema on `DATABASE_URL`, reached through `search_path` in the connection string and dropped
 * by `stop()`, or the embedded PGlite when no `DATABASE_URL` is set. Two runs, or a run and
 * the tests, never migrate the same schema.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres } from './embedded-postgres.js';

export interface ScratchDatabase {
  /** Connection string whose sessions see only this database (schema). */
  readonly url: string;
  /** The schema on `DATABASE_URL`; undefined for the embedded database. */
  readonly schema?: string;
  /** Drops the schema, or stops the embedded database. */
  stop(): Promise<void>;
}

/**
 * `base` with every session's `search_path` set to `schema`.
 *
 * @example schemaScopedUrl('postgres://postgres@127.0.0.1/test', 'bench_ui_1a2b') // …/test?options=-c+search_path%3Dbench_ui_1a2b
 */
export function schemaScopedUrl(base: string, schema: string): string {
  const scoped = new URL(base);
  scoped.searchParams.set('options', `-c search_path=${schema}`);
  return scoped.toString();
}

async function runStatement(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Starts a scratch database: a schema named `<prefix>_<8 hex digits>` on `databaseUrl`, or
 * the embedded PGlite when `databaseUrl` is undefined.
 *
 * @example
 *   const database = await startScratchDatabase(config.database.url, 'bench_ui');
 *   // … DATABASE_URL: database.url …
 *   await database.stop();
 */
export async function startScratchDatabase(databaseUrl: string | undefined, prefix: string): Promise<ScratchDatabase> {
  if (!databaseUrl) {
    const embedded = await startEmbeddedPostgres();
    return { url: embedded.url, stop: () => embedded.stop() };
  }
  const schema = `${prefix}_${randomBytes(4).toString('hex')}`;
  await runStatement(databaseUrl, `CREATE SCHEMA ${schema}`);
  return {
    url: schemaScopedUrl(databaseUrl, schema),
    schema,
    stop: () => runStatement(databaseUrl, `DROP SCHEMA IF EXISTS ${schema} CASCADE`),
  };
}
