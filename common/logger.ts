/**
 * pino logger factory. Components take a logger in their deps and create child loggers
 * with bindings (`{ component, shardId }`) rather than building strings.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  const pinoOptions: LoggerOptions = {
    level: options.level ?? 'info',
    base: options.name ? { service: options.name } : null,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return pino(pinoOptions);
}

/** A logger that writes nothing: for tests and benches where log I/O would distort results. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
