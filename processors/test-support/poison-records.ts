/**
 * Test helper for the poison-record proof (processors/poison-records.test.ts): every known
 * poison of issue 10 as the bytes a producer could put on the stream directly (bypassing the
 * collector), interleaved between good records, each record carrying what must become of it:
 * the events the counters must count, the eventIds the index must receive, and the dead
 * letters (rule, field, takenBy) its user records must end as. Also the `_bulk` answer of the
 * fake OpenSearch that refuses chosen documents with the recorded mapping error.
 * Not a test file itself.
 */
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { StreamEvent } from '../../common/event-contract.js';
import { toWorkloadRecords } from './workload-records.js';
import { seededRandom } from '../../local/test-support/counter-workload.js';
import {
  allCreated,
  loadFixture,
  type ReceivedRequest,
  type RecordedResponse,
} from '../opensearch/test-support/recorded-opensearch.js';
import { kplAggregate } from './pipeline-doubles.js';
import { compareSequenceNumbers } from '../sequence-number.js';
import type { DeliverySink } from '../types.js';

/** The dead letter one user record must end as. */
export interface ExpectedLetter {
  /** Which poison this is, for readable failures. */
  poison: string;
  subSequenceNumber: number;
  field: string;
  rule: string;
  takenBy: DeliverySink[];
}

/** One Kinesis record of the proof and what must become of it. */
export interface ProofRecord {
  partitionKey: string;
  data: Buffer;
  /** Events the counters must count from this record, in order (the ground truth's input). */
  counted: StreamEvent[];
  /** eventIds the index must receive from this record. */
  indexed: string[];
  /** Dead letters of this record's user records (none for a good record). */
  letters: ExpectedLetter[];
}

/** What the proof puts on the stream, and the one document the fake OpenSearch refuses. */
export interface PoisonProof {
  records: ProofRecord[];
  refusedDocumentId: string;
}

/** The whale's conversions: each alone is inside the per-event bound, two exceed the user-total limit. */
export const WHALE_VALUE = 99999999.357543;
export const WHALE_CONVERSIONS = 11;
/** Over the per-event bound (MAX_EVENT_VALUE): refused by decoding. Written as this exact JSON number. */
export const OVERSIZED_VALUE_TEXT = '999999999999.357543';
/** Above the largest JavaScript date (8.64e15): once made the index name `…-NaN.NaN.NaN`. */
export const FAR_FUTURE_MS = 9e15;

/** A deterministic, contract-valid v4 UUID per proof event, distinct from the seeded workload's random ones. */
const proofEventId = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const plain = (partitionKey: string, data: Buffer, fate: Omit<ProofRecord, 'partitionKey' | 'data'>): ProofRecord => ({
  partitionKey,
  data,
  ...fate,
});

const json = (event: StreamEvent): Buffer => Buffer.from(JSON.stringify(event));

/** The event's JSON with its `value` written as `valueText` verbatim (JSON.stringify would shorten it). */
function withRawValue(event: StreamEvent, valueText: string): Buffer {
  const text = JSON.stringify({ ...event, value: 0 });
  return Buffer.from(text.replace('"value":0', `"value":${valueText}`));
}

/** The event's JSON with the userId replaced by raw bytes (to put bytes that are not UTF-8 on the stream). */
function withRawUserIdBytes(event: StreamEvent, userIdBytes: Buffer): Buffer {
  const [head, tail] = JSON.stringify({ ...event, userId: '@@' }).split('@@') as [string, string];
  return Buffer.concat([Buffer.from(head), userIdBytes, Buffer.from(tail)]);
}

/** JSON text of an event whose userId holds a lone surrogate: the surrogate escaped, as the producer wrote it. */
function withLoneSurrogateUserId(event: StreamEvent, userId: string, escaped: string): Buffer {
  const data = json({ ...event, userId });
  if (!data.toString('latin1').includes(`"userId":"${escaped}"`)) {
    throw new Error(`expected the JSON bytes to hold "userId":"${escaped}"`);
  }
  return data;
}

