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

/** Bounds of one `_bulk` request (cut by common/micro-batcher.ts: at least one document per request). */
export type { MicroBatchLimits as BulkLimits } from '../../common/micro-batcher.js';

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
