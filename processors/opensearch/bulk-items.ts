/**
 * Pure classification of a `_bulk` response, item by item. A `_bulk` call answers 200
 * even when items fail; each item has its own status, in request order:
 *
 * - 2xx: indexed (201 created, 200 updated: a replay overwrote the same `_id`).
 * - mapping errors (400 `mapper_parsing_exception`, `document_parsing_exception`,
 *   `illegal_argument_exception`, `strict_dynamic_mapping_exception`): the document can
 *   never be indexed as it is: `rejected`, for the pipeline to dead-letter.
 * - everything else (429 rejections, 5xx shard failures, and 4xx such as a read-only
 *   index block or a missing index) is transient from our side: `retry`. Retrying a
 *   blocked index is what lets the pipeline resume on its own once an operator fixes it.
 */
import { PipelineError } from '../../common/errors.js';
import type { BulkAction } from './bulk-body.js';

/** Error types that mean "this document does not fit the mapping": retrying cannot help. */
export const MAPPING_ERROR_TYPES: ReadonlySet<string> = new Set([
  'mapper_parsing_exception',
  'document_parsing_exception',
  'illegal_argument_exception',
  'strict_dynamic_mapping_exception',
]);

interface BulkItemResult {
  status?: number;
  error?: { type?: string; reason?: string; caused_by?: { type?: string; reason?: string } };
}

/** The parts of a `_bulk` response body this module reads. */
export interface BulkResponseBody {
  errors?: boolean;
  items?: Record<string, BulkItemResult>[];
}

/** An action and why it failed. */
export interface FailedAction {
  action: BulkAction;
  status: number;
  reason: string;
}

export interface BulkClassification {
  indexed: BulkAction[];
  retry: FailedAction[];
  rejected: FailedAction[];
}

function describeError(item: BulkItemResult): string {
  const error = item.error;
  if (!error) return `status ${item.status ?? '?'}`;
  const cause = error.caused_by ? ` (caused by ${error.caused_by.type}: ${error.caused_by.reason})` : '';
  return `${error.type ?? 'error'}: ${error.reason ?? ''}${cause}`;
}

const isMappingError = (item: BulkItemResult): boolean =>
  item.status === 400 && MAPPING_ERROR_TYPES.has(item.error?.type ?? '');

/**
 * Sorts the actions of one request into indexed, retry and rejected by their items.
 * Throws a retriable PipelineError when the response does not answer every action,
 * since then nothing can be said about any of them.
 */
export function classifyBulkItems(body: BulkResponseBody, actions: readonly BulkAction[]): BulkClassification {
  const items = body.items ?? [];
  if (items.length !== actions.length) {
    throw new PipelineError(
      'SINK_FAILED',
      `OpenSearch _bulk answered ${items.length} items for ${actions.length} operations`,
    );
  }
  const result: BulkClassification = { indexed: [], retry: [], rejected: [] };
  actions.forEach((action, position) => {
    const item = Object.values(items[position] ?? {})[0] ?? {};
    const status = item.status ?? 0;
    if (status >= 200 && status < 300 && !item.error) result.indexed.push(action);
    else if (isMappingError(item)) result.rejected.push({ action, status, reason: describeError(item) });
    else result.retry.push({ action, status, reason: describeError(item) });
  });
  return result;
}
