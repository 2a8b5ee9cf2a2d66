/**
 * Exposure tracking for GrowthBook SDKs pointed at our query API (query-api/sdk): a
 * `trackingCallback` that turns each experiment the SDK assigns into an impression event of
 * our contract and sends it to the collector.
 *
 *   SDK assigns user → trackingCallback(experiment, result[, user])
 *        → { type: "impression", experimentId: experiment.key, variantId: result.key,
 *            userId: result.hashValue, segments: <chosen SDK attributes as strings> }
 *        → browser: POST {collectorUrl}/api/v1/events (fetch, keepalive: survives page unload)
 *          Node:    the producer client (ingest/producer-client.ts: batches, retries, eventIds)
 *
 * No Node built-ins and no schema library are imported, so the module bundles for browsers
 * as it is. GrowthBook SDKs call the callback once per user and experiment (per instance);
 * the processors count each user once per cell whatever the number of impressions.
 *
 * @example
 *   // browser
 *   const gb = new GrowthBook({
 *     apiHost: 'https://api.example.com', clientKey: 'sdk-…', attributes: { id: userId, country: 'US' },
 *     trackingCallback: createBrowserTrackingCallback({
 *       collectorUrl: 'https://collect.example.com', segmentAttributes: ['country'], attributes: () => gb.getAttributes(),
 *     }),
 *   });
 *   // Node
 *   const producer = createProducer({ endpoint: 'http://127.0.0.1:8081' });
 *   new GrowthBook({ …, trackingCallback: createProducerTrackingCallback(producer, { segmentAttributes: ['country'], attributes: () => gb.getAttributes() }) });
 */
import type { IncomingEvent } from '../common/event-contract.js';

/** The fields of GrowthBook's `Experiment` the callback reads. */
export interface TrackedExperiment {
  key: string;
}

/** The fields of GrowthBook's `Result` the callback reads. */
export interface TrackedResult {
  /** The variation's `meta.key`: our variant id (query-api/sdk serves it so). */
  key: string;
  /** The hashed attribute's value: the user id. */
  hashValue: unknown;
  inExperiment: boolean;
}

/** The user context GrowthBook's multi-user client passes as the third argument. */
export interface TrackedUser {
  attributes?: Record<string, unknown>;
}

export interface ImpressionOptions {
  /** SDK attributes copied into `segments` (strings; numbers and booleans as text). Default none. */
  segmentAttributes?: readonly string[];
  /** The SDK's attributes when the SDK does not pass them (single-user `GrowthBook`: `() => gb.getAttributes()`). */
  attributes?: () => Record<string, unknown>;
}

/**
 * The contract's limits on a segment value (common/event-contract.ts SEGMENT_VALUE_MAX_LENGTH
 * and its printable pattern), restated so this module stays free of the schema library; a
 * test holds them together. Values outside them are left out rather than cut, which would
 * merge different values.
 */
export const SEGMENT_VALUE_LIMITS = Object.freeze({ maxLength: 64 });
/** Segment names follow the contract's key pattern (KEY_PATTERN, KEY_MAX_LENGTH). */
const SEGMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
// eslint-disable-next-line no-control-regex -- the control characters the contract refuses
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function segmentsOf(attributes: Record<string, unknown>, names: readonly string[]): Record<string, string> {
  const segments: Record<string, string> = {};
  for (const name of names) {
    if (!SEGMENT_NAME.test(name) || !Object.hasOwn(attributes, name)) continue;
    const value = attributes[name];
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') continue;
    const text = String(value);
    if (text.length === 0 || text.length > SEGMENT_VALUE_LIMITS.maxLength) continue;
    if (CONTROL_CHARACTERS.test(text) || LONE_SURROGATE.test(text)) continue;
    segments[name] = text;
  }
  return segments;
}