const letter = (
  poison: string,
  field: string,
  rule: string,
  takenBy: DeliverySink[] = [],
  sub = 0,
): ExpectedLetter => ({
  poison,
  subSequenceNumber: sub,
  field,
  rule,
  takenBy,
});

/** Every poison of issue 10 §4 as records, in an order the caller may shuffle (the whale's stay in order). */
function poisonRecords(template: StreamEvent, repeatUser: StreamEvent): { records: ProofRecord[]; refused: string } {
  let n = 0;
  const base = (overrides: Partial<StreamEvent>): StreamEvent => ({
    ...template,
    eventId: proofEventId(++n),
    type: 'conversion',
    metric: 'purchase',
    value: 3,
    ...overrides,
  });
  const records: ProofRecord[] = [];

  // 1. The whale: the first conversion counts, the other ten would take the total past MAX_USER_TOTAL.
  const whale = { userId: 'whale', variantId: 'treatment', segments: { country: 'C1', device: 'ios' } };
  for (let i = 0; i < WHALE_CONVERSIONS; i++) {
    const event = base({ ...whale, value: WHALE_VALUE });
    records.push(
      plain('whale', json(event), {
        counted: i === 0 ? [event] : [],
        indexed: [event.eventId],
        letters: i === 0 ? [] : [letter(`whale conversion ${i + 1}`, 'value', 'user-total-limit', ['index'])],
      }),
    );
  }
  records.push(
    plain('whale', withRawValue(base(whale), OVERSIZED_VALUE_TEXT), {
      counted: [],
      indexed: [],
      letters: [letter(`value ${OVERSIZED_VALUE_TEXT}`, 'value', 'range')],
    }),
  );

  // 2. Dates no sink can store.
  records.push(
    plain('time-traveller', json(base({ userId: 'time-traveller', timestamp: FAR_FUTURE_MS })), {
      counted: [],
      indexed: [],
      letters: [letter('timestamp 9e15', 'timestamp', 'date-range')],
    }),
    plain('time-traveller', json(base({ userId: 'time-traveller', receivedAt: FAR_FUTURE_MS })), {
      counted: [],
      indexed: [],
      letters: [letter('receivedAt 9e15', 'receivedAt', 'date-range')],
    }),
  );

  // 3. A good event of a repeat user whose document the index refuses: counted, and dead-lettered for the index.
  const refused = base({
    experimentId: repeatUser.experimentId,
    variantId: repeatUser.variantId,
    userId: repeatUser.userId,
    value: 42.5,
    ...(repeatUser.segments ? { segments: repeatUser.segments } : {}),
  });
  records.push(
    plain(refused.userId, json(refused), {
      counted: [refused],
      indexed: [refused.eventId],
      letters: [letter('index mapping conflict', '(event)', 'index-rejected', ['counters'])],
    }),
  );

  // 4. Ill-formed Unicode: lone surrogates escaped in the JSON text, and bytes that are not UTF-8.
  records.push(
    plain('lone-high-1', withLoneSurrogateUserId(base({}), 'u\ud800', 'u\\ud800'), {
      counted: [],
      indexed: [],
      letters: [letter('userId u\\ud800', 'userId', 'well-formed-unicode')],
    }),
    plain('lone-high-2', withLoneSurrogateUserId(base({}), 'u\udbff', 'u\\udbff'), {
      counted: [],
      indexed: [],
      letters: [letter('userId u\\udbff', 'userId', 'well-formed-unicode')],
    }),
    plain('lone-segment', json(base({ userId: 'lone-segment', segments: { country: '\udc00' } })), {
      counted: [],
      indexed: [],
      letters: [letter('segments.country \\udc00', 'segments.country', 'well-formed-unicode')],
    }),
    plain('not-utf8-ff', withRawUserIdBytes(base({}), Buffer.from([0x75, 0xff])), {
      counted: [],
      indexed: [],
      letters: [letter('userId bytes 75 ff', '(event)', 'well-formed-unicode')],
    }),
    // A surrogate encoded as if it were a character (CESU-8 / WTF-8): not UTF-8 either.
    plain('not-utf8-cesu', withRawUserIdBytes(base({}), Buffer.from([0x75, 0xed, 0xa0, 0x80])), {
      counted: [],
      indexed: [],
      letters: [letter('userId bytes 75 ed a0 80', '(event)', 'well-formed-unicode')],
    }),
  );

  // 5. A KPL aggregate: good user records around poison ones.
  const kplUser = { userId: 'kpl-user', segments: { country: 'C2', device: 'web+desktop' } };
  const first = base({ ...kplUser, type: 'impression', value: 1 });
  delete first.metric;
  const loneInside = base({ userId: 'kpl\udfff' });
  const futureInside = base({ ...kplUser, timestamp: FAR_FUTURE_MS });
  const oversizedInside = base({ ...kplUser, value: 1e12 });
  const last = base({ ...kplUser, value: 7.25 });
  records.push(
    plain('kpl-mixed', kplAggregate([first, loneInside, futureInside, oversizedInside, last]).data, {
      counted: [first, last],
      indexed: [first.eventId, last.eventId],
      letters: [
        letter('aggregate: userId kpl\\udfff', 'userId', 'well-formed-unicode', [], 1),
        letter('aggregate: timestamp 9e15', 'timestamp', 'date-range', [], 2),
        letter('aggregate: value 1e12', 'value', 'range', [], 3),
      ],
    }),
  );
  return { records, refused: refused.eventId };
}

