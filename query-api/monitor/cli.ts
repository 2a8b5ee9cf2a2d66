/**
 * `npm run monitor -- once|watch`: the monitor job on this machine's configuration
 * (DATABASE_URL, the counters table, the channels; query-api/monitor/README.md).
 *
 *   once    one run; prints its report as JSON; exit 0, or 1 when some experiment failed
 *   watch   a run every MONITOR_INTERVAL seconds until SIGINT/SIGTERM
 *
 * Applies pending migrations first (safe beside a running query API: they take a lock).
 */
import { Command } from 'commander';
import { createDynamoClient } from '../../common/aws-clients.js';
import { loadConfig } from '../../common/config.js';
import { stopOnSignals } from '../../common/lifecycle.js';
import { createLogger } from '../../common/logger.js';
import { createDatabase } from '../db/database.js';
import { runMigrations } from '../db/migrations.js';
import { alertChannelsFromConfig, healthSourceFromConfig } from './monitor-from-config.js';
import { createMonitor, monitorSettingsFromConfig } from './monitor-job.js';
import { startMonitorLoop } from './monitor-loop.js';

async function main(): Promise<void> {
  const program = new Command()
    .name('npm run monitor --')
    .description('Results snapshots and alerts (Slack, email) for every running experiment.')
    .argument('<mode>', '"once" (one run, report on stdout) or "watch" (every MONITOR_INTERVAL seconds)')
    .parse();
  const mode = program.args[0];
  if (mode !== 'once' && mode !== 'watch') {
    process.stderr.write(`unknown mode "${mode ?? ''}": use once or watch\n`);
    process.exit(2);
  }
  const config = loadConfig(process.env);
  if (!config.database.url) {
    process.stderr.write('DATABASE_URL is not set; the monitor needs PostgreSQL\n');
    process.exit(1);
  }
  const logger = createLogger({
    level: config.logLevel,
    name: 'monitor',
    destinationFd: mode === 'once' ? 2 : undefined,
  });
  const database = createDatabase(config.database);
  const dynamo = createDynamoClient(config);
  await runMigrations(database.writer);
  const monitor = createMonitor(monitorSettingsFromConfig(config), {
    database,
    dynamo,
    channels: alertChannelsFromConfig(config, logger),
    healthSource: healthSourceFromConfig(config, logger),
    logger,
  });
  const close = async () => {
    await database.close();
    dynamo.destroy();
  };
  if (mode === 'once') {
    const report = await monitor.runOnce();
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    await close();
    process.exit(report.failures.length > 0 ? 1 : 0);
  }
  const loop = startMonitorLoop(monitor, config.monitor.runIntervalMs, logger);
  logger.info({ intervalSeconds: config.monitor.runIntervalMs / 1000 }, 'monitor: watching');
  stopOnSignals(
    async () => {
      await loop.stop();
      await close();
    },
    { logger },
  );
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
main().catch((error: unknown) => {
  process.stderr.write(`monitor failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
