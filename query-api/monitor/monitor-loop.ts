/**
 * Runs the monitor every `intervalMs` (`npm run monitor -- watch`, `npm start`): the next run
 * starts an interval after the previous one ended, so runs never pile up; `stop()` waits for
 * a run in progress. A failed run is logged and the loop goes on.
 *
 * @example
 *   const loop = startMonitorLoop(monitor, 60_000, logger);
 *   await loop.stop();
 */
import type { Logger } from '../../common/logger.js';
import type { Monitor, MonitorRunReport } from './monitor-job.js';

export interface MonitorLoop {
  stop(): Promise<void>;
}

/** Logs a run's outcome in one line. */
export function logRunReport(logger: Logger, report: MonitorRunReport): void {
  if (!report.ran) return;
  logger.info(
    {
      experiments: report.experiments,
      snapshots: report.snapshots,
      health: report.health,
      transitions: report.transitions,
      failures: report.failures.length,
    },
    'monitor: run done',
  );
}

/** Starts the loop; the first run starts at once. */
export function startMonitorLoop(monitor: Monitor, intervalMs: number, logger: Logger): MonitorLoop {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = (): void => {
    running = monitor
      .runOnce()
      .then((report) => logRunReport(logger, report))
      .catch((error: unknown) => logger.error({ err: error }, 'monitor: run failed; the next one is on schedule'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
