/**
 * PostgreSQL storage of experiment and flag definitions (tables `experiments` and
 * `flags`, same shape): the definition as JSONB plus a version bumped on every change.
 * Reads use the reader pool (replica when configured); writes and read-modify-write
 * patches use the writer with a row lock. Every write runs in one transaction with the
 * caller's `record` step (the audit event: audit/audit-log.ts), so both commit or neither does.
 */
import { isPipelineError, PipelineError } from '../../common/errors.js';
import type { Database } from '../db/database.js';
import { withTransaction, type Transaction } from '../db/transaction.js';

export interface StoredDefinition<T> {
  definition: T;
  /** Incremented on every update; part of cache keys and the ETag. */
  version: number;
  updatedAt: Date;
}

/**
 * Runs inside a write's transaction, after the write and before the commit: what the
 * definition was (absent on create) and what it is now (absent on delete). A failure rolls
 * the write back.
 */
export type RecordChange<T> = (
  tx: Transaction,
  change: { before?: StoredDefinition<T>; after?: StoredDefinition<T> },
) => Promise<void>;

const recordNothing = (): Promise<void> => Promise.resolve();

export interface DefinitionStore<T> {
  create(key: string, definition: T, record?: RecordChange<T>): Promise<StoredDefinition<T>>;
  get(key: string): Promise<StoredDefinition<T> | undefined>;
  list(page: { limit: number; after?: string }): Promise<StoredDefinition<T>[]>;
  /**
   * Loads the row under lock, lets `change` compute the new definition (it may throw, e.g.
   * PRECONDITION_FAILED when `version` is not the one the caller last read), writes it.
   */
  update(
    key: string,
    change: (current: T, version: number) => T,
    record?: RecordChange<T>,
  ): Promise<StoredDefinition<T>>;
  /**
   * Deletes under lock after `check` accepted the current definition (it may throw, e.g.
   * PRECONDITION_FAILED or CONFLICT); returns what was deleted.
   */
  remove(
    key: string,
    check: (current: T, version: number) => void,
    record?: RecordChange<T>,
  ): Promise<StoredDefinition<T>>;
}

interface Row<T> {
  definition: T;
  version: number;
  updated_at: Date;
}

const UNIQUE_VIOLATION = '23505';
/**
 * SQLSTATE classes that mean "the database is not available" rather than "our SQL or our
 * data is wrong": 08 connection exception, 53 insufficient resources, 57 operator
 * intervention (shutdown, cancel, failover).
 */
const UNAVAILABLE_SQLSTATE_CLASSES = ['08', '53', '57'];
/** Socket errors of a connection that could not be made or was lost. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
/** What node-postgres says when a pool cannot hand out a connection or one dies under it. */
const POOL_UNAVAILABLE_MESSAGE =
  /timeout exceeded when trying to connect|Connection terminated|connection error and is not queryable/i;

/**
 * True only for real connectivity failures: a SQLSTATE of an unavailable class, a socket
 * error, or the pool's connection timeout. Everything else (a SQL error, a value that cannot
 * be serialized, a bug) is not the database being down.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^[0-9A-Z]{5}$/.test(code)) return UNAVAILABLE_SQLSTATE_CLASSES.includes(code.slice(0, 2));
    if (NETWORK_ERROR_CODES.has(code)) return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isDatabaseUnavailable);
  return POOL_UNAVAILABLE_MESSAGE.test(error.message);
}

/**
 * Turns driver failures into typed errors: unreachable or overloaded database → 503
 * DEPENDENCY_UNAVAILABLE (retriable); anything else stays untyped (500, a bug to fix —
 * never reported as an outage).
 */
export function databaseError(error: unknown): Error {
  if (isPipelineError(error)) return error;
  if (!(error instanceof Error)) return new Error(String(error));
  if (!isDatabaseUnavailable(error)) return error;
  return new PipelineError('DEPENDENCY_UNAVAILABLE', 'the definitions database (PostgreSQL) is unavailable', {
    cause: error,
  });
}

const toStored = <T>(row: Row<T>): StoredDefinition<T> => ({
  definition: row.definition,
  version: row.version,
  updatedAt: row.updated_at,
});

/**
 * A store over one of the definition tables. `noun` names the thing in error messages
 * ("experiment", "flag").
 */
export function createDefinitionStore<T>(db: Database, table: 'experiments' | 'flags', noun: string) {
  const columns = 'definition, version, updated_at';
  const lockedRow = async (tx: Transaction, key: string): Promise<Row<T>> => {
    const { rows } = await tx.query<Row<T>>(`SELECT ${columns} FROM ${table} WHERE key = $1 FOR UPDATE`, [key]);
    if (!rows[0]) throw new PipelineError('NOT_FOUND', `${noun} "${key}" does not exist`);
    return rows[0];
  };
  const store: DefinitionStore<T> = {
    async create(key, definition, record = recordNothing) {
      try {
        return await withTransaction(db.writer, async (tx) => {
          const { rows } = await tx.query<Row<T>>(
            `INSERT INTO ${table} (key, definition) VALUES ($1, $2) RETURNING ${columns}`,
            [key, definition],
          );
          const stored = toStored(rows[0]!);
          await record(tx, { after: stored });
          return stored;
        });
      } catch (error) {
        if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
          throw new PipelineError('CONFLICT', `${noun} "${key}" already exists`, { cause: error });
        }
        throw databaseError(error);
      }
    },
    async get(key) {
      const { rows } = await db.reader
        .query<Row<T>>(`SELECT ${columns} FROM ${table} WHERE key = $1`, [key])
        .catch((error: unknown) => Promise.reject(databaseError(error)));
      return rows[0] ? toStored(rows[0]) : undefined;
    },
    async list({ limit, after }) {
      const { rows } = await db.reader
        .query<Row<T>>(`SELECT ${columns} FROM ${table} WHERE ($1::text IS NULL OR key > $1) ORDER BY key LIMIT $2`, [
          after ?? null,
          limit,
        ])
        .catch((error: unknown) => Promise.reject(databaseError(error)));
      return rows.map(toStored);
    },
    async update(key, change, record = recordNothing) {
      try {
        return await withTransaction(db.writer, async (tx) => {
          const current = await lockedRow(tx, key);
          const next = change(current.definition, current.version);
          const updated = await tx.query<Row<T>>(
            `UPDATE ${table} SET definition = $2, version = version + 1, updated_at = now() WHERE key = $1
             RETURNING ${columns}`,
            [key, next],
          );
          const stored = toStored(updated.rows[0]!);
          await record(tx, { before: toStored(current), after: stored });
          return stored;
        });
      } catch (error) {
        throw databaseError(error);
      }
    },
    async remove(key, check, record = recordNothing) {
      try {
        return await withTransaction(db.writer, async (tx) => {
          const current = await lockedRow(tx, key);
          check(current.definition, current.version);
          await tx.query(`DELETE FROM ${table} WHERE key = $1`, [key]);
          const removed = toStored(current);
          await record(tx, { before: removed });
          return removed;
        });
      } catch (error) {
        throw databaseError(error);
      }
    },
  };
  return store;
}
