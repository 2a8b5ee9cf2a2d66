/**
 * How long an HTTP response asks its client to wait before trying again, for the retry
 * module's `delayHintMs` (common/retry.ts): `Retry-After` as delta-seconds or an HTTP date
 * (RFC 9110 §10.2.3), else `X-RateLimit-Reset` as epoch seconds (SendGrid). One reading for
 * every client of a third-party API (alerts, the design assistant).
 */

/**
 * Milliseconds the response asks to wait; undefined when no header is usable. A date or reset
 * in the past means 0.
 *
 * @example
 *   retryAfterMs(new Headers({ 'retry-after': '2' }), Date.now()); // → 2000
 *   retryAfterMs(new Headers({ 'retry-after': 'Thu, 26 Nov 2026 10:00:05 GMT' }), Date.parse('2026-11-26T10:00:00Z')); // → 5000
 */
export function retryAfterMs(headers: Headers, nowMs: number = Date.now()): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.round(Number(retryAfter) * 1000);
    // An HTTP date names its day and month; Date.parse alone would also read "-1" as a year.
    const date = /[a-z]/i.test(retryAfter) ? Date.parse(retryAfter) : Number.NaN;
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs);
  }
  const reset = headers.get('x-ratelimit-reset')?.trim();
  if (reset && /^\d+$/.test(reset)) return Math.max(0, Number(reset) * 1000 - nowMs);
  return undefined;
}
