/**
 * PostgreSQL storage of experiment and flag definitions (tables `experiments` and
 * `flags`, same shape): the definition as JSONB plus a version bumped on every change.
 * Reads use the reader pool (replica when configured); writes and read-modify-write
 * patches use the writer with a row lock.
 */
import { isPipelineError, PipelineError } from '../../common/errors.js';
import type { Database } from '../db/database.js';

export interface StoredDefinition<T> {
  definition: T;
  /** Incremented on every update; part of cache keys and the ETag. */
  version: number;
  updatedAt: Date;
}

export interface DefinitionStore<T> {
  create(key: string, definition: T): Promise<StoredDefinition<T>>;
  get(key: string): Promise<StoredDefinition<T> | undefined>;
  list(page: { limit: number; after?: string }): Promise<StoredDefinition<T>[]>;
  /** Loads the row under lock, lets `change` compute the new definition, writes it. */
  update(key: string, change: (current: T) => T): Promise<StoredDefinition<T>>;
}

interface Row<T> {
  definition: T;
  version: number;
  updated_at: Date;
}

const UNIQUE_VIOLATION = '23505';
/** SQLSTATE classes that mean "the database is not available" rather than "our SQL is wrong". */
const UNAVAILABLE_SQLSTATE_CLASSES = ['08', '53', '57'];

/**
 * Turns driver failures into typed errors: unreachable or overloaded database → 503
 * DEPENDENCY_UNAVAILABLE (retriable); SQL errors stay untyped (500, a bug).
 */
export function databaseError(error: unknown): Error {
  if (isPipelineError(error)) return error;
  if (!(error instanceof Error)) return new Error(String(error));
  const code = (error as { code?: unknown }).code;
  const isSqlState = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
  if (isSqlState && !UNAVAILABLE_SQLSTATE_CLASSES.includes(code.slice(0, 2))) return error;
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
  const store: DefinitionStore<T> = {
    async create(key, definition) {
      try {
        const { rows } = await db.writer.query<Row<T>>(
          `INSERT INTO ${table} (key, definition) VALUES ($1, $2) RETURNING ${columns}`,
          [key, definition],
        );
        return toStored(rows[0]!);
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
    async update(key, change) {
      const client = await db.writer.connect().catch((error: unknown) => Promise.reject(databaseError(error)));
      try {
        await client.query('BEGIN');
        const { rows } = await client.query<Row<T>>(`SELECT ${columns} FROM ${table} WHERE key = $1 FOR UPDATE`, [key]);
        if (!rows[0]) throw new PipelineError('NOT_FOUND', `${noun} "${key}" does not exist`);
        const next = change(rows[0].definition);
        const updated = await client.query<Row<T>>(
          `UPDATE ${table} SET definition = $2, version = version + 1, updated_at = now() WHERE key = $1
           RETURNING ${columns}`,
          [key, next],
        );
        await client.query('COMMIT');
        return toStored(updated.rows[0]!);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw databaseError(error);
      } finally {
        client.release();
      }
    },
  };
  return store;
}
