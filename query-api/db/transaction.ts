/**
 * One PostgreSQL transaction on a pooled connection: BEGIN, the work, COMMIT — or ROLLBACK
 * when the work or the commit fails — and the connection back to the pool either way.
 * Everything that must change together (a definition and its audit event) runs in one.
 *
 * @example
 *   const stored = await withTransaction(db.writer, async (tx) => {
 *     const { rows } = await tx.query('INSERT INTO flags (key, definition) VALUES ($1, $2) RETURNING *', [key, d]);
 *     await auditLog.append(tx, event);
 *     return rows[0];
 *   });
 */
import type pg from 'pg';

/** A connection inside an open transaction. */
export type Transaction = pg.PoolClient;

/** Runs `work` in a transaction on a connection of `pool`; rejects with the driver's error when it fails. */
export async function withTransaction<T>(pool: pg.Pool, work: (tx: Transaction) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      // A connection that cannot even roll back is not handed out again.
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
