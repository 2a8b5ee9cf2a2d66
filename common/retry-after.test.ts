import { describe, expect, it } from 'vitest';
import { retryAfterMs } from './retry-after.js';

describe('retryAfterMs', () => {
  const now = Date.parse('2026-11-26T10:00:00Z');
  const wait = (headers: Record<string, string>) => retryAfterMs(new Headers(headers), now);

  it('reads Retry-After as delta-seconds (fractions rounded to ms) or an HTTP date', () => {
    expect(wait({ 'retry-after': '2' })).toBe(2000);
    expect(wait({ 'retry-after': ' 0.5 ' })).toBe(500);
    expect(wait({ 'retry-after': '0' })).toBe(0);
    expect(wait({ 'retry-after': '12' })).toBe(12_000);
    expect(wait({ 'retry-after': '0.25' })).toBe(250);
    expect(wait({ 'retry-after': 'Thu, 26 Nov 2026 10:00:05 GMT' })).toBe(5000);
    expect(wait({ 'retry-after': 'Thu, 26 Nov 2026 09:00:00 GMT' })).toBe(0);
  });

  it("falls back to X-RateLimit-Reset (epoch seconds, SendGrid's), a reset in the past meaning now", () => {
    expect(wait({ 'x-ratelimit-reset': String(now / 1000 + 3) })).toBe(3000);
    expect(wait({ 'x-ratelimit-reset': String(now / 1000 - 3) })).toBe(0);
    expect(wait({ 'retry-after': 'soon', 'x-ratelimit-reset': String(now / 1000 + 7) })).toBe(7000);
    expect(wait({ 'retry-after': '1', 'x-ratelimit-reset': String(now / 1000 + 7) })).toBe(1000);
  });

  it('answers undefined when nothing is usable', () => {
    expect(wait({})).toBeUndefined();
    expect(wait({ 'retry-after': 'soon' })).toBeUndefined();
    expect(wait({ 'retry-after': '2abc' })).toBeUndefined();
    expect(wait({ 'retry-after': '   ' })).toBeUndefined();
    expect(wait({ 'retry-after': '-1' })).toBeUndefined();
    expect(wait({ 'x-ratelimit-reset': '12.5' })).toBeUndefined();
  });
});
