/**
 * Entry point of the query API service (Fargate task, `tsx query-api/server.ts`):
 * configuration from the environment, migrations, listen; SIGTERM/SIGINT stop it
 * cleanly (the load balancer drains, in-flight requests finish, pools close).
 *
 * It needs DATABASE_URL: without it (or with any invalid variable) it logs why, naming the
 * variable, and exits with code 1 — it never falls back to an embedded database. `npm start`
 * (local/start.ts) runs it against an embedded PostgreSQL it starts itself.
 */
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { startQueryApi } from './start-query-api.js';

let logger = createLogger({ name: 'query-api' });

try {
  const config = loadConfig(process.env);
  logger = createLogger({ level: config.logLevel, name: 'query-api' });
  const api = await startQueryApi(config, { logger });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    api.stop().then(
      () => logger.info('stopped'),
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
} catch (error) {
  logger.fatal({ err: error }, `query API failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
