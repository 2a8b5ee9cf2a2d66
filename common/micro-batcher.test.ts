import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MicroBatcher, type MicroBatcherOptions } from './micro-batcher.js';

interface Sent {
  batches: number[][];
  release: () => void;
}

/** A batcher of numbers whose size is the number itself; sends wait for `release` when gated. */
function numbers(options: Partial<MicroBatcherOptions<number>> = {}, gated = false) {
  let open: () => void = () => undefined;
  let gate = gated ? new Promise<void>((resolve) => (open = resolve)) : Promise.resolve();
  const sent: Sent = {
    batches: [],
    release: () => {
      open();
      gate = Promise.resolve();
    },
  };
  const failed: number[][] = [];
  const batcher = new MicroBatcher<number>({
    limits: { maxCount: 3, maxBytes: 100 },
    lingerMs: 1_000,
    concurrency: 1,
    sizeOf: (n) => n,
    send: async (batch) => {
      sent.batches.push(batch);
      await gate;
    },
    onSendError: (batch) => failed.push(batch),
    ...options,
  });
  return { batcher, sent, failed };
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('MicroBatcher', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
  afterEach(() => vi.useRealTimers());

  it('sends a full batch at once, by count or by bytes, and a partial one only after the linger', async () => {
    const { batcher, sent } = numbers({ concurrency: 4 });
    batcher.add([1, 1]);
    expect(sent.batches).toEqual([]); // partial: waits for company
    batcher.add([1]);
    expect(sent.batches).toEqual([[1, 1, 1]]); // full by count: at once
    batcher.add([60]);
    expect(sent.batches).toHaveLength(1);
    batcher.add([50]); // 110 bytes queued ≥ 100: full by bytes; a batch holds at most 100 bytes
    expect(sent.batches).toEqual([[1, 1, 1], [60], [50]]);
    batcher.add([2]);
    vi.advanceTimersByTime(999);
    expect(sent.batches).toHaveLength(3);
    vi.advanceTimersByTime(1);
    expect(sent.batches.at(-1)).toEqual([2]);
    await batcher.drain();
    expect(batcher.bufferedBytes).toBe(0);
  });

  it('opens the linger window with the first item queued after a send, not before', async () => {
    const { batcher, sent } = numbers();
    batcher.add([1]);
    vi.advanceTimersByTime(500);
    batcher.add([2]);
    vi.advanceTimersByTime(500);
    expect(sent.batches).toEqual([[1, 2]]);
    await settle();
    batcher.add([3]);
    vi.advanceTimersByTime(999);
    expect(sent.batches).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sent.batches).toEqual([[1, 2], [3]]);
  });

  it('keeps at most `concurrency` sends in flight; what queued meanwhile goes as soon as one finishes', async () => {
    const { batcher, sent } = numbers({ concurrency: 1 }, true);
    batcher.add([1, 1, 1, 2, 2, 2, 3]);
    expect(sent.batches).toEqual([[1, 1, 1]]);
    expect(batcher.queued).toBe(4);
    expect(batcher.bufferedBytes).toBe(3 + 6 + 3);
    sent.release();
    await settle();
    expect(sent.batches).toEqual([[1, 1, 1], [2, 2, 2], [3]]);
    await batcher.drain();
    expect(batcher.queued).toBe(0);
    expect(batcher.bufferedBytes).toBe(0);
  });

  it('lets an item larger than maxBytes travel alone instead of blocking the queue', async () => {
    const { batcher, sent } = numbers({ concurrency: 4 });
    batcher.add([500, 1]);
    await batcher.drain();
    expect(sent.batches).toEqual([[500], [1]]);
  });

  it('drain sends a partial batch at once and resolves only when every send finished', async () => {
    const { batcher, sent } = numbers({}, true);
    batcher.add([1]);
    let drained = false;
    const draining = batcher.drain().then(() => (drained = true));
    expect(sent.batches).toEqual([[1]]);
    await settle();
    expect(drained).toBe(false);
    sent.release();
    await draining;
    expect(drained).toBe(true);
  });

  it('hands a batch whose send rejected (or threw) to onSendError, and goes on with the next', async () => {
    let calls = 0;
    const { batcher, failed, sent } = numbers({
      concurrency: 1,
      send: (batch) => {
        calls++;
        if (calls === 1) throw new Error('bug');
        if (calls === 2) return Promise.reject(new Error('unhandled'));
        sent.batches.push(batch);
        return Promise.resolve();
      },
    });
    batcher.add([1, 1, 1, 2, 2, 2, 3, 3, 3]);
    await batcher.drain();
    expect(failed).toEqual([
      [1, 1, 1],
      [2, 2, 2],
    ]);
    expect(sent.batches).toEqual([[3, 3, 3]]);
  });

  it('keeps order and loses nothing across many batches (the queue head is compacted)', async () => {
    const received: number[] = [];
    const batcher = new MicroBatcher<number>({
      limits: { maxCount: 7, maxBytes: Number.POSITIVE_INFINITY },
      lingerMs: 5,
      concurrency: 1,
      sizeOf: () => 1,
      send: async (batch) => {
        await Promise.resolve();
        received.push(...batch);
      },
      onSendError: () => undefined,
    });
    const all = Array.from({ length: 10_000 }, (_, i) => i);
    for (let i = 0; i < all.length; i += 13) batcher.add(all.slice(i, i + 13));
    await batcher.drain();
    expect(received).toEqual(all);
  });
});
