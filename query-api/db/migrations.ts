/**
 * Versioned schema migrations, applied in order at start-up and by `npm run migrate`.
 * Each migration runs in its own transaction together with its row in
 * `schema_migrations`; an advisory lock makes concurrent starts (several Fargate tasks)
 * apply each migration exactly once. Never edit a released migration: append a new one.
 */
import type pg from 'pg';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'experiments and flags',
    sql: `
      CREATE TABLE experiments (
        key        text PRIMARY KEY,
        definition jsonb NOT NULL,
        version    integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX experiments_status ON experiments ((definition->>'status'));
      CREATE TABLE flags (
        key        text PRIMARY KEY,
        definition jsonb NOT NULL,
        version    integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );`,
  },
  {
    version: 2,
    name: 'audit trail',
    // One row per event, in chain order (query-api/audit). audit_chain_head's single row is
    // the chain's last position and signature; writers lock it (FOR UPDATE) to append.
    sql: `
      CREATE TABLE audit_events (
        position           bigint PRIMARY KEY,
        id                 uuid NOT NULL UNIQUE,
        occurred_at        timestamptz NOT NULL,
        format_version     smallint NOT NULL,
        key_id             text NOT NULL,
        actor_type         text NOT NULL,
        actor_id           text NOT NULL,
        actor_username     text,
        source_ip          text,
        request_id         text,
        action             text NOT NULL,
        resource_type      text NOT NULL,
        resource_id        text NOT NULL,
        change             jsonb NOT NULL,
        previous_signature text NOT NULL,
        signature          text NOT NULL
      );
      CREATE INDEX audit_events_time ON audit_events (occurred_at, position);
      CREATE INDEX audit_events_resource ON audit_events (resource_id, position);
      CREATE TABLE audit_chain_head (
        id          smallint PRIMARY KEY CHECK (id = 1),
        position    bigint NOT NULL,
        signature   text NOT NULL,
        occurred_at timestamptz
      );
      INSERT INTO audit_chain_head (id, position, signature) VALUES (1, 0, repeat('0', 64));`,
  },
  {
    version: 3,
    name: 'results history and alert state',
    // query-api/monitor: one snapshot per experiment, metric and interval (bucket_start), and
    // the alerts that are firing (a row while firing). Both go with their experiment.
    // monitor_health_samples: the processors' dead-letter count per run, kept for one window.
    // monitor_pipeline_alerts: pipeline-health alerts firing (one row per scope and condition,
    // scope 'pipeline'): told once for the pipeline, not once per experiment.
    sql: `
      CREATE TABLE result_snapshots (
        experiment_key text NOT NULL REFERENCES experiments (key) ON DELETE CASCADE,
        metric_key     text NOT NULL,
        bucket_start   timestamptz NOT NULL,
        taken_at       timestamptz NOT NULL,
        variants       jsonb NOT NULL,
        PRIMARY KEY (experiment_key, metric_key, bucket_start)
      );
      CREATE TABLE monitor_alerts (
        experiment_key text NOT NULL REFERENCES experiments (key) ON DELETE CASCADE,
        condition      text NOT NULL,
        fired_at       timestamptz NOT NULL,
        detail         jsonb NOT NULL,
        PRIMARY KEY (experiment_key, condition)
      );
      CREATE TABLE monitor_health_samples (
        sampled_at   timestamptz PRIMARY KEY,
        dead_letters double precision NOT NULL
      );
      CREATE TABLE monitor_pipeline_alerts (
        scope     text NOT NULL,
        condition text NOT NULL,
        fired_at  timestamptz NOT NULL,
        detail    jsonb NOT NULL,
        PRIMARY KEY (scope, condition)
      );`,
  },
  {
    version: 4,
    name: 'sdk connections',
    // query-api/sdk: one public client key per GrowthBook SDK connection (GET /api/features/{clientKey}).
    sql: `
      CREATE TABLE sdk_connections (
        id          text PRIMARY KEY,
        name        text NOT NULL,
        environment text NOT NULL,
        client_key  text NOT NULL UNIQUE,
        created_at  timestamptz NOT NULL DEFAULT now(),
        rotated_at  timestamptz
      );`,
  },
];

/** An arbitrary but fixed key for pg_advisory_lock, shared by every instance of the service. */
const MIGRATION_LOCK_KEY = 42_170_004;

/**
 * Applies every migration newer than the database's version; returns the versions
 * applied (empty when up to date). Safe to run concurrently from several processes.
 */
export async function runMigrations(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((row) => row.version));
    const pending = [...migrations].sort((a, b) => a.version - b.version).filter((m) => !applied.has(m.version));
    for (const migration of pending) {
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
          migration.version,
          migration.name,
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.version} (${migration.name}) failed`, { cause: error });
      }
    }
    return pending.map((m) => m.version);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}
