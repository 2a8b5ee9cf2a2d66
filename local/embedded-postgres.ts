/**
 * An embedded PostgreSQL for `npm start` without DATABASE_URL: PGlite (PostgreSQL
 * compiled to WASM) served over the pg wire protocol on a free loopback port, so the
 * service talks to it with the same `pg` pool it uses against Aurora.
 *
 * Local only: it lives under `local/` because only the launcher (local/start.ts), the
 * bench and tests may use it. The deployed query API never falls back to it — without
 * DATABASE_URL it refuses to start (query-api/start-query-api.ts).
 *
 * @example
 *   const embedded = await startEmbeddedPostgres({ dataDir: '.data/pg' });
 *   const db = createDatabase(config.database, { url: embedded.url });
 *   await embedded.stop();
 */
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** `postgres://…@127.0.0.1:<port>/postgres` */
  readonly url: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Directory for a persistent database; in memory when omitted. */
  dataDir?: string;
  /** Port to listen on; a free one when omitted. */
  port?: number;
  /**
   * Concurrent wire connections the server multiplexes onto the single PGlite
   * session. Statements from different connections interleave, so transactions are not
   * isolated from each other: good enough for a laptop, never for production.
   */
  maxConnections?: number;
}

/**
 * What a service connecting to the embedded database must be told: its URL, and one pooled
 * connection (statements of several connections would interleave on PGlite's single session,
 * so one request's transaction could commit or roll back another's: 20 of 30 concurrent
 * experiment creations failed with 503 before). Pool settings the caller set are kept.
 *
 * @example
 *   Object.assign(env, embeddedDatabaseEnv(postgres.url, env)); // DATABASE_URL, DATABASE_POOL_SIZE=1, …
 */
export function embeddedDatabaseEnv(url: string, env: NodeJS.ProcessEnv): Record<string, string> {
  return {
    DATABASE_URL: url,
    DATABASE_POOL_SIZE: env.DATABASE_POOL_SIZE ?? '1',
    DATABASE_MAX_OVERFLOW: env.DATABASE_MAX_OVERFLOW ?? '0',
  };
}

/** Starts PGlite and its socket server on 127.0.0.1. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const db = await PGlite.create(options.dataDir ?? 'memory://');
  const server = new PGLiteSocketServer({
    db,
    host: '127.0.0.1',
    port: options.port ?? 0,
    maxConnections: options.maxConnections ?? 8,
  });
  await server.start();
  const port = server.getServerConn().split(':').pop();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
