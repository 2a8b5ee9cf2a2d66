/**
 * PostgreSQL access for the query API: one pool for writes (DATABASE_URL) and, when
 * DATABASE_REPLICA_URL is set, a second pool for reads, so list and get traffic can be
 * served by Aurora replicas while writes stay on the writer.
 *
 * @example
 *   const db = createDatabase(config.database, { url });
 *   const { rows } = await db.reader.query('SELECT 1');
 *   await db.close();
 */
import pg from 'pg';
import type { Config } from '../../common/config.js';
import { iamAuthPasswordFor, type TokenSigner } from './iam-auth-token.js';

export interface Database {
  /** The writer pool: inserts, updates, migrations, and reads that must see the latest write. */
  readonly writer: pg.Pool;
  /** The pool reads go to: the replica when configured, otherwise the writer. */
  readonly reader: pg.Pool;
  /** True when reads go to a separate replica pool. */
  readonly usesReplica: boolean;
  close(): Promise<void>;
}

/**
 * Pool size follows the SQLAlchemy-style settings the AWS deployment names: `max` is
 * pool size + overflow, and a caller waits at most `poolTimeoutMs` for a connection.
 */
export function poolOptions(
  database: Config['database'],
  connectionString: string,
  signer?: TokenSigner,
): pg.PoolConfig {
  // With IAM authentication (DATABASE_IAM_AUTH) every new connection presents a fresh token.
  const password = iamAuthPasswordFor(connectionString, database.iamAuth, signer);
  return {
    connectionString,
    ...(password ? { password } : {}),
    max: database.poolSize + database.maxOverflow,
    connectionTimeoutMillis: database.poolTimeoutMs,
    idleTimeoutMillis: 30_000,
    // Connections above the base size are overflow: let them go sooner when idle.
    allowExitOnIdle: true,
  };
}

/**
 * Creates the writer pool (and the replica pool when `replicaUrl` is set). `url`
 * overrides `database.url` (the embedded PostgreSQL gives its own). Nothing connects
 * until the first query.
 */
export function createDatabase(database: Config['database'], overrides: { url?: string } = {}): Database {
  const url = overrides.url ?? database.url;
  if (!url) throw new Error('createDatabase needs DATABASE_URL or an embedded PostgreSQL url');
  const writer = new pg.Pool(poolOptions(database, url));
  const reader = database.replicaUrl ? new pg.Pool(poolOptions(database, database.replicaUrl)) : writer;
  // An idle client that errors (server restart, failover) must not crash the process.
  const ignoreIdleError = (): void => undefined;
  writer.on('error', ignoreIdleError);
  if (reader !== writer) reader.on('error', ignoreIdleError);
  return {
    writer,
    reader,
    usesReplica: reader !== writer,
    async close() {
      await Promise.all([writer.end(), ...(reader !== writer ? [reader.end()] : [])]);
    },
  };
}