/**
 * The good events as records (repeat users, KPL aggregates of a user's consecutive events,
 * producer-retry duplicates) with every poison inserted between them at seeded positions.
 * The whale's records keep their order (they share a partition key, so a shard reads them in
 * that order, and "the first one counts" is well defined).
 *
 * @example
 *   const { records, refusedDocumentId } = buildPoisonProof(generateWorkload({ seed: 1, events: 200, users: 30 }), 7);
 */
export function buildPoisonProof(goodEvents: readonly StreamEvent[], seed: number): PoisonProof {
  const random = seededRandom(seed);
  const good: ProofRecord[] = toWorkloadRecords(goodEvents, { random, aggregateRate: 0.2, malformed: 0 }).map(
    (record) => ({
      partitionKey: record.partitionKey,
      data: record.data,
      counted: record.events,
      indexed: record.events.map((event) => event.eventId),
      letters: [],
    }),
  );
  const repeatUser = goodEvents.find((event) => goodEvents.filter((other) => other.userId === event.userId).length > 2);
  if (!repeatUser) throw new Error('the workload has no repeat user');
  const { records: poisons, refused } = poisonRecords(goodEvents[0]!, repeatUser);

  // Seeded shuffle of the poisons, then the whale's back in their own order at the whale's slots.
  const built = new Map(poisons.map((record, i) => [record, i]));
  for (let i = poisons.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [poisons[i], poisons[j]] = [poisons[j]!, poisons[i]!];
  }
  const whaleSlots = poisons.flatMap((record, i) => (record.partitionKey === 'whale' ? [i] : []));
  const whaleRecords = whaleSlots.map((i) => poisons[i]!).sort((a, b) => built.get(a)! - built.get(b)!);
  whaleSlots.forEach((slot, k) => (poisons[slot] = whaleRecords[k]!));

  // Distinct, sorted slots between good records (never first or last), filled in poison order.
  const slots = new Set<number>();
  while (slots.size < poisons.length) slots.add(1 + Math.floor(random() * (good.length - 1)));
  const sortedSlots = [...slots].sort((a, b) => a - b);
  const records: ProofRecord[] = [];
  let next = 0;
  good.forEach((record, i) => {
    while (next < poisons.length && sortedSlots[next] === i) records.push(poisons[next++]!);
    records.push(record);
  });
  return { records, refusedDocumentId: refused };
}

/** Where a record landed. */
export interface PutPosition {
  shardId: string;
  sequenceNumber: string;
}

