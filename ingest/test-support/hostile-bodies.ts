/**
 * Request bodies that reproduce the collector probes of issue 11, and a way to send raw bytes
 * through `app.inject` and see the answer's size.
 */
import type { CollectorApp } from '../app.js';

/**
 * A JSON array of `{}` objects, exactly `bytes` long (the amplification probe was 1,020,001 bytes:
 * 340,000 empty events). NDJSON: one `{}` per line.
 */
export function emptyObjectsBody(bytes: number, format: 'json' | 'ndjson' = 'json'): string {
  if (format === 'ndjson') {
    const lines = '{}\n'.repeat(Math.floor(bytes / 3));
    return lines + ' '.repeat(bytes - lines.length);
  }
  const events = Math.floor((bytes - 2) / 3);
  const body = `[${'{},'.repeat(events - 1)}{}`;
  return `${body}${' '.repeat(bytes - body.length - 1)}]`;
}

/** A JSON array of `count` copies of `event`. */
export const repeatedEvents = (event: Record<string, unknown>, count: number): string =>
  JSON.stringify(Array.from({ length: count }, () => event));

export interface RawAnswer {
  status: number;
  /** Bytes of the answer body. */
  bytes: number;
  /** Wall time of the request, ms. */
  ms: number;
  body: any;
}

/** POSTs `payload` (text or raw bytes) to /api/v1/events through `app.inject`. */
export async function injectEvents(
  app: CollectorApp,
  payload: string | Buffer,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<RawAnswer> {
  const started = performance.now();
  const response = await app.inject({ method: 'POST', url: '/api/v1/events', payload, headers });
  const ms = performance.now() - started;
  const text = response.body;
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.statusCode, bytes: response.rawPayload.length, ms, body };
}
