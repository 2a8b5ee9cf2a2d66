/**
 * The monitor job: one run reads the pipeline's health and tells once, for the whole
 * pipeline, which health alerts started or stopped firing; then, for every running
 * experiment, computes the results (the same code as `GET …/results`), records a snapshot for
 * the current interval, evaluates the experiment's alert conditions against the state in
 * PostgreSQL and tells the channels what started or stopped firing. Runs never overlap (a
 * PostgreSQL advisory lock, or in the query API's process its in-process lock); a run that
 * finds the lock taken does nothing.
 *
 *   processors /metrics ─▶ health (dead-letter growth over the window, lag, STATE_LOST)
 *          └─▶ evaluatePipelineAlerts(health, firing) ─▶ Slack default channel, ALERT_EMAIL_TO (else all owners)
 *                                                          └─▶ monitor_pipeline_alerts
 *   experiments (running) ─▶ results (DynamoDB counters) ─▶ result_snapshots (upsert per interval)
 *                                      └─▶ evaluateAlerts(results, firing) ─▶ fired / cleared (SRM, guardrails)
 *                                            └─▶ Slack, email ─▶ monitor_alerts (state recorded once delivered)
 *
 * Delivery is at least once: a transition is recorded only after every channel accepted it
 * (or refused it for good: a `4xx` that retrying cannot fix is logged and not retried); when a
 * channel still fails after its retries the transition stays pending and the next run sends
 * it again.
 *
 * @example
 *   const monitor = createMonitor(settingsFromConfig(config), { database, dynamo, channels, healthSource, logger });
 *   const report = await monitor.runOnce();
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Config } from '../../common/config.js';
import { isPipelineError } from '../../common/errors.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import type { Logger } from '../../common/logger.js';
import type { Database } from '../db/database.js';
import { computeExperimentResults } from '../results/results-service.js';
import { experimentRecipients, pipelineRecipients, type AlertChannel, type AlertRecipients } from './alert-channel.js';
import {
  evaluateAlerts,
  evaluatePipelineAlerts,
  kindOf,
  type AlertEvaluation,
  type ActiveCondition,
  type AlertThresholds,
  type FiringAlert,
  type PipelineHealth,
} from './alert-conditions.js';
import { experimentsPageUrl, resultsPageUrl, type AlertNotice } from './alert-messages.js';
import { createAlertStateStore, type AlertStateStore, type RunLock } from './alert-state-store.js';
import { counterIncrease } from './pipeline-health.js';
import type { ProcessorHealthSource } from './processor-health-source.js';
import { snapshotBucketStart, snapshotsFromResults } from './result-snapshot.js';
import { createSnapshotStore, type SnapshotStore } from './snapshot-store.js';

/** What the monitor needs to know, from configuration. */
export interface MonitorSettings extends AlertThresholds {
  countersTable: string;
  snapshotIntervalMs: number;
  /** Base of the results-page links (`<base>/ui/experiments/<key>`). */
  resultsBaseUrl: string;
  /** Recipients of pipeline-health emails (ALERT_EMAIL_TO); empty: every running experiment's owners. */
  alertEmailTo: readonly string[];
  /**
   * Overrides of the analysis the snapshots and conditions use; empty: each definition's own
   * settings, i.e. what `GET …/results` shows without query parameters.
   */
  analysis: { alpha?: number; sequential?: boolean };
}

export interface MonitorDeps {
  database: Database;
  dynamo: DynamoDBClient;
  channels: readonly AlertChannel[];
  healthSource: ProcessorHealthSource;
  logger: Logger;
  now?: () => Date;
  /**
   * Keeps runs apart; default the PostgreSQL advisory lock (a connection of its own). The
   * loop inside the query API (MONITOR_IN_PROCESS) passes `createInProcessRunLock()`.
   */
  runLock?: RunLock;
}

/** One transition and what became of it. */
export interface TransitionOutcome {
  /** `pipeline`: a health alert, told once for the pipeline (no experimentId). */
  scope: 'experiment' | 'pipeline';
  experimentId?: string;
  condition: string;
  transition: 'fired' | 'cleared';
  /** `delivered`: recorded; `pending`: a channel failed, the next run tries again. */
  outcome: 'delivered' | 'pending';
}

