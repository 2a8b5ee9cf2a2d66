import { describe, expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { compactPosition } from './record-identity.js';
import { applyStateRequest, stateLost, type StateTables, type UserState } from './state-rules.js';
import type { StateRequest } from './types.js';

/** The rules over plain maps, with every saved user kept for inspection. */
function mapTables() {
  const claims = new Map<string, string>();
  const users = new Map<string, UserState>();
  const committed = new Map<string, string>();
  const tables: StateTables = {
    claimHolder: (eventId) => claims.get(eventId),
    claim: (eventId, identity) => void claims.set(eventId, identity),
    user: (key) => users.get(key),
    saveUser: (key, user) => void users.set(key, structuredClone(user)),
    admit: (_experimentId, _dimension, value) => value,
    committed: (shardId) => committed.get(shardId),
  };
  return { tables, users, committed, claims };
}

const SHARD = 'shardId-000000000003';
const LIMITS = { segmentValueCap: 50, userTotalLimit: 1_000n };
const request = (n: number, partial: Partial<StateRequest> = {}): StateRequest => ({
  eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  position: recordPosition(String(n), 0),
  experimentId: 'exp',
  userId: 'ann',
  variantMetric: 'v#m',
  segments: [['country', 'US']],
  scaledValue: 10n,
  ...partial,
});

describe('the state rules', () => {
  it('drop the memos of this shard that the committed position passed, and keep the others', () => {
    const { tables, users, committed } = mapTables();
    applyStateRequest(tables, SHARD, request(1), LIMITS);
    applyStateRequest(tables, 'shardId-000000000004', request(2), LIMITS);
    applyStateRequest(tables, SHARD, request(3), LIMITS);
    // Shard 3 committed up to record 1: its memo goes with the next change; record 3's (after it) stays,
    // and so does shard 4's memo at position 2, which shard 3's position says nothing about.
    committed.set(SHARD, compact(1));
    applyStateRequest(tables, SHARD, request(5), LIMITS);
    const memos = users.get('exp\u001fann')?.totals[0]?.memos.map(([identity]) => identity);
    expect(memos).toEqual(['4@' + compact(2), '3@' + compact(3), '3@' + compact(5)]);
  });

  it('keep the memo of the record exactly at the committed position only until the next change (at or before)', () => {
    const { tables, users, committed } = mapTables();
    applyStateRequest(tables, SHARD, request(1), LIMITS);
    applyStateRequest(tables, SHARD, request(2), LIMITS);
    committed.set(SHARD, compact(2));
    applyStateRequest(tables, SHARD, request(7), LIMITS);
    expect(users.get('exp\u001fann')?.totals[0]?.memos.map(([identity]) => identity)).toEqual(['3@' + compact(7)]);
  });

  it('claim the eventId only for an applied event', () => {
    const { tables, claims } = mapTables();
    applyStateRequest(tables, SHARD, request(1, { scaledValue: 2_000n }), LIMITS);
    expect(claims.size).toBe(0);
    applyStateRequest(tables, SHARD, request(2), LIMITS);
    expect([...claims.values()]).toEqual([`3@${compact(2)}`]);
  });
});

describe('stateLost', () => {
  it('names both epochs, or (none), and carries them as details', () => {
    const error = stateLost('epoch-a', undefined);
    expect(error).toMatchObject({ name: 'PipelineError', code: 'STATE_LOST', retriable: false });
    expect(error.message).toBe(
      'state store epoch is (none), but the counters were written with epoch-a: the store lost its data ' +
        '(flushed, restarted without persistence, failed over to an empty replica, evicted, or replaced). ' +
        'Counting stopped; see processors/README.md "State loss".',
    );
    expect(error.details).toEqual({ expected: 'epoch-a', actual: undefined });
    expect(stateLost('epoch-a', 'epoch-b').message).toContain('state store epoch is epoch-b, but');
  });
});

function compact(n: number): string {
  return compactPosition(recordPosition(String(n), 0));
}
