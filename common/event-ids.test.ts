import { describe, expect, it } from 'vitest';
import { createEventIdGenerator } from './event-ids.js';

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
