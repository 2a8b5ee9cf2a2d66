/**
 * pino logger factory. Components take a logger in their deps and create child loggers
 * with bindings (`{ component, shardId }`) rather than building strings.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export function createLogger(options: { level?: string; name?: string; destinationFd?: number } = {}): Logger {
  const pinoOptions: LoggerOptions = {
    level: options.level ?? 'info',
    base: options.name ? { service: options.name } : null,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  // `destinationFd: 2` for processes whose stdout is a protocol (the KCL MultiLang child).
  return options.destinationFd === undefined
    ? pino(pinoOptions)
    : pino(pinoOptions, pino.destination({ fd: options.destinationFd, sync: true }));
}

/** A logger that writes nothing: for tests and benches where log I/O would distort results. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
