/**
 * Windowing and bounds of the failed-authentication summaries on a fake clock. The audit
 * log is a recording stand-in here (the PostgreSQL path is exercised in
 * audit-trail.test.ts against the real database).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSilentLogger } from '../../common/logger.js';
import type { AuditEvent, AuditEventInput } from './audit-event.js';
import { createAuthFailureSummary } from './auth-failure-summary.js';

function recordingLog() {
  const appended: AuditEventInput[] = [];
  return {
    appended,
    appendAlone: (input: AuditEventInput) => {
      appended.push(input);
      return Promise.resolve({} as AuditEvent);
    },
  };
}

describe('failed-authentication summaries', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-03-01T10:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes one event per window with failures, none for a quiet window', async () => {
    const auditLog = recordingLog();
    const summary = createAuthFailureSummary({ auditLog, logger: createSilentLogger(), windowMs: 60_000 });
    summary.start();
    for (let i = 0; i < 500; i++) summary.record({ sourceIp: '198.51.100.1', reason: 'invalid-api-key' });
    summary.record({ sourceIp: '198.51.100.2', reason: 'invalid-token' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(auditLog.appended).toHaveLength(1);
    expect(auditLog.appended[0]).toMatchObject({
      action: 'authentication.failures',
      sourceIp: null,
      requestId: null,
      change: {
        windowStart: '2026-03-01T10:00:00.000Z',
        windowEnd: '2026-03-01T10:01:00.000Z',
        failures: 501,
        sources: [
          { sourceIp: '198.51.100.1', reason: 'invalid-api-key', count: 500 },
          { sourceIp: '198.51.100.2', reason: 'invalid-token', count: 1 },
        ],
        otherSources: 0,
        otherFailures: 0,
      },
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(auditLog.appended).toHaveLength(1);
    summary.record({ sourceIp: '198.51.100.3', reason: 'missing-credentials' });
    await summary.stop();
    expect(auditLog.appended).toHaveLength(2);
    expect(auditLog.appended[1]!.change).toMatchObject({ failures: 1, windowStart: '2026-03-01T10:02:00.000Z' });
  });

  it('lists the largest sources and counts the rest, with bounded memory per window', async () => {
    const auditLog = recordingLog();
    const summary = createAuthFailureSummary({
      auditLog,
      logger: createSilentLogger(),
      maxSources: 2,
      maxTracked: 3,
    });
    const fail = (ip: string, times: number) => {
      for (let i = 0; i < times; i++) summary.record({ sourceIp: ip, reason: 'invalid-api-key' });
    };
    fail('10.0.0.1', 5);
    fail('10.0.0.2', 9);
    fail('10.0.0.3', 1);
    fail('10.0.0.4', 7); // a fourth pair: beyond maxTracked, only counted
    await summary.flush();
    expect(auditLog.appended[0]!.change).toEqual({
      windowStart: '2026-03-01T10:00:00.000Z',
      windowEnd: '2026-03-01T10:00:00.000Z',
      failures: 22,
      sources: [
        { sourceIp: '10.0.0.2', reason: 'invalid-api-key', count: 9 },
        { sourceIp: '10.0.0.1', reason: 'invalid-api-key', count: 5 },
      ],
      otherSources: 1,
      otherFailures: 8,
    });
  });
});
