/**
 * PostgreSQL state of the monitor (migration 3):
 *
 *   monitor_alerts          one row per (experiment, condition) while the alert fires: inserted
 *                           when it fired and was delivered, deleted when it cleared and that
 *                           was delivered; deleted with the experiment (ON DELETE CASCADE)
 *   monitor_pipeline_alerts one row per (scope, condition) while a pipeline-health alert fires;
 *                           scope `pipeline` (PIPELINE_SCOPE): told once, not per experiment
 *   monitor_health_samples  the processors' dead-letter counter at each run, kept for one
 *                           window, so growth over the window survives restarts (and Lambda)
 *
 * and the run lock: `pg_try_advisory_lock` (per schema), so two monitors (a Lambda retry, `npm run monitor`
 * beside `npm start` on PostgreSQL) never evaluate and send the same transition twice. The lock
 * holds a connection of its own for the run; a monitor inside the query API on the embedded
 * database (a pool of one, MONITOR_IN_PROCESS) is the only runner and uses `createInProcessRunLock`.
 */
import type pg from 'pg';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import type { Database } from '../db/database.js';
import { databaseError } from '../definitions/definition-store.js';
import type { FiringAlert } from './alert-conditions.js';

/** A fixed key for the monitor's run lock (migrations use another). */
const MONITOR_LOCK_KEY = 42_170_014;
/** The scope of pipeline-health alerts in `monitor_pipeline_alerts`. */
export const PIPELINE_SCOPE = 'pipeline';

/** Keeps two runs from evaluating and sending the same transitions. */
export interface RunLock {
  /** Runs `work` if no other run holds the lock; resolves `undefined` at once when one does. */
  withRunLock<T>(work: () => Promise<T>): Promise<T | undefined>;
}

export interface HealthSample {
  sampledAt: Date;
  deadLetters: number;
}

export interface AlertStateStore {
  /** Definitions of every running experiment, by key. */
  runningExperiments(): Promise<ExperimentDefinition[]>;
  /** Firing alerts of each experiment. */
  firing(experimentIds: readonly string[]): Promise<Map<string, FiringAlert[]>>;
  recordFired(experimentId: string, alert: FiringAlert): Promise<void>;
  recordCleared(experimentId: string, condition: string): Promise<void>;
  /** Firing pipeline-health alerts (scope PIPELINE_SCOPE). */
  pipelineFiring(): Promise<FiringAlert[]>;
  recordPipelineFired(alert: FiringAlert): Promise<void>;
  recordPipelineCleared(condition: string): Promise<void>;
  /** Removes the alert state of experiments that are no longer running (nothing is sent). */
  forgetNotRunning(): Promise<number>;
  /** Stores this run's sample, drops samples older than `keepAfter`, returns those kept (oldest first). */
  recordHealthSample(sample: HealthSample, keepAfter: Date): Promise<HealthSample[]>;
  /**
   * Runs `work` holding the monitor's advisory lock on a connection of its own (so the pool
   * needs two); resolves `undefined` at once when another monitor holds it.
   */
  withRunLock<T>(work: () => Promise<T>): Promise<T | undefined>;
}

/**
 * The run lock of a monitor that is the only runner of its database: the loop inside the
 * query API on the embedded database (MONITOR_IN_PROCESS). No connection is held (the query
 * API's pool has one, which the run itself needs; and PGlite's single session would grant an
 * advisory lock to every "connection" anyway): it only keeps two runs of this process apart.
 *
 * @example const lock = createInProcessRunLock(); await lock.withRunLock(run); // undefined while a run is going on
 */
export function createInProcessRunLock(): RunLock {
  let running = false;
  return {
    async withRunLock(work) {
      if (running) return undefined;
      running = true;
      try {
        return await work();
      } finally {
        running = false;
      }
    },
  };
}

const guard = async <T>(operation: () => Promise<T>): Promise<T> => {
  try {
    return await operation();
  } catch (error) {
    throw databaseError(error);
  }
};

