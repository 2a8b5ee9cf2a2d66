import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClaimTable, HOLDER, uuidKeyHash } from './claim-table.js';

/** The n-th UUID of a test: distinct ids that differ only in their last digits, as a v7 series does. */
const uuid = (n: number): string => `0190a1b2-c3d4-7e5f-8a6b-${n.toString(16).padStart(12, '0')}`;
const HEAD = '0@3a1b2c';
/** The home position of a UUID key in a fresh table's first index (2,048 positions). */
const homeOf = (id: string): number => (uuidKeyHash(id) as number) & 2047;

/** The test's UUIDs 0 … count − 1 by their home position in a fresh table's first index. */
function uuidsByHome(count: number): Map<number, string[]> {
  const homes = new Map<number, string[]>();
  for (let n = 0; n < count; n++) {
    const id = uuid(n);
    const home = homeOf(id);
    const ids = homes.get(home);
    if (ids === undefined) homes.set(home, [id]);
    else ids.push(id);
  }
  return homes;
}

/** The first two of id(0), id(1), … (fewer than `limit`) that `keyOf` maps to the same number. */
function firstPairSharing(id: (n: number) => string, keyOf: (id: string) => number, limit: number): [string, string] {
  const seen = new Map<number, string>();
  for (let n = 0; n < limit; n++) {
    const candidate = id(n);
    const key = keyOf(candidate);
    const earlier = seen.get(key);
    if (earlier !== undefined) return [earlier, candidate];
    seen.set(key, candidate);
  }
  throw new Error(`no two of ${limit} ids share a key`);
}