/**
 * The impression event of one GrowthBook assignment, or `undefined` when the user is not in
 * the experiment (nothing to count) or has no id.
 *
 * @example
 *   impressionFromGrowthBook({ key: 'checkout' }, { key: 'treatment', hashValue: 'u-1', inExperiment: true }, { country: 'US' }, ['country'])
 *   // { type: 'impression', experimentId: 'checkout', variantId: 'treatment', userId: 'u-1', segments: { country: 'US' } }
 */
export function impressionFromGrowthBook(
  experiment: TrackedExperiment,
  result: TrackedResult,
  attributes: Record<string, unknown> = {},
  segmentAttributes: readonly string[] = [],
): IncomingEvent | undefined {
  if (!result.inExperiment) return undefined;
  if (typeof result.hashValue !== 'string' && typeof result.hashValue !== 'number') return undefined;
  const userId = String(result.hashValue);
  if (userId.length === 0) return undefined;
  const segments = segmentsOf(attributes, segmentAttributes);
  return {
    type: 'impression',
    experimentId: experiment.key,
    variantId: result.key,
    userId,
    ...(Object.keys(segments).length > 0 ? { segments } : {}),
  };
}

/** A GrowthBook `trackingCallback` (single-user and multi-user SDK alike). */
export type GrowthBookTrackingCallback = (
  experiment: TrackedExperiment,
  result: TrackedResult,
  user?: TrackedUser,
) => void;

function impressionFor(
  options: ImpressionOptions,
  experiment: TrackedExperiment,
  result: TrackedResult,
  user: TrackedUser | undefined,
): IncomingEvent | undefined {
  const attributes = user?.attributes ?? options.attributes?.() ?? {};
  return impressionFromGrowthBook(experiment, result, attributes, options.segmentAttributes);
}

export interface BrowserTrackingOptions extends ImpressionOptions {
  /** The collector's base URL (same origin as the page, or a collector that answers CORS preflights). */
  collectorUrl: string;
  /** Sent as `x-api-key` when the collector requires producer keys (INGEST_API_KEYS). */
  apiKey?: string;
  /** Told about impressions that could not be sent (the browser retries nothing). */
  onError?: (error: unknown, event: IncomingEvent) => void;
  fetch?: typeof globalThis.fetch;
}

/**
 * A `trackingCallback` for browsers: one `POST /api/v1/events` per impression with
 * `keepalive`, so an impression made just before the page unloads is still delivered.
 *
 * @example
 *   trackingCallback: createBrowserTrackingCallback({ collectorUrl: 'https://collect.example.com', segmentAttributes: ['country'], attributes: () => gb.getAttributes() })
 */
export function createBrowserTrackingCallback(options: BrowserTrackingOptions): GrowthBookTrackingCallback {
  const url = `${options.collectorUrl.replace(/\/+$/, '')}/api/v1/events`;
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  return (experiment, result, user) => {
    const event = impressionFor(options, experiment, result, user);
    if (event === undefined) return;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.apiKey !== undefined) headers['x-api-key'] = options.apiKey;
    fetchImpl(url, { method: 'POST', headers, body: JSON.stringify([event]), keepalive: true })
      .then((response) => {
        if (!response.ok) throw new Error(`collector answered ${response.status}`);
      })
      .catch((error: unknown) => options.onError?.(error, event));
  };
}

/** What the Node callback needs of the producer client (ingest/producer-client.ts `Producer`). */
export interface ImpressionProducer {
  send(event: IncomingEvent): boolean;
}

/**
 * A `trackingCallback` for Node services: impressions go through the producer client, which
 * batches, assigns `eventId`s, retries and reports what it could not deliver
 * (`onUndeliverable`). Close the producer on shutdown to flush.
 *
 * @example
 *   trackingCallback: createProducerTrackingCallback(producer, { segmentAttributes: ['country'] })
 */
export function createProducerTrackingCallback(
  producer: ImpressionProducer,
  options: ImpressionOptions = {},
): GrowthBookTrackingCallback {
  return (experiment, result, user) => {
    const event = impressionFor(options, experiment, result, user);
    if (event !== undefined) producer.send(event);
  };
}
