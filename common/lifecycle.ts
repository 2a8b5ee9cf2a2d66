/**
 * How every long-running entry point (collector, processors, query API, monitor) starts and
 * stops, written once:
 *
 *   runMain('collector', main)         a start-up failure → why, on stderr, and exit code 1
 *   stopOnSignals(stop, { logger })    first SIGTERM/SIGINT → log it, await stop(), exit 0
 *                                      (1 when stop failed); a second signal while stopping
 *                                      → exit 1 at once (an operator pressing Ctrl-C twice)
 *
 * ECS sends SIGTERM and, after the stop timeout, SIGKILL; `stop()` is where each component
 * finishes its work in hand (the collector drains its PutRecords buffer, the processors
 * finish and checkpoint their batches, the query API lets requests finish and closes pools).
 */
import type { Logger } from './logger.js';

/** What the lifecycle needs of `process` (tests pass an EventEmitter and a recording `exit`). */
export interface ProcessLike {
  on(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  exit(code: number): void;
  stderr: { write(text: string): unknown };
}

export interface StopOnSignalsOptions {
  logger: Pick<Logger, 'info' | 'error' | 'warn'>;
  /** Defaults to the real `process`. */
  process?: ProcessLike;
}

/**
 * Stops the component on the first SIGTERM or SIGINT, then exits.
 *
 * @example stopOnSignals(() => collector.stop(), { logger });
 */
export function stopOnSignals(stop: () => Promise<void>, options: StopOnSignalsOptions): void {
  const proc = options.process ?? process;
  const { logger } = options;
  let stopping = false;
  const onSignal = (signal: 'SIGTERM' | 'SIGINT'): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal while stopping: exiting now');
      proc.exit(1);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'stopping: finishing the work in hand');
    stop().then(
      () => {
        logger.info('stopped');
        proc.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        proc.exit(1);
      },
    );
  };
  proc.on('SIGTERM', () => onSignal('SIGTERM'));
  proc.on('SIGINT', () => onSignal('SIGINT'));
}

/**
 * Runs an entry point's `main`; when it rejects (bad configuration, a dependency down at
 * start-up), writes `<name> failed to start: <why>` to stderr and exits with code 1.
 *
 * @example runMain('collector', main);
 */
export function runMain(name: string, main: () => Promise<void>, proc: ProcessLike = process): void {
  main().catch((error: unknown) => {
    proc.stderr.write(`${name} failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
    proc.exit(1);
  });
}
