/**
 * pino logger factory. Components take a logger in their deps and create child loggers
 * with bindings (`{ component, shardId }`) rather than building strings.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { REDACTED, redactCredentials, redactDeep } from './redact.js';

export type { Logger };

/**
 * Fields that may hold credentials wherever they are logged: headers are hidden, URL-valued
 * fields keep everything but their `user:password` (common/redact.ts).
 */
export const LOG_REDACT_PATHS: readonly string[] = [
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'url',
  '*.url',
  'redisUrl',
  '*.redisUrl',
  'replicaUrl',
  '*.replicaUrl',
  'password',
  '*.password',
];

function censor(value: unknown, path: string[]): unknown {
  const field = path[path.length - 1] ?? '';
  if (field === 'authorization' || field === 'x-api-key' || field === 'password') return REDACTED;
  return typeof value === 'string' ? redactCredentials(value) : value;
}

/**
 * Logger options with credential redaction: the redact paths above, every `err` (message,
 * stack, details, causes) scrubbed of URL credentials, and string arguments of log calls too.
 */
export function redactingLoggerOptions(options: LoggerOptions = {}): LoggerOptions {
  return {
    ...options,
    redact: { paths: [...LOG_REDACT_PATHS], censor },
    serializers: {
      ...options.serializers,
      err: (error: Error) => redactDeep(pino.stdSerializers.err(error)) as ReturnType<typeof pino.stdSerializers.err>,
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((arg: unknown) => (typeof arg === 'string' ? redactCredentials(arg) : arg));
        return method.apply(this, scrubbed as Parameters<typeof method>);
      },
    },
  };
}

export function createLogger(
  options: { level?: string; name?: string; destinationFd?: number; destination?: DestinationStream } = {},
): Logger {
  const pinoOptions: LoggerOptions = redactingLoggerOptions({
    level: options.level ?? 'info',
    base: options.name ? { service: options.name } : null,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
  if (options.destination) return pino(pinoOptions, options.destination);
  // `destinationFd: 2` for processes whose stdout is a protocol (the KCL MultiLang child).
  return options.destinationFd === undefined
    ? pino(pinoOptions)
    : pino(pinoOptions, pino.destination({ fd: options.destinationFd, sync: true }));
}

/** A logger that writes nothing: for tests and benches where log I/O would distort results. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