/** What one run did. */
export interface MonitorRunReport {
  /** False when another monitor held the lock (this run did nothing). */
  ran: boolean;
  experiments: number;
  snapshots: number;
  health: PipelineHealth;
  transitions: TransitionOutcome[];
  /** Experiments whose results could not be computed this run. */
  failures: { experimentId: string; message: string }[];
}

export interface Monitor {
  runOnce(): Promise<MonitorRunReport>;
}

/** No overrides: every experiment is analysed with its own settings (default alpha 0.05, sequential). */
export const MONITOR_ANALYSIS = Object.freeze({});

/** Monitor settings from the configuration (PUBLIC_BASE_URL, else the query API's own address). */
export function monitorSettingsFromConfig(config: Pick<Config, 'monitor' | 'queryApi' | 'dynamodb'>): MonitorSettings {
  const host = config.queryApi.host === '0.0.0.0' ? '127.0.0.1' : config.queryApi.host;
  return {
    countersTable: config.dynamodb.countersTable,
    snapshotIntervalMs: config.monitor.snapshotIntervalMs,
    resultsBaseUrl: config.monitor.publicBaseUrl ?? `http://${host}:${config.queryApi.port}`,
    alertEmailTo: config.monitor.sendgrid.to,
    deadLetterThreshold: config.monitor.deadLetterThreshold,
    deadLetterWindowMs: config.monitor.deadLetterWindowMs,
    lagThresholdMs: config.monitor.lagThresholdMs,
    analysis: MONITOR_ANALYSIS,
  };
}

const UNKNOWN_HEALTH: PipelineHealth = { deadLetterGrowth: null, lagMs: null, stateLost: null };

