import { describe, expect, it } from 'vitest';
import { canonicalEventId, createEventIdGenerator } from './event-ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('createEventIdGenerator', () => {
  it('makes unique UUIDv7 ids carrying the current millisecond, across pool refills', () => {
    const next = createEventIdGenerator();
    const before = Date.now();
    const ids = Array.from({ length: 5000 }, next);
    const after = Date.now();
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(UUID_V7);
      const millis = parseInt(id.replaceAll('-', '').slice(0, 12), 16);
      expect(millis).toBeGreaterThanOrEqual(before);
      expect(millis).toBeLessThanOrEqual(after);
    }
  });
});

describe('canonicalEventId', () => {
  it('lower-cases a UUID, so every case spelling of one id is the same event', () => {
    expect(canonicalEventId('0B3C2C7E-8F4E-4B7A-9A51-0C1D2E3F4A5B')).toBe('0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b');
    expect(canonicalEventId('0b3c2c7e-8F4E-4b7a-9A51-0c1d2e3f4a5b')).toBe('0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b');
  });

  it('leaves generated ids as they are: they are canonical already', () => {
    const next = createEventIdGenerator();
    for (let i = 0; i < 100; i++) {
      const id = next();
      expect(canonicalEventId(id)).toBe(id);
    }
  });
});
