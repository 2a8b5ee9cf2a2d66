/**
 * The four events the recorded `_bulk` responses in ../fixtures answer for: their
 * eventIds and timestamps match the fixtures' `_id`s and daily `_index` names.
 */
import type { ValidEvent } from '../../types.js';

export const FIXTURE_INDEX_PREFIX = 'experimentation-events';

const FIXTURE_EVENTS = [
  ['0f8c1a52-6a3e-4c0b-9d2e-1f4b5c6d7e01', '2026-11-23T23:59:59.999Z'],
  ['0f8c1a52-6a3e-4c0b-9d2e-1f4b5c6d7e02', '2026-11-24T00:00:00.000Z'],
  ['0f8c1a52-6a3e-4c0b-9d2e-1f4b5c6d7e03', '2026-11-24T08:00:00.000Z'],
  ['0f8c1a52-6a3e-4c0b-9d2e-1f4b5c6d7e04', '2026-11-24T09:00:00.000Z'],
] as const;

/** A contract-valid event with this id and time, as the pipeline hands it to the sink. */
export function validEvent(eventId: string, isoTime: string, position = 0): ValidEvent {
  const timestamp = Date.parse(isoTime);
  return {
    id: { shardId: 'shardId-000000000000', sequenceNumber: String(49_600_000 + position), subSequenceNumber: 0 },
    event: {
      version: 1,
      eventId,
      type: 'conversion',
      experimentId: 'checkout-button',
      variantId: position % 2 === 0 ? 'control' : 'green',
      userId: `user-${position}`,
      metric: 'revenue',
      value: 19.99,
      timestamp,
      receivedAt: timestamp + 120,
      segments: { country: 'DE', device: 'mobile' },
    },
  };
}

/** The four fixture events, in the order the fixtures answer them. */
export const fixtureEvents = (): ValidEvent[] =>
  FIXTURE_EVENTS.map(([eventId, isoTime], position) => validEvent(eventId, isoTime, position));
