/**
 * Logging at the edge: one JSON line per entry on stdout/stderr, which Lambda@Edge ships to
 * CloudWatch in the region nearest the viewer. pino is what the rest of the project uses;
 * here it would be most of the bundle, so the edge keeps the same line shape (level, msg,
 * fields, `err` for errors) with `console`.
 */
export type EdgeLogLevel = 'debug' | 'info' | 'warn' | 'error';

export type EdgeLog = (level: EdgeLogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** Writes JSON lines; `debug` is dropped unless `verbose`. */
export function createConsoleLog(verbose = false): EdgeLog {
  return (level, msg, fields = {}) => {
    if (level === 'debug' && !verbose) return;
    const line = JSON.stringify({ level, time: new Date().toISOString(), service: 'split-url', msg, ...fields });
    if (level === 'error' || level === 'warn') console.error(line);
    else console.log(line);
  };
}

/** Discards everything: for tests and benchmarks. */
export const silentLog: EdgeLog = () => undefined;
