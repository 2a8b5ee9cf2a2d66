import { describe, expect, it } from 'vitest';
import { isRetriable, PipelineError } from './errors.js';
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
    let programmingErrorCalls = 0;
    await expect(
      withRetry(
        () => {
          programmingErrorCalls++;
          return Promise.reject(new TypeError('undefined is not a function'));
        },
        { policy: fastPolicy },
      ),
    ).rejects.toThrow(TypeError);
    expect(programmingErrorCalls).toBe(1);

    let invalidEventCalls = 0;
    await expect(
      withRetry(
        () => {
          invalidEventCalls++;
          return Promise.reject(new PipelineError('EVENT_INVALID', 'bad'));
        },
        { policy: fastPolicy },
      ),
    ).rejects.toThrow('bad');
    expect(invalidEventCalls).toBe(1);
  });

  it("honours an error's own retriable flag over its code's default, both ways", async () => {
    const transientRejection = new PipelineError('SINK_REJECTED', 'a 4xx that is really transient', {
      retriable: true,
    });
    const permanentFailure = new PipelineError('SINK_FAILED', 'a 5xx that will never succeed', { retriable: false });
    expect(isRetriable(transientRejection)).toBe(true);
    expect(isRetriable(permanentFailure)).toBe(false);
    expect(isRetriable(new PipelineError('SINK_REJECTED', 'default'))).toBe(false);
    expect(isRetriable(new PipelineError('SINK_FAILED', 'default'))).toBe(true);

    let transientCalls = 0;
    await expect(
      withRetry(
        () => {
          transientCalls++;
          return Promise.reject(transientRejection);
        },
        { policy: fastPolicy },
      ),
    ).rejects.toBe(transientRejection);
    expect(transientCalls).toBe(fastPolicy.maxAttempts);

    let permanentCalls = 0;
    await expect(
      withRetry(
        () => {
          permanentCalls++;
          return Promise.reject(permanentFailure);
        },
        { policy: fastPolicy },
      ),
    ).rejects.toBe(permanentFailure);
    expect(permanentCalls).toBe(1);
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

  it('waits at least the delay the failure asked for (Retry-After), and gives up when it asks for too long', async () => {
    const delays: number[] = [];
    let calls = 0;
    const value = await withRetry(
      () => {
        calls++;
        return calls < 2 ? Promise.reject(new PipelineError('RATE_LIMITED', 'slow down')) : Promise.resolve('ok');
      },
      {
        policy: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 50 },
        delayHintMs: () => 30,
        onRetry: (_error, _attempt, delayMs) => delays.push(delayMs),
      },
    );
    expect(value).toBe('ok');
    expect(delays).toEqual([30]);
    let tooLongCalls = 0;
    await expect(
      withRetry(
        () => {
          tooLongCalls++;
          return Promise.reject(new PipelineError('RATE_LIMITED', 'come back in an hour'));
        },
        { policy: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 50 }, delayHintMs: () => 3_600_000 },
      ),
    ).rejects.toThrow('come back in an hour');
    expect(tooLongCalls).toBe(1);
    // A hint of exactly the largest delay is still waited for; one past it is not, and without a hint the backoff rules.
    const waits: number[] = [];
    const attemptsWith = async (hint: number | undefined) => {
      let calls = 0;
      await withRetry(
        () => (++calls === 1 ? Promise.reject(new PipelineError('RATE_LIMITED', 'slow down')) : Promise.resolve()),
        {
          policy: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 20 },
          delayHintMs: () => hint,
          random: () => 0.5,
          onRetry: (_error, _attempt, delayMs) => waits.push(delayMs),
        },
      ).catch(() => undefined);
      return calls;
    };
    expect(await attemptsWith(20)).toBe(2);
    expect(await attemptsWith(21)).toBe(1);
    expect(await attemptsWith(undefined)).toBe(2);
    expect(waits).toEqual([20, 0]);
  });
});
