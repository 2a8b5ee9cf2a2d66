/**
 * Exactly-once counters: the `CounterSink` over DynamoDB, its ground truth, and a reader
 * of the counters table. See README.md for the protocol.
 */
export { createCounterSink, type CounterSinkDeps } from './counter-sink.js';
export {
  computeExpectedCounters,
  type CounterCellValues,
  type CounterTable,
  type GroundTruthOptions,
} from './ground-truth.js';
export { readCounters } from './read-counters.js';
export { isTransientDynamoError } from './dynamo-cell-writer.js';
