/**
 * Entry point of `npm run state -- <command>` (see state-program.ts): configuration from the
 * environment, the state store the processors would use, a DynamoDB client.
 */
import { CommanderError } from 'commander';
import { createDynamoClient } from '../../common/aws-clients.js';
import { loadConfig } from '../../common/config.js';
import { createUserStateStoreFromConfig } from '../state/index.js';
import type { UserStateStore } from '../state/types.js';
import { buildStateProgram } from './state-program.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const dynamo = createDynamoClient(config);
  let state: UserStateStore | undefined;
  try {
    await buildStateProgram({
      config,
      dynamo,
      state: () => (state ??= createUserStateStoreFromConfig(config)),
      stdout: process.stdout,
    }).parseAsync(process.argv);
  } finally {
    await state?.close();
    dynamo.destroy();
  }
}

main().catch((error: unknown) => {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
    return;
  }
  process.stderr.write(`state: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
