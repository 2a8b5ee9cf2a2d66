/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL and exits. The service
 * also migrates at start-up; this command is for deploy pipelines that migrate first.
 */
import { loadConfig } from '../../common/config.js';
import { createLogger } from '../../common/logger.js';
import { createDatabase } from './database.js';
import { runMigrations } from './migrations.js';

const config = loadConfig(process.env);
const logger = createLogger({ level: config.logLevel, name: 'query-api-migrate' });
if (!config.database.url) {
  logger.error('DATABASE_URL is not set: nothing to migrate (the embedded database migrates itself at start-up)');
  process.exitCode = 1;
} else {
  const db = createDatabase(config.database);
  try {
    const applied = await runMigrations(db.writer);
    logger.info({ applied }, applied.length > 0 ? 'migrations applied' : 'database already up to date');
  } catch (error) {
    logger.error({ err: error }, 'migration failed');
    process.exitCode = 1;
  } finally {
    await db.close();
  }
}
