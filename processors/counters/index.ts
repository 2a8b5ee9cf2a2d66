/**
 * Exactly-once counters: the `CounterSink` over DynamoDB. See README.md for the protocol.
 * The ground truth and the table reader that tests and the bench compare with live in
 * processors/test-support/ (counter-ground-truth.ts, read-counters.ts).
 */
export { createCounterSink, type CounterSinkDeps } from './counter-sink.js';
export { isTransientDynamoError } from './dynamo-cell-writer.js';