/**
 * Puts the records in order (500 per call) and returns each one's position and, per shard,
 * the last sequence number put there (where the shard's checkpoint must end).
 */
export async function putProofRecords(
  kinesis: KinesisClient,
  streamName: string,
  records: readonly ProofRecord[],
): Promise<{ positions: PutPosition[]; lastByShard: Map<string, string> }> {
  const positions: PutPosition[] = [];
  const lastByShard = new Map<string, string>();
  for (let start = 0; start < records.length; start += 500) {
    const out = await kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: records.slice(start, start + 500).map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })),
      }),
    );
    if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records were not put`);
    for (const entry of out.Records ?? []) {
      const position = { shardId: entry.ShardId!, sequenceNumber: entry.SequenceNumber! };
      positions.push(position);
      const known = lastByShard.get(position.shardId);
      if (!known || compareSequenceNumbers(position.sequenceNumber, known) > 0) {
        lastByShard.set(position.shardId, position.sequenceNumber);
      }
    }
  }
  return { positions, lastByShard };
}

/** The value the recorded mapping conflict quotes. */
const RECORDED_VALUE = '19.99';

interface BulkItem {
  index: Record<string, unknown> & { _id?: string; error?: Record<string, unknown> };
}

/**
 * OpenSearch's item for an index name it cannot create (upper case, as in `…-NaN.NaN.NaN`, or a
 * character it forbids). Shaped like the cluster's answer (not recorded here: no cluster can
 * run here); what made an event with a timestamp past 8.64e15 retry forever.
 */
function invalidIndexNameItem(action: { _index: string; _id: string }): BulkItem | undefined {
  const name = action._index;
  const valid = name === name.toLowerCase() && !/[\\/*?"<>| ,#:]/.test(name) && !/^[-_+]/.test(name);
  if (valid) return undefined;
  return {
    index: {
      _index: name,
      _id: action._id,
      status: 400,
      error: {
        type: 'invalid_index_name_exception',
        reason: `Invalid index name [${name}], must be lowercase`,
        index: name,
        index_uuid: '_na_',
      },
    },
  };
}

/**
 * A `_bulk` responder for the fake OpenSearch: documents whose `_id` is in `refusedIds` get the
 * recorded mapping conflict (`mapper_parsing_exception`, item status 400, in a 200 response),
 * a document bound for an index name OpenSearch cannot create gets `invalid_index_name_exception`
 * as the real cluster answers, every other one the recorded "created" item.
 *
 * @example const server = await startRecordedOpenSearch([refuseDocumentsWithMappingError(new Set([eventId]))]);
 */
export function refuseDocumentsWithMappingError(
  refusedIds: ReadonlySet<string>,
): (request: ReceivedRequest) => RecordedResponse {
  const recorded = (loadFixture('bulk-mapping-errors').body as { items: BulkItem[] }).items[1]!.index;
  const recordedId = String(recorded._id);
  const recordedError = recorded.error ?? {};
  return (request) => {
    const created = (allCreated(request).body as { items: BulkItem[] }).items;
    const items = request.actions.map((action, position): BulkItem => {
      const invalidName = invalidIndexNameItem(action);
      if (invalidName) return invalidName;
      if (!refusedIds.has(action._id)) return created[position]!;
      // The recorded conflict (a decimal in a `long` field), told about this document and its value.
      const value = String(request.documents[position]?.['value']);
      const causedBy = recordedError['caused_by'] as Record<string, unknown>;
      const error = {
        ...recordedError,
        index: action._index,
        reason: String(recordedError['reason']).replace(recordedId, action._id).replace(RECORDED_VALUE, value),
        caused_by: { ...causedBy, reason: String(causedBy['reason']).replace(RECORDED_VALUE, value) },
      };
      return { index: { ...recorded, _index: action._index, _id: action._id, error } };
    });
    return {
      status: 200,
      body: { took: 4, errors: items.some((item) => item.index.error !== undefined), items },
    };
  };
}
