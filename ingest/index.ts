/** The collector component's public surface. */
export { buildCollectorApp, type CollectorApp, type CollectorDeps } from './app.js';
export { startCollector, type RunningCollector } from './server.js';
export { createProducer, type Producer, type ProducerOptions, type UndeliverableReport } from './producer-client.js';
export { PutRecordsBatcher } from './put-records-batcher.js';
