/**
 * AWS SDK v3 client construction in one place. Local endpoints (kinesalite, dynalite)
 * only speak HTTP/1.1, so a NodeHttpHandler is used whenever an endpoint override is set;
 * against real AWS the SDK defaults stand.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent } from 'node:http';
import type { Config } from './config.js';
import { createJsonItemClient, type DynamoItemClient } from './dynamo-item-client.js';

/** Credentials for local stand-ins, which accept any. Never used against AWS endpoints. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

function localOptions(endpoint: string | undefined, maxSockets: number) {
  if (!endpoint) return {};
  return {
    endpoint,
    credentials: LOCAL_CREDENTIALS,
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets }) }),
  };
}

export interface ClientOptions {
  /** Upper bound of concurrent sockets to a local endpoint. */
  maxSockets?: number;
  /** SDK-level retries; the pipeline retries throttled entries itself, so 1–3 is usual. */
  maxAttempts?: number;
  /**
   * Resolve each command's middleware stack once (the SDK's `cacheMiddleware`): saves up to a
   * millisecond of CPU per request, which is most of a counter write's cost on the processors'
   * hot path. Middleware added to the client after its first request is then ignored, so
   * clients that tests instrument leave it off (the default).
   */
  cacheMiddleware?: boolean;
}

export function createKinesisClient(config: Pick<Config, 'aws'>, options: ClientOptions = {}): KinesisClient {
  return new KinesisClient({
    region: config.aws.region,
    maxAttempts: options.maxAttempts ?? 3,
    cacheMiddleware: options.cacheMiddleware ?? false,
    ...localOptions(config.aws.kinesisEndpoint, options.maxSockets ?? 64),
  });
}

export function createDynamoClient(config: Pick<Config, 'aws'>, options: ClientOptions = {}): DynamoDBClient {
  return new DynamoDBClient({
    region: config.aws.region,
    maxAttempts: options.maxAttempts ?? 3,
    cacheMiddleware: options.cacheMiddleware ?? false,
    ...localOptions(config.aws.dynamodbEndpoint, options.maxSockets ?? 64),
  });
}

/**
 * The counter writes' client (common/dynamo-item-client.ts): DynamoDB's JSON protocol without the
 * SDK's per-request pipeline, on `dynamo`'s credentials and region, to the same endpoint
 * (`AWS_ENDPOINT_URL_DYNAMODB`, else the region's).
 */
export function createDynamoItemClient(
  config: Pick<Config, 'aws'>,
  dynamo: DynamoDBClient,
  options: { maxSockets: number },
): DynamoItemClient {
  return createJsonItemClient({
    endpoint: config.aws.dynamodbEndpoint ?? `https://dynamodb.${config.aws.region}.amazonaws.com`,
    region: config.aws.region,
    credentials: () => dynamo.config.credentials(),
    maxSockets: options.maxSockets,
  });
}

/** CloudWatch (the monitor's pipeline health in AWS); AWS_ENDPOINT_URL_CLOUDWATCH points it at a local fake. */
export function createCloudWatchClient(config: Pick<Config, 'aws'>, options: ClientOptions = {}): CloudWatchClient {
  return new CloudWatchClient({
    region: config.aws.region,
    maxAttempts: options.maxAttempts ?? 3,
    cacheMiddleware: options.cacheMiddleware ?? false,
    ...localOptions(config.aws.cloudwatchEndpoint, options.maxSockets ?? 4),
  });
}
