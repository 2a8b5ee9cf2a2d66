/**
 * Seeded experiment workloads for the counter tests and the bench: several experiments,
 * variants and metrics, repeat users with changing segments, fractional values,
 * producer-retry duplicates (same eventId in a new record) and KPL sub-records.
 * Not a test file itself: tests and the bench import it.
 */
import type { StreamEvent } from '../../common/event-contract.js';
import type { ValidEvent } from '../types.js';

/** mulberry32: a tiny seeded PRNG, so a failing property run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface WorkloadOptions {
  seed: number;
  events: number;
  users: number;
  experiments?: number;
  /** Distinct countries (to exercise the segment cap). */
  countries?: number;
  /** Share of records that re-send an earlier eventId (producer retry). */
  duplicateRate?: number;
  /** Prefix of experiment ids, so parallel tests never share cells. */
  experimentPrefix?: string;
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

const uuidOf = (random: () => number): string => {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20)}`;
};

/** Generates events in stream order; duplicates are byte-identical re-sends of earlier events. */
export function generateWorkload(options: WorkloadOptions): StreamEvent[] {
  const random = seededRandom(options.seed);
  const experiments = Array.from(
    { length: options.experiments ?? 2 },
    (_, i) => `${options.experimentPrefix ?? 'exp'}-${i}`,
  );
  const countries = Array.from({ length: options.countries ?? 5 }, (_, i) => `C${i}`);
  const devices = ['ios', 'android', 'web+desktop'];
  const events: StreamEvent[] = [];
  for (let i = 0; i < options.events; i++) {
    const earlier = events[Math.floor(random() * events.length)];
    if (earlier && random() < (options.duplicateRate ?? 0.05)) {
      events.push(earlier);
      continue;
    }
    const userId = `u${Math.floor(random() * options.users)}`;
    const experimentId = pick(random, experiments);
    const variantId = userId.length % 2 === 0 ? 'control' : 'treatment';
    const impression = random() < 0.4;
    const value = impression ? 1 : random() < 0.5 ? Math.floor(random() * 100) : Math.round(random() * 1e7) / 1e3;
    const segments: Record<string, string> = { country: pick(random, countries), device: pick(random, devices) };
    if (random() < 0.5) segments.browser = pick(random, ['chrome', 'safari']);
    if (random() < 0.3) segments.plan = pick(random, ['free', 'pro']);
    events.push({
      version: 1,
      eventId: uuidOf(random),
      experimentId,
      variantId,
      userId,
      type: impression ? 'impression' : 'conversion',
      ...(impression ? {} : { metric: pick(random, ['purchase', 'click']) }),
      value,
      timestamp: 1_700_000_000_000 + i,
      receivedAt: 1_700_000_000_000 + i,
      segments,
    });
  }
  return events;
}

/**
 * Puts events into records of one shard, with kinesalite-like 56-digit sequence numbers;
 * about one record in five continues the previous KPL aggregate (next sub-sequence number).
 */
export function toShardRecords(shardId: string, events: readonly StreamEvent[], seed = 1): ValidEvent[] {
  const random = seededRandom(seed);
  let sequence = 0;
  let sub = 0;
  return events.map((event, index) => {
    if (index === 0 || sub >= 2 || random() < 0.8) {
      sequence += 1 + Math.floor(random() * 1000);
      sub = 0;
    } else {
      sub += 1;
    }
    const sequenceNumber = `4959${String(sequence).padStart(52, '0')}`;
    return { id: { shardId, sequenceNumber, subSequenceNumber: sub }, event };
  });
}
