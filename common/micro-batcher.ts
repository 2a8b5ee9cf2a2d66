/**
 * The one micro-batcher: items from concurrent callers share requests (the collector's
 * PutRecords calls, the processors' OpenSearch `_bulk` requests, the producer client's POSTs).
 *
 *   queue ──(full: maxCount items or maxBytes) ─────────────▶ send at once
 *         ──(partial: lingerMs after the first item queued) ─▶ send what is there
 *   at most `concurrency` sends in flight; when one finishes, what queued meanwhile goes at once
 *   drain(): sends everything queued now and resolves when nothing is queued or in flight
 *
 * A batch takes items from the head of the queue, in order, up to `maxCount` items and
 * `maxBytes` bytes, and always at least one item (an item larger than `maxBytes` travels alone
 * instead of blocking the queue). `send` owns the outcome of its items (settle each one); if it
 * rejects, `onSendError` gets the batch so no item is left unsettled. The batcher holds no
 * promise per item and allocates nothing per item beyond the queue slot.
 *
 * @example
 *   const batcher = new MicroBatcher<Doc>({
 *     limits: { maxCount: 1_000, maxBytes: 5 * 1024 * 1024 }, lingerMs: 10, concurrency: 2,
 *     sizeOf: (doc) => doc.bytes, send: (docs) => bulkIndex(docs),
 *     onSendError: (docs, error) => docs.forEach((doc) => doc.fail(error)),
 *   });
 *   batcher.add(docs);
 *   await batcher.drain();
 */

/** Bounds of one batch. */
export interface MicroBatchLimits {
  maxCount: number;
  maxBytes: number;
}

export interface MicroBatcherOptions<T> {
  limits: MicroBatchLimits;
  /** How long the first queued item waits for company before a partial batch is sent. */
  lingerMs: number;
  /** Sends in flight at once. */
  concurrency: number;
  /** The bytes an item counts against `limits.maxBytes` and the batcher's byte counters. */
  sizeOf: (item: T) => number;
  /** Sends one batch and settles its items. */
  send: (batch: T[]) => Promise<void>;
  /** Settles the items of a batch whose `send` rejected (a bug in `send`, or a failure it did not handle). */
  onSendError: (batch: T[], error: unknown) => void;
}

export class MicroBatcher<T> {
  private queue: T[] = [];
  private queueHead = 0;
  private queuedByteCount = 0;
  private inFlightByteCount = 0;
  private inFlight = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly options: MicroBatcherOptions<T>) {}

  /** Items waiting to be sent. */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  /** Bytes waiting plus bytes being sent. */
  get bufferedBytes(): number {
    return this.queuedByteCount + this.inFlightByteCount;
  }

  /** Queues items (in order) and sends at once what makes a full batch; `bytes` is their total when the caller has it. */
  add(items: readonly T[], bytes?: number): void {
    if (items.length === 0) return;
    let total = bytes;
    if (total === undefined) {
      total = 0;
      for (const item of items) total += this.options.sizeOf(item);
    }
    for (const item of items) this.queue.push(item);
    this.queuedByteCount += total;
    const { maxCount, maxBytes } = this.options.limits;
    if (this.queued >= maxCount || this.queuedByteCount >= maxBytes) this.pump();
    else if (this.lingerTimer === undefined) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.pump();
      }, this.options.lingerMs);
    }
  }

  /** Sends everything queued now (ignoring the linger) and resolves when nothing is queued or in flight. */
  async drain(): Promise<void> {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.pump();
    // After a pump, items wait only behind sends in flight: none in flight means nothing is left.
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Starts sends while there are items and capacity, partial batches included: it runs only when a
   * batch is full, the linger expired, a send finished (what waited meanwhile goes at once) or on drain.
   */
  private pump(): void {
    while (this.queued > 0 && this.inFlight < this.options.concurrency) {
      const [batch, bytes] = this.takeBatch();
      this.inFlight++;
      this.inFlightByteCount += bytes;
      let sending: Promise<void>;
      try {
        sending = this.options.send(batch);
      } catch (error) {
        sending = Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      sending
        .catch((error: unknown) => this.options.onSendError(batch, error))
        .finally(() => {
          this.inFlight--;
          this.inFlightByteCount -= bytes;
          if (this.queued > 0) this.pump();
          else if (this.inFlight === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
        });
    }
    if (this.queued === 0 && this.lingerTimer !== undefined) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
  }

  /** Takes the head batch within the limits (at least one item). */
  private takeBatch(): [T[], number] {
    const { maxCount, maxBytes } = this.options.limits;
    const start = this.queueHead;
    const end = Math.min(this.queue.length, start + maxCount);
    let bytes = 0;
    let index = start;
    while (index < end) {
      const size = this.options.sizeOf(this.queue[index] as T);
      if (index > start && bytes + size > maxBytes) break;
      bytes += size;
      index++;
    }
    const batch = this.queue.slice(start, index);
    this.queueHead = index;
    // Compact once the consumed head dominates, so the queue does not grow without bound.
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    this.queuedByteCount -= bytes;
    return [batch, bytes];
  }
}
