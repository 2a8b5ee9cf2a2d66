/**
 * `npm run audit -- verify <file>`: re-computes the signature chain of a compliance export
 * (NDJSON or CSV, from GET /api/v1/compliance/export) and names every event that does not
 * verify, the first one first. Keys come from AUDIT_HMAC_SECRET and
 * AUDIT_HMAC_PREVIOUS_SECRETS, as for the service (for `npm start`'s data:
 * `AUDIT_HMAC_SECRET=$(cat .local-data/audit-hmac-secret)`).
 *
 * Exit codes: 0 every event verifies, 1 an event does not verify, 2 the command could not
 * run (usage, configuration, unreadable file).
 */
import { createReadStream } from 'node:fs';
import { Command } from 'commander';
import { loadConfig } from '../../common/config.js';
import { auditKeyRingFromConfig } from './audit-keys.js';
import { describeChainReport, verifyExport } from './verify-chain.js';

const say = (line: string): void => void process.stdout.write(`${line}\n`);

const program = new Command()
  .name('npm run audit --')
  .description('Audit trail tools of the query API.')
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));

program
  .command('verify')
  .description('Verify the signature chain of a compliance export (NDJSON or CSV).')
  .argument('<file>', 'the export, as downloaded from GET /api/v1/compliance/export')
  .option('--json', 'print the report as JSON')
  .action(async (file: string, options: { json?: boolean }) => {
    try {
      const keys = auditKeyRingFromConfig(loadConfig(process.env));
      const report = await verifyExport(createReadStream(file), keys);
      if (options.json) say(JSON.stringify(report, null, 2));
      else describeChainReport(file, report).forEach(say);
      process.exitCode = report.ok ? 0 : 1;
    } catch (error) {
      process.stderr.write(`audit verify failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 2;
    }
  });

await program.parseAsync(process.argv);
