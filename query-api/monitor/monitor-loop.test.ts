import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSilentLogger } from '../../common/logger.js';
import type { Monitor, MonitorRunReport } from './monitor-job.js';
import { startMonitorLoop } from './monitor-loop.js';

const REPORT: MonitorRunReport = {
  ran: true,
  experiments: 0,
  snapshots: 0,
  health: { deadLetterGrowth: null, lagMs: null, stateLost: null },
  transitions: [],
  failures: [],
};

afterEach(() => {
  vi.useRealTimers();
});

describe('startMonitorLoop (virtual clock)', () => {
  it('runs at once, then an interval after each run ends, survives a failed run, and stops', async () => {
    vi.useFakeTimers();
    let runs = 0;
    const monitor: Monitor = {
      runOnce: () => {
        runs++;
        return runs === 2 ? Promise.reject(new Error('database down')) : Promise.resolve(REPORT);
      },
    };
    const loop = startMonitorLoop(monitor, 60_000, createSilentLogger());
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toBe(1);
    await vi.advanceTimersByTimeAsync(59_999);
    expect(runs).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toBe(2); // fails; the loop goes on
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs).toBe(3);
    await loop.stop();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(runs).toBe(3);
  });

  it('waits for a run in progress when stopped', async () => {
    let finish: () => void = () => undefined;
    let finished = false;
    const monitor: Monitor = {
      runOnce: () =>
        new Promise((resolve) => {
          finish = () => {
            finished = true;
            resolve(REPORT);
          };
        }),
    };
    const loop = startMonitorLoop(monitor, 60_000, createSilentLogger());
    const stopped = loop.stop();
    setTimeout(() => finish(), 20);
    await stopped;
    expect(finished).toBe(true);
  });
});
