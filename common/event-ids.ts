/**
 * Fast UUIDv7 event ids. The `uuid` library draws fresh random bytes on every call
 * (~5 µs, half of the collector's per-event validation cost); here it gets its 16 random
 * bytes from a pooled buffer refilled by the OS CSPRNG 1,024 ids at a time (~0.3 µs).
 * Ids keep the v7 layout (48-bit millisecond time, version 7, RFC variant); within one
 * millisecond their order is random, which RFC 9562 allows and nothing here relies on.
 */
import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

const ID_RANDOM_BYTES = 16;
const POOL_IDS = 1024;

/**
 * Returns a generator of UUIDv7 strings backed by its own random pool.
 *
 * @example
 *   const newEventId = createEventIdGenerator();
 *   newEventId(); // '01a20ba1-4725-720f-a74c-b0ca2a5ee1c2'
 */
export function createEventIdGenerator(): () => string {
  const pool = Buffer.allocUnsafe(ID_RANDOM_BYTES * POOL_IDS);
  let offset = pool.length;
  return () => {
    if (offset + ID_RANDOM_BYTES > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const random = pool.subarray(offset, offset + ID_RANDOM_BYTES);
    offset += ID_RANDOM_BYTES;
    return v7({ random });
  };
}

/**
 * The one canonical form of an eventId: lower case. UUIDs are case-insensitive (RFC 9562), so
 * `ABC…` and `abc…` name the same event; every store (de-duplication claims, dead letters, the
 * OpenSearch `_id`) sees only this form. Applied to every accepted eventId, by the collector and
 * by the stream-side validation alike.
 *
 * @example
 *   canonicalEventId('0B3C2C7E-8F4E-4B7A-9A51-0C1D2E3F4A5B'); // '0b3c2c7e-8f4e-4b7a-9a51-0c1d2e3f4a5b'
 */
export function canonicalEventId(eventId: string): string {
  return eventId.toLowerCase();
}
