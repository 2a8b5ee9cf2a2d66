/**
 * Failed authentications, recorded as summaries: at most one audit event per window
 * (default a minute) per instance, however many requests failed — an attack must not be
 * able to flood the audit trail (or the chain lock) one row per request.
 *
 * Each failure is counted by (source IP, reason) in process; at most `maxTracked` pairs
 * are told apart per window (failures of further pairs count only in the totals: then
 * `otherSources` is a lower bound). At the end of
 * the window one `authentication.failures` event is appended (in a transaction of its own)
 * with the window, the total and the `maxSources` largest pairs:
 *
 *   { windowStart, windowEnd, failures, sources: [{ sourceIp, reason, count }],
 *     otherSources, otherFailures }
 *
 * A window without failures writes nothing. `stop()` writes the last window.
 *
 * @example
 *   const summary = createAuthFailureSummary({ auditLog, logger });
 *   summary.start();
 *   summary.record({ sourceIp: '203.0.113.7', reason: 'invalid-api-key' });
 *   await summary.stop(); // appends the summary of what was recorded
 */
import type { Logger } from '../../common/logger.js';
import type { AuthFailureReason } from '../auth/authenticate.js';
import type { AuditEvent } from './audit-event.js';
import type { AuditLog } from './audit-log.js';

export interface AuthFailureSummary {
  record(failure: { sourceIp: string; reason: AuthFailureReason }): void;
  /** Appends the summary of the failures recorded since the last flush (none: nothing). */
  flush(): Promise<AuditEvent | undefined>;
  /** Flushes every `windowMs`. */
  start(): void;
  /** Stops the timer and flushes what is left. */
  stop(): Promise<void>;
}

export interface AuthFailureSummaryOptions {
  auditLog: Pick<AuditLog, 'appendAlone'>;
  logger: Logger;
  now?: () => Date;
  /** Length of a window. Default 60 s. */
  windowMs?: number;
  /** Pairs listed in an event. Default 20. */
  maxSources?: number;
  /** Pairs counted apart per window. Default 1,000. */
  maxTracked?: number;
}

interface Window {
  start: Date;
  counts: Map<string, { sourceIp: string; reason: AuthFailureReason; count: number }>;
  total: number;
  untracked: number;
}

/** The summarizer of one query API instance. */
export function createAuthFailureSummary(options: AuthFailureSummaryOptions): AuthFailureSummary {
  const now = options.now ?? (() => new Date());
  const windowMs = options.windowMs ?? 60_000;
  const maxSources = options.maxSources ?? 20;
  const maxTracked = options.maxTracked ?? 1_000;
  const fresh = (): Window => ({ start: now(), counts: new Map(), total: 0, untracked: 0 });
  let window = fresh();
  let timer: NodeJS.Timeout | undefined;

  const flush = async (): Promise<AuditEvent | undefined> => {
    const closed = window;
    window = fresh();
    if (closed.total === 0) return undefined;
    const sorted = [...closed.counts.values()].sort(
      (a, b) => b.count - a.count || a.sourceIp.localeCompare(b.sourceIp),
    );
    const listed = sorted.slice(0, maxSources);
    const listedFailures = listed.reduce((sum, source) => sum + source.count, 0);
    return options.auditLog.appendAlone({
      actor: { type: 'system', id: 'query-api', username: null },
      sourceIp: null,
      requestId: null,
      action: 'authentication.failures',
      resource: { type: 'authentication', id: 'failed-attempts' },
      change: {
        windowStart: closed.start.toISOString(),
        windowEnd: now().toISOString(),
        failures: closed.total,
        sources: listed.map(({ sourceIp, reason, count }) => ({ sourceIp, reason, count })),
        otherSources: sorted.length - listed.length,
        otherFailures: closed.total - listedFailures,
      },
    });
  };
  const flushLogged = () =>
    flush().then(
      () => undefined,
      (error: unknown) => options.logger.warn({ err: error }, 'could not write the failed-authentication summary'),
    );

  return {
    record({ sourceIp, reason }) {
      window.total++;
      const key = `${sourceIp} ${reason}`;
      const entry = window.counts.get(key);
      if (entry) entry.count++;
      else if (window.counts.size < maxTracked) window.counts.set(key, { sourceIp, reason, count: 1 });
      else window.untracked++;
    },
    flush,
    start() {
      timer ??= setInterval(() => void flushLogged(), windowMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await flushLogged();
    },
  };
}
