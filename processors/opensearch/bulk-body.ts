/**
 * Pure building blocks of a `_bulk` request: the daily index an event belongs to, the
 * document indexed for it, the NDJSON action lines, and how actions are cut into
 * requests bounded by count and bytes. No client, no I/O.
 */
import type { ValidEvent } from '../types.js';

/** One `index` operation, ready to send: its two NDJSON lines and their size. */
export interface BulkAction {
  index: string;
  /** The document `_id`: the eventId, so a replay overwrites instead of duplicating. */
  id: string;
  /** The action line and the source line, each ending in `\n`. */
  lines: string;
  bytes: number;
  event: ValidEvent;
}

/** Bounds of one `_bulk` request. */
export interface BulkLimits {
  maxCount: number;
  maxBytes: number;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * `${prefix}-YYYY.MM.DD` of the event's own timestamp in UTC, so late events land in the
 * index of the day they happened, and a day's index can be dropped as a whole.
 *
 * @example
 *   dailyIndexName('experimentation-events', Date.UTC(2026, 10, 24, 3)); // 'experimentation-events-2026.11.24'
 */
export function dailyIndexName(prefix: string, timestampMs: number): string {
  const day = new Date(timestampMs);
  return `${prefix}-${day.getUTCFullYear()}.${pad2(day.getUTCMonth() + 1)}.${pad2(day.getUTCDate())}`;
}

/** The `index` operation for one event: `_id` = eventId, the event itself as the document. */
export function toBulkAction(event: ValidEvent, indexPrefix: string): BulkAction {
  const index = dailyIndexName(indexPrefix, event.event.timestamp);
  const id = event.event.eventId;
  const lines = `${JSON.stringify({ index: { _index: index, _id: id } })}\n${JSON.stringify(event.event)}\n`;
  return { index, id, lines, bytes: Buffer.byteLength(lines, 'utf8'), event };
}

/** The NDJSON body of a `_bulk` request. */
export function buildBulkBody(actions: readonly BulkAction[]): string {
  return actions.map((action) => action.lines).join('');
}

/**
 * How many actions from the head of `actions` fit one request. Always at least one, so
 * a single document larger than `maxBytes` is still sent (and refused or accepted by
 * the cluster's own `http.max_content_length`) instead of blocking the queue.
 */
export function headBatchSize(actions: readonly BulkAction[], limits: BulkLimits): number {
  let bytes = 0;
  let count = 0;
  for (const action of actions) {
    if (count > 0 && (count >= limits.maxCount || bytes + action.bytes > limits.maxBytes)) break;
    bytes += action.bytes;
    count += 1;
  }
  return count;
}

/** Cuts actions into requests that respect both limits, keeping their order. */
export function cutBulkBatches(actions: readonly BulkAction[], limits: BulkLimits): BulkAction[][] {
  const batches: BulkAction[][] = [];
  for (let start = 0; start < actions.length;) {
    const size = headBatchSize(actions.slice(start, start + limits.maxCount), limits);
    batches.push(actions.slice(start, start + size));
    start += size;
  }
  return batches;
}