describe('ClaimTable', () => {
  it('answers who holds a claim: none, the asking record itself, or another record', () => {
    const claims = new ClaimTable(10, 1_000, () => 0);
    claims.advance();
    expect(claims.holderOf(uuid(1), HEAD, 0)).toBe(HOLDER.none);
    claims.claim(uuid(1), HEAD, 0);
    expect(claims.holderOf(uuid(1), HEAD, 0)).toBe(HOLDER.thisRecord);
    expect(claims.holderOf(uuid(1), HEAD, 1)).toBe(HOLDER.another); // the same record, another event in it
    expect(claims.holderOf(uuid(1), '0@3a1b2d', 0)).toBe(HOLDER.another); // another record
    expect(claims.holderOf(uuid(1), '1@3a1b2c', 0)).toBe(HOLDER.another); // the same position on another shard
    expect(claims.holderOf(uuid(2), HEAD, 0)).toBe(HOLDER.none);
    expect(claims.size).toBe(1);
  });

  it('reads a UUID in either case as the same claim (UUIDs are case-insensitive), and keeps any other key as text', () => {
    const claims = new ClaimTable(10, 1_000, () => 0);
    claims.claim(uuid(0xabc), HEAD, 0);
    expect(claims.holderOf(uuid(0xabc).toUpperCase(), HEAD, 0)).toBe(HOLDER.thisRecord);
    claims.claim('retry-1', HEAD, 1);
    claims.claim('', HEAD, 2);
    expect([
      claims.holderOf('retry-1', HEAD, 1),
      claims.holderOf('', HEAD, 2),
      claims.holderOf('retry-2', HEAD, 1),
    ]).toEqual([HOLDER.thisRecord, HOLDER.thisRecord, HOLDER.none]);
    // Not a UUID: a dash out of place, a digit that is not hex.
    claims.claim('0190a1b2c-3d4-7e5f-8a6b-000000000001', HEAD, 3);
    claims.claim('0190a1b2-c3d4-7e5f-8a6b-00000000000g', HEAD, 4);
    expect(claims.holderOf(uuid(1), HEAD, 3)).toBe(HOLDER.none);
    expect(claims.holderOf('0190a1b2-c3d4-7e5f-8a6b-00000000000g', HEAD, 4)).toBe(HOLDER.thisRecord);
    expect(claims.size).toBe(5);
  });

  it('expires a claim exactly at its TTL from the call it was written in (fake clock), never answering it after', () => {
    let now = 1_000;
    const claims = new ClaimTable(10, 500, () => now);
    claims.advance();
    claims.claim(uuid(1), HEAD, 0);
    now = 1_499;
    claims.advance();
    expect(claims.holderOf(uuid(1), HEAD, 0)).toBe(HOLDER.thisRecord);
    claims.claim('text', HEAD, 1); // written at 1,499
    now = 1_500;
    claims.advance();
    expect([claims.holderOf(uuid(1), HEAD, 0), claims.holderOf('text', HEAD, 1), claims.size]).toEqual([
      HOLDER.none,
      HOLDER.thisRecord,
      1,
    ]);
    claims.claim(uuid(1), HEAD, 5); // a new claim starts a new TTL
    now = 1_999;
    claims.advance();
    expect([claims.holderOf(uuid(1), HEAD, 5), claims.holderOf('text', HEAD, 1)]).toEqual([
      HOLDER.thisRecord,
      HOLDER.none,
    ]);
    expect(claims.evictions).toBe(0);
  });

  it('gives every claim between two advances the time that advance read (one clock reading per call)', () => {
    let now = 0;
    let reads = 0;
    const claims = new ClaimTable(10, 100, () => {
      reads++;
      return now;
    });
    claims.advance();
    claims.claim(uuid(1), HEAD, 0);
    now = 60; // the clock moves during the call; the call's claims keep its time
    claims.claim(uuid(2), HEAD, 1);
    expect(reads).toBe(2); // the constructor and the advance: none per claim
    now = 99;
    claims.advance();
    expect(claims.size).toBe(2);
    now = 100;
    claims.advance();
    expect([claims.holderOf(uuid(1), HEAD, 0), claims.holderOf(uuid(2), HEAD, 1), claims.size]).toEqual([
      HOLDER.none,
      HOLDER.none,
      0,
    ]);
  });

  it('evicts the oldest claim when full, counted, and still expires the rest on time', () => {
    let now = 0;
    const claims = new ClaimTable(2, 100, () => now);
    claims.advance();
    claims.claim(uuid(1), HEAD, 1);
    now = 10;
    claims.advance();
    claims.claim('two', HEAD, 2);
    claims.claim(uuid(3), HEAD, 3); // evicts 1
    now = 20;
    claims.advance();
    claims.claim(uuid(4), HEAD, 4); // evicts two
    const holders = () => [uuid(1), 'two', uuid(3), uuid(4)].map((id, i) => claims.holderOf(id, HEAD, i + 1));
    expect([...holders(), claims.evictions]).toEqual([
      HOLDER.none,
      HOLDER.none,
      HOLDER.thisRecord,
      HOLDER.thisRecord,
      2,
    ]);
    now = 110;
    claims.advance();
    expect([...holders(), claims.size]).toEqual([HOLDER.none, HOLDER.none, HOLDER.none, HOLDER.thisRecord, 1]);
    now = 120;
    claims.advance();
    expect([claims.size, claims.evictions]).toEqual([0, 2]);
  });

  it('never expires early when the clock steps back: time does not decrease', () => {
    let now = 1_000;
    const claims = new ClaimTable(10, 100, () => now);
    claims.advance();
    claims.claim(uuid(1), HEAD, 0);
    now = 500; // stepped back
    claims.advance();
    claims.claim(uuid(2), HEAD, 0); // written at 1,000 (the latest time seen)
    now = 1_099;
    claims.advance();
    expect(claims.size).toBe(2);
    now = 1_100;
    claims.advance();
    expect(claims.size).toBe(0);
  });

  it('gives a held claim its new holder and keeps its expiry', () => {
    let now = 0;
    const claims = new ClaimTable(10, 100, () => now);
    claims.advance();
    claims.claim(uuid(1), HEAD, 0);
    now = 50;
    claims.advance();
    claims.claim(uuid(1), 'other', 7);
    expect([claims.holderOf(uuid(1), 'other', 7), claims.holderOf(uuid(1), HEAD, 0), claims.size]).toEqual([
      HOLDER.thisRecord,
      HOLDER.another,
      1,
    ]);
    now = 100;
    claims.advance();
    expect(claims.size).toBe(0);
  });

  it('clears', () => {
    const claims = new ClaimTable(10, 100, () => 0);
    claims.claim(uuid(1), HEAD, 0);
    claims.claim('text', HEAD, 1);
    claims.clear();
    expect([claims.holderOf(uuid(1), HEAD, 0), claims.holderOf('text', HEAD, 1), claims.size]).toEqual([
      HOLDER.none,
      HOLDER.none,
      0,
    ]);
    claims.claim(uuid(2), HEAD, 2);
    expect([claims.holderOf(uuid(2), HEAD, 2), claims.size, claims.evictions]).toEqual([HOLDER.thisRecord, 1, 0]);
  });

  it('keeps finding the claims probed past one that leaves the index, and only moves those whose probe path it was on', () => {
    // The first index has 2,048 positions. Keys picked by their home position there: a at h, b at h too (so
    // it probes on to h + 1), c at h + 1 (on to h + 2), d at h + 3.
    const homes = uuidsByHome(200_000);
    const h = [...homes.keys()].find(
      (home) => (homes.get(home)?.length ?? 0) >= 2 && homes.has((home + 1) & 2047) && homes.has((home + 3) & 2047),
    ) as number;
    const [a, b] = homes.get(h) as [string, string];
    const c = (homes.get((h + 1) & 2047) as string[])[0] as string;
    const d = (homes.get((h + 3) & 2047) as string[])[0] as string;
    let now = 0;
    const claims = new ClaimTable(100, 100, () => now);
    claims.advance();
    claims.claim(a, HEAD, 0); // expires first
    now = 10;
    claims.advance();
    for (const [sub, id] of [b, c, d].entries()) claims.claim(id, HEAD, sub + 1);
    now = 100;
    claims.advance(); // a leaves: b and c shift back, d (at its home) stays
    expect([a, b, c, d].map((id, sub) => claims.holderOf(id, HEAD, sub))).toEqual([
      HOLDER.none,
      HOLDER.thisRecord,
      HOLDER.thisRecord,
      HOLDER.thisRecord,
    ]);
    now = 110;
    claims.advance();
    expect([b, c, d].map((id, sub) => claims.holderOf(id, HEAD, sub + 1))).toEqual([
      HOLDER.none,
      HOLDER.none,
      HOLDER.none,
    ]);
  });

  it('leaves a claim at its home position when the one before it leaves the index', () => {
    const byHome = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let n = 0; pair === undefined; n++) {
      const home = homeOf(uuid(n));
      byHome.set(home, uuid(n));
      const before = byHome.get((home + 2047) & 2047);
      if (before !== undefined) pair = [before, uuid(n)];
    }
    const [first, second] = pair;
    let now = 0;
    const claims = new ClaimTable(100, 100, () => now);
    claims.advance();
    claims.claim(first, HEAD, 0);
    now = 10;
    claims.advance();
    claims.claim(second, HEAD, 1);
    now = 100;
    claims.advance();
    expect([claims.holderOf(first, HEAD, 0), claims.holderOf(second, HEAD, 1)]).toEqual([
      HOLDER.none,
      HOLDER.thisRecord,
    ]);
  });

  it('tells two UUIDs apart whose 32-bit hashes are equal (the key is compared, not only its hash)', () => {
    // Ids varying in their last 64 bits (a table's keys differing in one word never collide: each mixing step is a
    // bijection of it), drawn from a fixed sequence: about 10 equal hashes are expected among 300,000 of them.
    const hex8 = (value: number): string => (value >>> 0).toString(16).padStart(8, '0');
    const id = (n: number): string => {
      const high = hex8(Math.imul(n, 0x9e3779b1));
      return `0190a1b2-c3d4-7e5f-${high.slice(0, 4)}-${high.slice(4)}${hex8(Math.imul(n ^ 0x5bd1e995, 0x85ebca6b))}`;
    };
    const [first, second] = firstPairSharing(id, (key) => uuidKeyHash(key) as number, 300_000);
    const claims = new ClaimTable(10, 100, () => 0);
    claims.claim(first, HEAD, 1);
    expect([claims.holderOf(first, HEAD, 1), claims.holderOf(second, HEAD, 1)]).toEqual([
      HOLDER.thisRecord,
      HOLDER.none,
    ]);
    claims.claim(second, HEAD, 2);
    expect([claims.holderOf(first, HEAD, 1), claims.holderOf(second, HEAD, 2), claims.size]).toEqual([
      HOLDER.thisRecord,
      HOLDER.thisRecord,
      2,
    ]);
  });

  it('tells apart two UUIDs that differ in their first word only and share a home position (every word is compared)', () => {
    // Different hashes (one word apart), the same position in the first index (2,048 positions): the second is probed
    // past the first, whose last three words are its own.
    const id = (n: number): string => `${(n >>> 0).toString(16).padStart(8, '0')}-c3d4-7e5f-8a6b-0123456789ab`;
    const [first, second] = firstPairSharing(id, homeOf, 100_000);
    expect(uuidKeyHash(first)).not.toBe(uuidKeyHash(second));
    const claims = new ClaimTable(10, 100, () => 0);
    claims.claim(first, HEAD, 1);
    expect([claims.holderOf(first, HEAD, 1), claims.holderOf(second, HEAD, 1)]).toEqual([
      HOLDER.thisRecord,
      HOLDER.none,
    ]);
  });

  it('times a claim made after the clock stepped back at the latest time seen, also when it is the oldest held', () => {
    let now = 1_000;
    const claims = new ClaimTable(10, 100, () => now);
    claims.advance();
    now = 500; // stepped back, nothing held
    claims.advance();
    claims.claim(uuid(1), HEAD, 0); // written at 1,000
    now = 1_099;
    claims.advance();
    expect(claims.holderOf(uuid(1), HEAD, 0)).toBe(HOLDER.thisRecord);
  });

  it('matches a sub-sequence number that is not a number (NaN) with itself only', () => {
    const claims = new ClaimTable(10, 100, () => 0);
    claims.claim(uuid(1), HEAD, Number.NaN);
    claims.claim(uuid(2), HEAD, 3);
    expect([
      claims.holderOf(uuid(1), HEAD, Number.NaN),
      claims.holderOf(uuid(1), HEAD, 0),
      claims.holderOf(uuid(2), HEAD, Number.NaN),
    ]).toEqual([HOLDER.thisRecord, HOLDER.another, HOLDER.another]);
  });

  it('keeps every claim, UUID or text, in write order when the ring grows after its oldest claims expired (a ring that wrapped)', () => {
    let now = 0;
    const claims = new ClaimTable(100_000, 100, () => now);
    const key = (n: number): string => (n % 3 === 0 ? `text-${n}` : uuid(n));
    claims.advance();
    for (let n = 0; n < 600; n++) claims.claim(uuid(n), HEAD, n);
    now = 100;
    claims.advance(); // the first 600 expire: the ring's oldest slot is 600 now
    for (let n = 600; n < 2_000; n++) claims.claim(key(n), HEAD, n); // wraps, then grows
    now = 150;
    claims.advance();
    for (let n = 2_000; n < 3_000; n++) claims.claim(key(n), HEAD, n); // grows again
    expect(claims.size).toBe(2_400);
    for (let n = 600; n < 3_000; n++) expect(claims.holderOf(key(n), HEAD, n)).toBe(HOLDER.thisRecord);
    expect(claims.holderOf(uuid(5), HEAD, 5)).toBe(HOLDER.none);
    now = 200;
    claims.advance(); // the claims written at 100 expire, oldest first; those written at 150 stay
    expect(claims.size).toBe(1_000);
    expect([claims.holderOf(key(603), HEAD, 603), claims.holderOf(key(1_999), HEAD, 1_999)]).toEqual([
      HOLDER.none,
      HOLDER.none,
    ]);
    for (let n = 2_000; n < 3_000; n++) expect(claims.holderOf(key(n), HEAD, n)).toBe(HOLDER.thisRecord);
  });

  it('finds the rest of a cluster as each of its claims leaves in turn', () => {
    // x at home h + 1; a and b at home h: a at h, b probed on past x to h + 2. (Claims leave oldest first, and
    // backward-shift deletion leaves the table as if the claim had never come: the oldest is always at its home.)
    const homes = uuidsByHome(200_000);
    const h = [...homes.keys()].find(
      (home) => (homes.get(home)?.length ?? 0) >= 2 && homes.has((home + 1) & 2047),
    ) as number;
    const [a, b] = homes.get(h) as [string, string];
    const x = (homes.get((h + 1) & 2047) as string[])[0] as string;
    let now = 0;
    const claims = new ClaimTable(100, 100, () => now);
    for (const [i, id] of [x, a, b].entries()) {
      now = 10 * i;
      claims.advance();
      claims.claim(id, HEAD, i);
    }
    for (const [i, id] of [x, a, b].entries()) {
      now = 100 + 10 * i;
      claims.advance(); // id leaves
      expect([claims.holderOf(id, HEAD, i), claims.size]).toEqual([HOLDER.none, 2 - i]);
    }
  });

  it('refuses a bound below one claim', () => {
    expect(() => new ClaimTable(0, 100)).toThrow(/at least one claim \(maxEntries 0\)/);
    expect(() => new ClaimTable(1.5, 100)).toThrow(RangeError);
  });

  it('holds 100,000 claims of 1,000 records through its growth, finds each, and expires them all', () => {
    let now = 0;
    const claims = new ClaimTable(1_000_000, 1_000, () => now);
    claims.advance();
    for (let n = 0; n < 100_000; n++) claims.claim(uuid(n), `0@r${Math.floor(n / 100)}`, n % 100);
    expect(claims.size).toBe(100_000);
    for (let n = 0; n < 100_000; n += 7) {
      expect(claims.holderOf(uuid(n), `0@r${Math.floor(n / 100)}`, n % 100)).toBe(HOLDER.thisRecord);
    }
    expect(claims.holderOf(uuid(100_000), '0@r1000', 0)).toBe(HOLDER.none);
    now = 1_000;
    claims.advance();
    expect([claims.size, claims.holderOf(uuid(5), '0@r0', 5)]).toEqual([0, HOLDER.none]);
  });

  it('answers like a map of claims each with its own expiry, trimmed from its oldest (property, with colliding and recycled heads)', () => {
    // Keys: UUIDs and text, few enough to meet again, many enough to fill the index into clusters (the ring
    // grows past its first 1,024 slots); heads: a handful, so their interned numbers are dropped and reused.
    const key = fc.oneof(
      fc.nat(3_000).map((n) => uuid(n)),
      fc.nat(40).map((n) => `text-${n}`),
    );
    const op = fc.oneof(
      fc.record({ kind: fc.constant('advance' as const), by: fc.integer({ min: -20, max: 60 }) }),
      fc.record({ kind: fc.constant('claim' as const), key, head: fc.nat(4), sub: fc.nat(2), times: fc.nat(40) }),
      fc.record({ kind: fc.constant('ask' as const), key, head: fc.nat(4), sub: fc.nat(2) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_500 }), fc.array(op, { maxLength: 120 }), (bound, ops) => {
        let clock = 0;
        const claims = new ClaimTable(bound, 100, () => clock);
        let now = 0; // the model's call time: the latest clock reading
        const model = new Map<string, { head: number; sub: number; expiresAt: number }>();
        let evictions = 0;
        let serial = 0;
        const claimInModel = (id: string, head: number, sub: number): void => {
          const held = model.get(id);
          if (held) Object.assign(held, { head, sub });
          else {
            if (model.size === bound) {
              model.delete(model.keys().next().value as string);
              evictions++;
            }
            model.set(id, { head, sub, expiresAt: now + 100 });
          }
        };
        for (const step of ops) {
          if (step.kind === 'advance') {
            clock += step.by;
            now = Math.max(now, clock);
            claims.advance();
            for (const [id, claim] of model) if (claim.expiresAt <= now) model.delete(id);
          } else if (step.kind === 'claim') {
            // A run of claims: the key asked for, then fresh UUIDs (each its own), to fill the table.
            claims.claim(step.key, `h${step.head}`, step.sub);
            claimInModel(step.key, step.head, step.sub);
            for (let i = 0; i < step.times; i++) {
              const fresh = uuid(1_000_000 + serial++);
              claims.claim(fresh, `h${step.head}`, i);
              claimInModel(fresh, step.head, i);
            }
          } else {
            const held = model.get(step.key);
            const expected =
              held === undefined
                ? HOLDER.none
                : held.head === step.head && held.sub === step.sub
                  ? HOLDER.thisRecord
                  : HOLDER.another;
            expect(claims.holderOf(step.key, `h${step.head}`, step.sub)).toBe(expected);
          }
          expect([claims.size, claims.evictions]).toEqual([model.size, evictions]);
        }
        // Every claim the model holds is found, with its holder.
        for (const [id, held] of model) expect(claims.holderOf(id, `h${held.head}`, held.sub)).toBe(HOLDER.thisRecord);
      }),
      { numRuns: 300 },
    );
  });
});
