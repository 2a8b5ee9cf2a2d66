/**
 * How the tests and the bench deliver a shard's records to a counter sink the way Kinesis
 * consumers do: in order, in batches cut anywhere, re-delivering from before the last
 * acknowledged record after any failure (bisect halves, resume from the middle,
 * overlapping re-deliveries), with faults injected into the DynamoDB client.
 * Not a test file itself.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureCountersTable } from '../../local/provision.js';
import type { CounterSink, ValidEvent } from '../types.js';

/** Creates an empty counters table (layout of common/counter-layout.ts; no metric-totals index: these tests never read it). */
export async function createCountersTable(dynamo: DynamoDBClient, tableName: string): Promise<void> {
  await ensureCountersTable(dynamo, tableName, { metricIndex: false });
}

/** A real DynamoDB client whose `send` throws an injected fault once a call budget is spent. */
export interface FaultyDynamo {
  client: DynamoDBClient;
  /** Calls allowed before every further call fails; `Infinity` heals the client. */
  failAfter(calls: number): void;
}

/** The error the fault injector throws: not an AWS error, so the sink must not retry it. */
export class InjectedCrash extends Error {
  constructor() {
    super('injected crash');
    this.name = 'InjectedCrash';
  }
}

/** True for the injected crash, however deep the sink wrapped it. */
export function isInjectedCrash(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    if (cause instanceof InjectedCrash) return true;
  }
  return false;
}

/** Wraps a real client (a simulated crash point, not a mock of DynamoDB's behaviour). */
export function injectFaults(real: DynamoDBClient): FaultyDynamo {
  let budget = Infinity;
  const client = new Proxy(real, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
      return (command: Parameters<DynamoDBClient['send']>[0]) => {
        if (budget <= 0) return Promise.reject(new InjectedCrash());
        budget--;
        return target.send(command);
      };
    },
  });
  return { client, failAfter: (calls) => (budget = calls) };
}

export interface DeliveryOptions {
  random: () => number;
  /** Largest batch cut. */
  maxBatch: number;
  /** Upper bound of deliveries, so a broken sink fails the test instead of hanging it. */
  maxDeliveries?: number;
  /** Called before each delivery: inject a crash (or not). */
  beforeDelivery?: (delivery: number) => void;
}

/**
 * Delivers every record at least once: each batch starts anywhere between a few records
 * before the acknowledged point and that point, and ends anywhere after it. A failed
 * batch leaves the acknowledged point where it was. Returns the deliveries made.
 */
export async function deliverWithRecuts(
  sink: CounterSink,
  shardId: string,
  records: readonly ValidEvent[],
  options: DeliveryOptions,
): Promise<{ deliveries: number; failures: number }> {
  const maxDeliveries = options.maxDeliveries ?? 10_000;
  let acknowledged = 0;
  let failures = 0;
  for (let delivery = 0; delivery < maxDeliveries; delivery++) {
    if (acknowledged >= records.length) return { deliveries: delivery, failures };
    const rewind = Math.floor(options.random() * Math.min(acknowledged, options.maxBatch) + 0.5);
    const start = acknowledged - (options.random() < 0.5 ? 0 : rewind);
    const end = Math.min(records.length, acknowledged + 1 + Math.floor(options.random() * options.maxBatch));
    options.beforeDelivery?.(delivery);
    try {
      await sink.writeBatch(shardId, records.slice(start, end));
      acknowledged = Math.max(acknowledged, end);
    } catch (error) {
      if (!isInjectedCrash(error)) throw error;
      failures++;
    }
  }
  throw new Error(`records not all acknowledged after ${maxDeliveries} deliveries`);
}
