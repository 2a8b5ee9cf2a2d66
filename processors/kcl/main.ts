/**
 * The node process the KCL MultiLang daemon launches (its `executableName`):
 * `node --import tsx processors/kcl/main.ts` (or the bundled JS). stdout carries the
 * MultiLang protocol, so logs go to stderr.
 */
import kcl from 'aws-kcl';
import { loadConfig } from '../../common/config.js';
import { createLogger } from '../../common/logger.js';
import { createPipelineFromConfig } from '../pipeline-from-config.js';
import { createKclRecordProcessor } from './record-processor.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel, name: 'processors-kcl', destinationFd: 2 });
  const runtime = await createPipelineFromConfig(config, { logger });
  const processor = createKclRecordProcessor({
    pipeline: runtime.pipeline,
    logger,
    onFatal: () => process.exit(1),
  });
  kcl(processor).run();
}

main().catch((error: unknown) => {
  process.stderr.write(`KCL record processor failed to start: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
