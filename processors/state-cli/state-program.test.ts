import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createDynamoClient } from '../../common/aws-clients.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import { establishStateEpoch, readRecordedEpoch } from '../counters/state-epoch.js';
import { createCountersTable } from '../test-support/counter-delivery.js';
import { createEmbeddedUserStateStore } from '../state/embedded-store.js';
import type { UserStateStore } from '../state/types.js';
import { buildStateProgram, stateVerdict } from './state-program.js';

const dynamo = createDynamoClient(testConfig());
const directories: string[] = [];
afterAll(async () => {
  dynamo.destroy();
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

async function run(state: UserStateStore, table: string, ...args: string[]) {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const config = testConfig({ DYNAMODB_TABLE_NAME: table, PROCESSOR_STATE_STORE: 'embedded' });
  let exitCode = 0;
  try {
    await buildStateProgram({ config, dynamo, state: () => state, stdout }).parseAsync(['node', 'state', ...args]);
  } catch (error) {
    exitCode = (error as { exitCode?: number }).exitCode ?? 1;
  }
  return { text, exitCode };
}

async function embeddedStore(): Promise<UserStateStore> {
  const directory = await mkdtemp(join(tmpdir(), 'state-cli-'));
  directories.push(directory);
  return createEmbeddedUserStateStore({ directory });
}

describe('npm run state (dynalite, embedded store)', () => {
  it('status says ok, then STATE_LOST with exit code 3 once the store is another one; accept-loss needs --yes', async () => {
    const table = randomName('counters');
    await createCountersTable(dynamo, table);
    const original = await embeddedStore();
    expect((await run(original, table, 'status')).text).toContain('not recorded yet');

    // What the processors do with their first batch: record the store's epoch.
    await establishStateEpoch(dynamo, table, original);
    expect((await run(original, table, 'status', '--json')).text).toContain('"verdict":"ok"');

    const replacement = await embeddedStore();
    const lost = await run(replacement, table, 'status');
    expect(lost.exitCode).toBe(3);
    expect(lost.text).toContain('STATE_LOST');

    const unconfirmed = await run(replacement, table, 'accept-loss');
    expect(unconfirmed.exitCode).toBe(2);
    expect(await readRecordedEpoch(dynamo, table)).toBe(await original.epoch());

    const accepted = await run(replacement, table, 'accept-loss', '--yes');
    expect(accepted.exitCode).toBe(0);
    expect(await readRecordedEpoch(dynamo, table)).toBe(await replacement.epoch());
    expect((await run(replacement, table, 'status')).text).toContain('ok: the counters were written');
    await original.close();
    await replacement.close();
  });

  it('judges epochs: none recorded, equal, different', () => {
    expect(stateVerdict(undefined, 'a')).toBe('not-recorded');
    expect(stateVerdict('a', 'a')).toBe('ok');
    expect(stateVerdict('a', 'b')).toBe('state-lost');
  });
});
