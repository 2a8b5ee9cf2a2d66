/**
 * SDK connections in PostgreSQL (table `sdk_connections`, migration 4): a public client key
 * (`sdk-` + 22 url-safe random characters) per connection, with a name and an environment
 * label. Client keys are identifiers, not secrets: they go into web pages, and what they
 * unlock (the SDK payload) holds nothing secret. Every change runs in one transaction with
 * the caller's `record` step (its audit event), so both commit or neither does.
 *
 * @example
 *   const store = createSdkConnectionStore(database);
 *   const created = await store.create({ name: 'web', environment: 'production' }, recordAudit);
 *   await store.byClientKey(created.clientKey); // → the connection
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { PipelineError } from '../../common/errors.js';
import type { Database } from '../db/database.js';
import { withTransaction, type Transaction } from '../db/transaction.js';
import { databaseError } from '../definitions/definition-store.js';

export interface SdkConnection {
  id: string;
  name: string;
  environment: string;
  clientKey: string;
  createdAt: Date;
  /** When the client key was last replaced; null if never. */
  rotatedAt: Date | null;
}

/** Runs in the change's transaction; the change is rolled back when it fails. */
export type RecordConnectionChange = (
  tx: Transaction,
  change: { before?: SdkConnection; after?: SdkConnection },
) => Promise<void>;

export interface SdkConnectionStore {
  create(input: { name: string; environment: string }, record: RecordConnectionChange): Promise<SdkConnection>;
  list(): Promise<SdkConnection[]>;
  get(id: string): Promise<SdkConnection | undefined>;
  byClientKey(clientKey: string): Promise<SdkConnection | undefined>;
  /** Replaces the client key: the old one stops working (after the payload cache's refresh interval). */
  rotate(id: string, record: RecordConnectionChange): Promise<SdkConnection>;
  remove(id: string, record: RecordConnectionChange): Promise<SdkConnection>;
}

/** What a client key looks like; anything else is refused with 400 before any lookup. */
export const CLIENT_KEY_PATTERN = /^sdk-[A-Za-z0-9_-]{16,64}$/;

/** Most connections listed (an admin list; connections are few). */
export const MAX_SDK_CONNECTIONS_LISTED = 1_000;

/** A new client key: 128 random bits, base64url. */
export function newClientKey(): string {
  return `sdk-${randomBytes(16).toString('base64url')}`;
}

interface Row {
  id: string;
  name: string;
  environment: string;
  client_key: string;
  created_at: Date;
  rotated_at: Date | null;
}

const COLUMNS = 'id, name, environment, client_key, created_at, rotated_at';

const toConnection = (row: Row): SdkConnection => ({
  id: row.id,
  name: row.name,
  environment: row.environment,
  clientKey: row.client_key,
  createdAt: row.created_at,
  rotatedAt: row.rotated_at,
});

const notFound = (id: string) => new PipelineError('NOT_FOUND', `SDK connection "${id}" does not exist`);

/** Creates the store over `sdk_connections`. */
export function createSdkConnectionStore(db: Database): SdkConnectionStore {
  const read = async (sql: string, values: unknown[]): Promise<Row[]> => {
    try {
      return (await db.reader.query<Row>(sql, values)).rows;
    } catch (error) {
      throw databaseError(error);
    }
  };
  const write = async <T>(work: (tx: Transaction) => Promise<T>): Promise<T> => {
    try {
      return await withTransaction(db.writer, work);
    } catch (error) {
      throw databaseError(error);
    }
  };
  const locked = async (tx: Transaction, id: string): Promise<SdkConnection> => {
    const { rows } = await tx.query<Row>(`SELECT ${COLUMNS} FROM sdk_connections WHERE id = $1 FOR UPDATE`, [id]);
    if (!rows[0]) throw notFound(id);
    return toConnection(rows[0]);
  };
  return {
    create: (input, record) =>
      write(async (tx) => {
        const { rows } = await tx.query<Row>(
          `INSERT INTO sdk_connections (id, name, environment, client_key) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
          [randomUUID(), input.name, input.environment, newClientKey()],
        );
        const created = toConnection(rows[0]!);
        await record(tx, { after: created });
        return created;
      }),
    async list() {
      const rows = await read(`SELECT ${COLUMNS} FROM sdk_connections ORDER BY created_at, id LIMIT $1`, [
        MAX_SDK_CONNECTIONS_LISTED,
      ]);
      return rows.map(toConnection);
    },
    async get(id) {
      const rows = await read(`SELECT ${COLUMNS} FROM sdk_connections WHERE id = $1`, [id]);
      return rows[0] ? toConnection(rows[0]) : undefined;
    },
    async byClientKey(clientKey) {
      // The writer, not a replica: a key just created or rotated must work at once.
      try {
        const { rows } = await db.writer.query<Row>(`SELECT ${COLUMNS} FROM sdk_connections WHERE client_key = $1`, [
          clientKey,
        ]);
        return rows[0] ? toConnection(rows[0]) : undefined;
      } catch (error) {
        throw databaseError(error);
      }
    },
    rotate: (id, record) =>
      write(async (tx) => {
        const before = await locked(tx, id);
        const { rows } = await tx.query<Row>(
          `UPDATE sdk_connections SET client_key = $2, rotated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
          [id, newClientKey()],
        );
        const after = toConnection(rows[0]!);
        await record(tx, { before, after });
        return after;
      }),
    remove: (id, record) =>
      write(async (tx) => {
        const before = await locked(tx, id);
        await tx.query('DELETE FROM sdk_connections WHERE id = $1', [id]);
        await record(tx, { before });
        return before;
      }),
  };
}