/** The monitor's state over the writer pool (it reads what it just wrote). */
export function createAlertStateStore(db: Database): AlertStateStore {
  const pool = db.writer;
  return {
    runningExperiments: () =>
      guard(async () => {
        const { rows } = await pool.query<{ definition: ExperimentDefinition }>(
          `SELECT definition FROM experiments WHERE definition->>'status' = 'running' ORDER BY key`,
        );
        return rows.map((row) => row.definition);
      }),
    firing: (experimentIds) =>
      guard(async () => {
        const { rows } = await pool.query<{
          experiment_key: string;
          condition: string;
          fired_at: Date;
          detail: Record<string, unknown>;
        }>(
          `SELECT experiment_key, condition, fired_at, detail FROM monitor_alerts
            WHERE experiment_key = ANY($1::text[]) ORDER BY experiment_key, condition`,
          [experimentIds],
        );
        const byExperiment = new Map<string, FiringAlert[]>(experimentIds.map((id) => [id, []]));
        for (const row of rows) {
          byExperiment
            .get(row.experiment_key)
            ?.push({ condition: row.condition, firedAt: row.fired_at, detail: row.detail });
        }
        return byExperiment;
      }),
    recordFired: (experimentId, alert) =>
      guard(async () => {
        await pool.query(
          `INSERT INTO monitor_alerts (experiment_key, condition, fired_at, detail) VALUES ($1, $2, $3, $4)
           ON CONFLICT (experiment_key, condition) DO NOTHING`,
          [experimentId, alert.condition, alert.firedAt, JSON.stringify(alert.detail)],
        );
      }),
    recordCleared: (experimentId, condition) =>
      guard(async () => {
        await pool.query('DELETE FROM monitor_alerts WHERE experiment_key = $1 AND condition = $2', [
          experimentId,
          condition,
        ]);
      }),
    pipelineFiring: () =>
      guard(async () => {
        const { rows } = await pool.query<{ condition: string; fired_at: Date; detail: Record<string, unknown> }>(
          'SELECT condition, fired_at, detail FROM monitor_pipeline_alerts WHERE scope = $1 ORDER BY condition',
          [PIPELINE_SCOPE],
        );
        return rows.map((row) => ({ condition: row.condition, firedAt: row.fired_at, detail: row.detail }));
      }),
    recordPipelineFired: (alert) =>
      guard(async () => {
        await pool.query(
          `INSERT INTO monitor_pipeline_alerts (scope, condition, fired_at, detail) VALUES ($1, $2, $3, $4)
           ON CONFLICT (scope, condition) DO NOTHING`,
          [PIPELINE_SCOPE, alert.condition, alert.firedAt, JSON.stringify(alert.detail)],
        );
      }),
    recordPipelineCleared: (condition) =>
      guard(async () => {
        await pool.query('DELETE FROM monitor_pipeline_alerts WHERE scope = $1 AND condition = $2', [
          PIPELINE_SCOPE,
          condition,
        ]);
      }),
    forgetNotRunning: () =>
      guard(async () => {
        const result = await pool.query(
          `DELETE FROM monitor_alerts a USING experiments e
            WHERE a.experiment_key = e.key AND e.definition->>'status' <> 'running'`,
        );
        return result.rowCount ?? 0;
      }),
    recordHealthSample: (sample, keepAfter) =>
      guard(async () => {
        await pool.query(
          `INSERT INTO monitor_health_samples (sampled_at, dead_letters) VALUES ($1, $2)
           ON CONFLICT (sampled_at) DO UPDATE SET dead_letters = EXCLUDED.dead_letters`,
          [sample.sampledAt, sample.deadLetters],
        );
        await pool.query('DELETE FROM monitor_health_samples WHERE sampled_at < $1', [keepAfter]);
        const { rows } = await pool.query<{ sampled_at: Date; dead_letters: number }>(
          'SELECT sampled_at, dead_letters FROM monitor_health_samples ORDER BY sampled_at',
        );
        return rows.map((row) => ({ sampledAt: row.sampled_at, deadLetters: row.dead_letters }));
      }),
    async withRunLock(work) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw databaseError(error);
      }
      try {
        const { rows } = await client.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_lock($1, hashtext(current_schema())) AS locked',
          [MONITOR_LOCK_KEY],
        );
        if (!rows[0]?.locked) return undefined;
        try {
          return await work();
        } finally {
          await client
            .query('SELECT pg_advisory_unlock($1, hashtext(current_schema()))', [MONITOR_LOCK_KEY])
            .catch(() => undefined);
        }
      } finally {
        client.release();
      }
    },
  };
}
