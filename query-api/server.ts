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
import { runMain, stopOnSignals } from '../common/lifecycle.js';
import { createLogger } from '../common/logger.js';
import { startQueryApi } from './start-query-api.js';

runMain('query API', async () => {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel, name: 'query-api' });
  const api = await startQueryApi(config, { logger });
  stopOnSignals(() => api.stop(), { logger });
});
