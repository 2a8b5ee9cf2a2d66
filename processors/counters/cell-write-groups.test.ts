/**
 * When a group of cell writes closes, and how each batch learns its outcome (cell-write-groups.ts).
 * The writer is a recording stand-in: what a group writes is merged-cell-writes.test.ts's subject.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CellDelta } from './aggregate.js';
import { CellWriteGroups, MAX_GROUP_BATCHES, type GroupTicket, type GroupWriter } from './cell-write-groups.js';
import type { ShardCells } from './merged-cell-writes.js';

const NO_CELLS: readonly CellDelta[] = [];

/** A writer that records each group's shards and answers each batch with `requests` = its place in the group. */
function recordingWriter(answer?: (batches: readonly ShardCells[]) => PromiseSettledResult<{ requests: number }>[]) {
  const groups: string[][] = [];
  const write: GroupWriter = (batches) => {
    groups.push(batches.map((batch) => batch.shardId));
    return Promise.resolve(
      answer?.(batches) ?? batches.map((_, index) => ({ status: 'fulfilled', value: { requests: index + 1 } })),
    );
  };
  return { groups, write };
}

/**
 * Lets pending callbacks run without moving the (fake) clock, the join window's two turns of the
 * event loop included: what is written now was not waited for.
 */
const settle = async () => {
  for (let turn = 0; turn < 3; turn++) {
    await new Promise((resolve) => setImmediate(resolve));
    await vi.advanceTimersByTimeAsync(0);
  }
};

/** A batch entering the sink in the event loop's next turn (its read completed during another batch's state step). */
const enterNextTurn = (groups: CellWriteGroups): Promise<GroupTicket> =>
  new Promise((resolve) => setImmediate(() => resolve(groups.enter())));

