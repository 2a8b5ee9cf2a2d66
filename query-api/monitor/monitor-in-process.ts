/**
 * The monitor loop inside the query API process (MONITOR_IN_PROCESS), on the query API's own
 * database pool and DynamoDB client. `npm start` uses it for the embedded database: PGlite
 * serves every wire connection from ONE session, so a second process with connections of its
 * own would share that session — its advisory locks exclude nothing (every connection "gets"
 * the monitor's run lock) and session settings leak between the two. In process, the
 * monitor's statements go through the query API's pool of one like any request's, and
 * `createInProcessRunLock` keeps runs apart without a second connection (this process is the
 * only runner).
 *
 * Only for one query API instance: several instances would each run the monitor (and each
 * send the same alert). Deployments run the monitor as its own job (CLI, or the Lambda
 * function of cdk/monitor-job.ts) with the PostgreSQL advisory lock.
 *
 * @example
 *   const loop = startInProcessMonitor(config, { database, dynamo, logger });
 *   await loop.stop(); // waits for a run in progress
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Config } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import type { Database } from '../db/database.js';
import { createInProcessRunLock } from './alert-state-store.js';
import { alertChannelsFromConfig, healthSourceFromConfig } from './monitor-from-config.js';
import { createMonitor, monitorSettingsFromConfig } from './monitor-job.js';
import { startMonitorLoop, type MonitorLoop } from './monitor-loop.js';

/** Starts the loop (first run at once, then every MONITOR_INTERVAL seconds) on the given connections. */
export function startInProcessMonitor(
  config: Pick<Config, 'monitor' | 'queryApi' | 'dynamodb' | 'aws' | 'kinesis'>,
  deps: { database: Database; dynamo: DynamoDBClient; logger: Logger },
): MonitorLoop {
  const logger = deps.logger.child({ component: 'monitor' });
  const monitor = createMonitor(monitorSettingsFromConfig(config), {
    database: deps.database,
    dynamo: deps.dynamo,
    channels: alertChannelsFromConfig(config, logger),
    healthSource: healthSourceFromConfig(config, logger),
    logger,
    runLock: createInProcessRunLock(),
  });
  logger.info(
    { intervalSeconds: config.monitor.runIntervalMs / 1000 },
    'monitor: watching, inside the query API (MONITOR_IN_PROCESS)',
  );
  return startMonitorLoop(monitor, config.monitor.runIntervalMs, logger);
}