/** Creates the monitor; nothing runs until `runOnce()`. */
export function createMonitor(
  settings: MonitorSettings,
  deps: MonitorDeps,
  stores: { alerts?: AlertStateStore; snapshots?: SnapshotStore } = {},
): Monitor {
  const now = deps.now ?? (() => new Date());
  const alerts = stores.alerts ?? createAlertStateStore(deps.database);
  const snapshots = stores.snapshots ?? createSnapshotStore(deps.database);
  const runLock: RunLock = deps.runLock ?? alerts;
  let healthProblem: string | undefined;

  async function readHealth(at: Date): Promise<PipelineHealth> {
    const { reading, error } = await deps.healthSource.read();
    if (!reading) {
      if (error !== undefined && error !== healthProblem) {
        deps.logger.warn({ reason: error }, 'monitor: pipeline health unavailable');
      }
      healthProblem = error;
      return UNKNOWN_HEALTH;
    }
    if (healthProblem !== undefined) deps.logger.info('monitor: pipeline health readable again');
    healthProblem = undefined;
    let deadLetterGrowth = reading.deadLetterGrowth ?? null;
    if (reading.deadLetters !== undefined) {
      const samples = await alerts.recordHealthSample(
        { sampledAt: at, deadLetters: reading.deadLetters },
        new Date(at.getTime() - settings.deadLetterWindowMs),
      );
      deadLetterGrowth = counterIncrease(samples.map((sample) => sample.deadLetters));
    }
    return { deadLetterGrowth, lagMs: reading.lagMs, stateLost: reading.stateLost };
  }

  /** Sends a notice to every channel; true when it needs no resending. */
  async function deliver(notice: AlertNotice, recipients: AlertRecipients): Promise<boolean> {
    let done = true;
    const about = { experimentId: notice.experiment?.key ?? 'pipeline', condition: notice.condition };
    for (const channel of deps.channels) {
      try {
        const outcome = await channel.deliver(notice, recipients);
        deps.logger.info({ ...about, channel: channel.name, outcome }, `monitor: alert ${notice.transition}`);
      } catch (error) {
        const permanent = isPipelineError(error) && !error.retriable;
        deps.logger.error(
          { err: error, ...about, channel: channel.name },
          permanent
            ? 'monitor: the channel refused the alert for good (not resent)'
            : 'monitor: alert delivery failed; the next run sends it again',
        );
        if (!permanent) done = false;
      }
    }
    return done;
  }

  async function monitorExperiment(
    definition: ExperimentDefinition,
    firing: readonly FiringAlert[],
    at: Date,
    report: MonitorRunReport,
  ): Promise<void> {
    const results = await computeExperimentResults(
      { dynamo: deps.dynamo, countersTable: settings.countersTable, now: () => at },
      { definition, version: 0, updatedAt: at },
      settings.analysis,
    );
    report.snapshots += await snapshots.upsert(
      definition.key,
      snapshotBucketStart(at, settings.snapshotIntervalMs),
      at,
      snapshotsFromResults(results),
    );
    const evaluation = evaluateAlerts({ definition, results, firing });
    await tell(evaluation, {
      notice: {
        experiment: { key: definition.key, name: definition.name },
        resultsUrl: resultsPageUrl(settings.resultsBaseUrl, definition.key),
        at,
      },
      recipients: experimentRecipients(definition),
      recordFired: (alert) => alerts.recordFired(definition.key, alert),
      recordCleared: (condition) => alerts.recordCleared(definition.key, condition),
      outcome: { scope: 'experiment', experimentId: definition.key },
      report,
    });
  }

  /** Delivers an evaluation's transitions and records each one that needs no resending. */
  async function tell(
    evaluation: AlertEvaluation,
    target: {
      notice: Pick<AlertNotice, 'experiment' | 'resultsUrl' | 'at'>;
      recipients: AlertRecipients;
      recordFired(alert: FiringAlert): Promise<void>;
      recordCleared(condition: string): Promise<void>;
      outcome: Pick<TransitionOutcome, 'scope' | 'experimentId'>;
      report: MonitorRunReport;
    },
  ): Promise<void> {
    const { notice, recipients, report } = target;
    const at = notice.at;
    const record = (condition: string, transition: 'fired' | 'cleared', delivered: boolean) =>
      report.transitions.push({
        ...target.outcome,
        condition,
        transition,
        outcome: delivered ? 'delivered' : 'pending',
      });
    for (const condition of evaluation.fired) {
      const delivered = await deliver(
        {
          ...notice,
          transition: 'fired',
          condition: condition.condition,
          kind: condition.kind,
          summary: condition.summary,
        },
        recipients,
      );
      if (delivered) await target.recordFired(firingAlertOf(condition, at));
      record(condition.condition, 'fired', delivered);
    }
    for (const alert of evaluation.cleared) {
      const summary = typeof alert.detail.summary === 'string' ? alert.detail.summary : alert.condition;
      const delivered = await deliver(
        {
          ...notice,
          transition: 'cleared',
          condition: alert.condition,
          kind: kindOf(alert.condition),
          summary,
          firedAt: alert.firedAt,
        },
        recipients,
      );
      if (delivered) await target.recordCleared(alert.condition);
      record(alert.condition, 'cleared', delivered);
    }
  }

  async function run(): Promise<MonitorRunReport> {
    const at = now();
    const health = await readHealth(at);
    await alerts.forgetNotRunning();
    const experiments = await alerts.runningExperiments();
    const firing = await alerts.firing(experiments.map((definition) => definition.key));
    const report: MonitorRunReport = {
      ran: true,
      experiments: experiments.length,
      snapshots: 0,
      health,
      transitions: [],
      failures: [],
    };
    // Pipeline health: once for the pipeline, whatever the number of running experiments.
    await tell(evaluatePipelineAlerts({ health, thresholds: settings, firing: await alerts.pipelineFiring() }), {
      notice: { resultsUrl: experimentsPageUrl(settings.resultsBaseUrl), at },
      recipients: pipelineRecipients(settings.alertEmailTo, experiments),
      recordFired: (alert) => alerts.recordPipelineFired(alert),
      recordCleared: (condition) => alerts.recordPipelineCleared(condition),
      outcome: { scope: 'pipeline' },
      report,
    });
    for (const definition of experiments) {
      try {
        await monitorExperiment(definition, firing.get(definition.key) ?? [], at, report);
      } catch (error) {
        deps.logger.error({ err: error, experimentId: definition.key }, 'monitor: experiment skipped this run');
        report.failures.push({
          experimentId: definition.key,
          message: error instanceof Error ? error.message : String(error),
        });
      }
    }
    return report;
  }

  return {
    async runOnce() {
      const report = await runLock.withRunLock(run);
      if (report) return report;
      deps.logger.info('monitor: another run holds the lock; skipped');
      return { ran: false, experiments: 0, snapshots: 0, health: UNKNOWN_HEALTH, transitions: [], failures: [] };
    },
  };
}

function firingAlertOf(condition: ActiveCondition, at: Date): FiringAlert {
  return { condition: condition.condition, firedAt: at, detail: { summary: condition.summary, ...condition.detail } };
}