beforeEach(() => {
  // setImmediate stays real: the join window is turns of the event loop, not time (settle lets them pass).
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('CellWriteGroups', () => {
  it('writes a batch alone at once when no other batch is in the sink', async () => {
    const writer = recordingWriter();
    const groups = new CellWriteGroups(writer.write, 10_000);
    const written = groups.enter().submit('a', NO_CELLS);
    await settle();
    expect(writer.groups).toEqual([['a']]);
    await expect(written).resolves.toEqual({ requests: 1 });
  });

  it('keeps a lone submission open for the next turn of the event loop: a batch entering then joins it', async () => {
    const writer = recordingWriter();
    const groups = new CellWriteGroups(writer.write, 10_000);
    const first = groups.enter().submit('a', NO_CELLS);
    // Another shard's read, due at the same grid instant, completed while 'a' ran its state step synchronously:
    // its callback runs in the loop's next turn, and its batch enters (and submits) there.
    const second = enterNextTurn(groups).then((ticket) => ticket.submit('b', NO_CELLS));
    await settle();
    // Before: 'a' was written alone at once, and 'b' after it.
    expect(writer.groups).toEqual([['a', 'b']]);
    expect(await Promise.all([first, second])).toEqual([{ requests: 1 }, { requests: 2 }]);
  });

  it('after the join window, waits for a batch that entered during it and has not submitted yet', async () => {
    const writer = recordingWriter();
    const groups = new CellWriteGroups(writer.write, 10_000);
    const first = groups.enter().submit('a', NO_CELLS);
    // 'b' enters in the loop's next turn, and is still in its state step when the window ends.
    const b = await enterNextTurn(groups);
    await settle();
    expect(writer.groups).toEqual([]);
    const second = b.submit('b', NO_CELLS);
    await settle();
    expect(writer.groups).toEqual([['a', 'b']]);
    expect(await Promise.all([first, second])).toEqual([{ requests: 1 }, { requests: 2 }]);
  });

  it('waits for the batches that entered, then writes them as one group in the order they submitted', async () => {
    const writer = recordingWriter();
    const groups = new CellWriteGroups(writer.write, 10_000);
    const [a, b, c] = [groups.enter(), groups.enter(), groups.enter()];
    const first = b.submit('b', NO_CELLS);
    const second = a.submit('a', NO_CELLS);
    await settle();
    expect(writer.groups).toEqual([]); // c is still in its state step
    const third = c.submit('c', NO_CELLS);
    await settle();
    expect(writer.groups).toEqual([['b', 'a', 'c']]);
    expect(await Promise.all([first, second, third])).toEqual([{ requests: 1 }, { requests: 2 }, { requests: 3 }]);
  });

  it('stops waiting for a batch that leaves without submitting (it failed, or had nothing to write)', async () => {
    const writer = recordingWriter();
    const groups = new CellWriteGroups(writer.write, 10_000);
    const [a, b] = [groups.enter(), groups.enter()];
    const written = a.submit('a', NO_CELLS);
    await settle();
    expect(writer.groups).toEqual([]);
    b.leave();
    await settle();
    expect(writer.groups).toEqual([['a']]);
    await expect(written).resolves.toEqual({ requests: 1 });
  });

  it('waits at most maxWaitMs from the group’s first submission', async () => {
    const writer = recordingWriter();
    const groups = new CellWriteGroups(writer.write, 100);
    const [a, slow] = [groups.enter(), groups.enter()];
    const written = a.submit('a', NO_CELLS);
    await vi.advanceTimersByTimeAsync(99);
    expect(writer.groups).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await expect(written).resolves.toEqual({ requests: 1 });
    expect(writer.groups).toEqual([['a']]);
    // The slow batch still writes, in a group of its own.
    await expect(slow.submit('slow', NO_CELLS)).resolves.toEqual({ requests: 1 });
    expect(writer.groups).toEqual([['a'], ['slow']]);
  });

  it('writes nothing when a batch leaves and no other batch has submitted', async () => {
    const writer = recordingWriter();
    const groups = new CellWriteGroups(writer.write, 100);
    groups.enter().leave();
    await settle(); // past any join window
    await vi.advanceTimersByTimeAsync(1_000);
    expect(writer.groups).toEqual([]);
  });

  it('never waits with maxWaitMs 0', async () => {
    const writer = recordingWriter();
    const groups = new CellWriteGroups(writer.write, 0);
    const [a] = [groups.enter(), groups.enter()];
    const written = a.submit('a', NO_CELLS);
    await settle();
    expect(writer.groups).toEqual([['a']]);
    await expect(written).resolves.toEqual({ requests: 1 });
  });

  it(`closes a group once it holds ${MAX_GROUP_BATCHES} batches, whoever else is in the sink`, async () => {
    const writer = recordingWriter();
    const groups = new CellWriteGroups(writer.write, 10_000);
    const tickets = Array.from({ length: MAX_GROUP_BATCHES + 1 }, () => groups.enter());
    const written = tickets.slice(0, MAX_GROUP_BATCHES).map((ticket, index) => ticket.submit(`s${index}`, NO_CELLS));
    await settle();
    await Promise.all(written);
    expect(writer.groups).toEqual([Array.from({ length: MAX_GROUP_BATCHES }, (_, index) => `s${index}`)]);
    tickets[MAX_GROUP_BATCHES]?.leave();
  });

  it('settles each batch with its own outcome, and every batch with the writer’s own failure', async () => {
    const refused = new Error('refused for b');
    const perBatch = recordingWriter((batches) =>
      batches.map((batch) =>
        batch.shardId === 'b'
          ? { status: 'rejected', reason: refused }
          : { status: 'fulfilled', value: { requests: 7 } },
      ),
    );
    const groups = new CellWriteGroups(perBatch.write, 10_000);
    const [a, b] = [groups.enter(), groups.enter()];
    const outcomes = await Promise.allSettled([a.submit('a', NO_CELLS), b.submit('b', NO_CELLS)]);
    expect(outcomes).toEqual([
      { status: 'fulfilled', value: { requests: 7 } },
      { status: 'rejected', reason: refused },
    ]);

    const broken = new Error('writer broke');
    const failing = new CellWriteGroups(() => Promise.reject(broken), 10_000);
    const [c, d] = [failing.enter(), failing.enter()];
    const failed = await Promise.allSettled([c.submit('c', NO_CELLS), d.submit('d', NO_CELLS)]);
    expect(failed).toEqual([
      { status: 'rejected', reason: broken },
      { status: 'rejected', reason: broken },
    ]);

    const short = new CellWriteGroups(() => Promise.resolve([]), 10_000);
    await expect(short.enter().submit('e', NO_CELLS)).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'cell writer settled 0 of 1 batches',
    });
  });

  it('times each group from its own first submission (a closed group’s timer is gone)', async () => {
    const writer = recordingWriter();
    const groups = new CellWriteGroups(writer.write, 100);
    const [a1, b1] = [groups.enter(), groups.enter()];
    const first = a1.submit('a', NO_CELLS); // t = 0: waits for b1, at most until t = 100
    await vi.advanceTimersByTimeAsync(50);
    const second = b1.submit('b', NO_CELLS); // t = 50: everyone is in, the group closes
    await settle();
    expect(writer.groups).toEqual([['a', 'b']]);
    await Promise.all([first, second]);
    const [a2] = [groups.enter(), groups.enter()];
    const third = a2.submit('a', NO_CELLS); // t = 50: waits until t = 150, not until the first group's t = 100
    await vi.advanceTimersByTimeAsync(99);
    expect(writer.groups).toEqual([['a', 'b']]);
    await vi.advanceTimersByTimeAsync(1);
    expect(writer.groups).toEqual([['a', 'b'], ['a']]);
    await third;
  });

  it('refuses a second submission of one ticket, and ignores a leave after a submission', async () => {
    const writer = recordingWriter();
    const groups = new CellWriteGroups(writer.write, 10_000);
    const ticket = groups.enter();
    await ticket.submit('a', NO_CELLS);
    await expect(ticket.submit('a', NO_CELLS)).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'cell write ticket already submitted',
    });
    ticket.leave();
    // The count of open batches was not decremented twice: a new batch alone still writes at once.
    const [next, other] = [groups.enter(), groups.enter()];
    const written = next.submit('b', NO_CELLS);
    await settle();
    expect(writer.groups).toEqual([['a']]);
    other.leave();
    await settle();
    expect(writer.groups).toEqual([['a'], ['b']]);
    await written;
    // A ticket that left cannot submit either.
    await expect(other.submit('c', NO_CELLS)).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'cell write ticket already left',
    });
  });
});
