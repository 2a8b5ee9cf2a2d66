/**
 * The Event Processor Lambda (Kinesis event source mapping, batch size 100, bisect on
 * error, ReportBatchItemFailures). Configuration is read once per container, on the first
 * invocation, and the pipeline (clients, sinks, state connections) is reused by every
 * invocation that container serves.
 *
 * Returns `{ batchItemFailures: [{ itemIdentifier: <sequenceNumber> }] }` naming the first
 * record not finished, so retries and bisection resume there.
 */
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { loadConfig } from '../common/config.js';
import { createKinesisBatchHandler, type KinesisBatchHandler } from './lambda/batch-handler.js';
import { createPipelineFromConfig } from './pipeline-from-config.js';

let containerHandler: Promise<KinesisBatchHandler> | undefined;

async function createContainerHandler(): Promise<KinesisBatchHandler> {
  const runtime = await createPipelineFromConfig(loadConfig(process.env));
  return createKinesisBatchHandler(runtime.pipeline, runtime.logger);
}

/**
 * The Lambda entry point.
 *
 * @example
 *   // cdk: new lambda.Function(this, 'EventProcessor', { handler: 'lambda-handler.handler', … })
 */
export async function handler(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  containerHandler ??= createContainerHandler().catch((error: unknown) => {
    containerHandler = undefined; // a failed cold start must not poison the container for good
    throw error;
  });
  return (await containerHandler)(event);
}
