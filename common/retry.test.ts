import { describe, expect, it } from 'vitest';
import { PipelineError } from './errors.js';
import { backoffDelayMs, withRetry } from './retry.js';

const fastPolicy = { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 4 };

describe('retry', () => {
  it('draws full-jitter delays below an exponentially growing, capped ceiling', () => {
    const policy = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelayMs(policy, 1, () => 0.999)).toBe(99);
    expect(backoffDelayMs(policy, 3, () => 0.999)).toBe(399);
    expect(backoffDelayMs(policy, 8, () => 0.999)).toBe(999);
    expect(backoffDelayMs(policy, 3, () => 0)).toBe(0);
  });

  it('retries retriable errors up to the bound, then rethrows the last one', async () => {
    let calls = 0;
    await expect(
      withRetry(
        () => {
          calls++;
          return Promise.reject(new PipelineError('SINK_THROTTLED', `throttled ${calls}`));
        },
        { policy: fastPolicy },
      ),
    ).rejects.toThrow('throttled 4');
    expect(calls).toBe(4);
  });

  it('never retries programming errors or non-retriable codes', async () => {
    let calls = 0;
    await expect(
      withRetry(
        () => {
          calls++;
          return Promise.reject(new TypeError('undefined is not a function'));
        },
        { policy: fastPolicy },
      ),
    ).rejects.toThrow(TypeError);
    await expect(
      withRetry(() => Promise.reject(new PipelineError('EVENT_INVALID', 'bad')), { policy: fastPolicy }),
    ).rejects.toThrow('bad');
    expect(calls).toBe(1);
  });

  it('returns the first success', async () => {
    let calls = 0;
    const value = await withRetry(
      () => {
        calls++;
        return calls < 3 ? Promise.reject(new PipelineError('SINK_FAILED', 'flaky')) : Promise.resolve('ok');
      },
      { policy: fastPolicy },
    );
    expect(value).toBe('ok');
    expect(calls).toBe(3);
  });
});
