/**
 * Vitest global setup: one kinesalite and one dynalite process for the whole run, on
 * free loopback ports. Tests read the endpoints with `inject('kinesisEndpoint')` and
 * create resources with random names, so files never share state.
 */
import type { TestProject } from 'vitest/node';
import { startStandIn, type StandIn } from '../stand-ins.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kinesisEndpoint: string;
    dynamodbEndpoint: string;
    postgresUrl: string;
    redisUrl: string;
  }
}

let standIns: StandIn[] = [];

export async function setup(project: TestProject): Promise<void> {
  standIns = await Promise.all([startStandIn('kinesalite'), startStandIn('dynalite')]);
  const [kinesis, dynamo] = standIns as [StandIn, StandIn];
  project.provide('kinesisEndpoint', kinesis.endpoint);
  project.provide('dynamodbEndpoint', dynamo.endpoint);
  // The machine's real services (started by .ci/run when down).
  project.provide('postgresUrl', process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  project.provide('redisUrl', process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
}

export async function teardown(): Promise<void> {
  await Promise.all(standIns.map((standIn) => standIn.stop()));
}
