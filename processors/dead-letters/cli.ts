/**
 * Entry point of `npm run dlq -- <command>`: wires configuration from the environment,
 * a Kinesis client and the process streams into the program of cli-program.ts.
 *
 *   npm run dlq -- list [--limit N] [--reason rule] [--json]
 *   npm run dlq -- replay [--dry-run] [--limit N] [--reason rule]
 *
 * `replay` sends each letter only to the sinks that did not take it: letters already
 * counted go to OpenSearch (OPENSEARCH_ENDPOINT) and never back to the main stream.
 */
import { CommanderError } from 'commander';
import { createKinesisClient } from '../../common/aws-clients.js';
import { loadConfig } from '../../common/config.js';
import { pino } from 'pino';
import { buildDlqProgram } from './cli-program.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  // Logs go to stderr: stdout is the command's output (tables, --json lines) and must stay parseable.
  const logger = pino({ level: config.logLevel, base: { service: 'dlq' } }, pino.destination(2));
  const kinesis = createKinesisClient(config);
  try {
    await buildDlqProgram({ config, kinesis, logger, stdout: process.stdout, stderr: process.stderr }).parseAsync(
      process.argv,
    );
  } finally {
    kinesis.destroy();
  }
}

main().catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // Help and usage errors were already printed by commander.
    process.exitCode = error.exitCode;
    return;
  }
  process.stderr.write(`dlq: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
