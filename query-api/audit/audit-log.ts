/**
 * Appends audit events to PostgreSQL inside the caller's transaction, so an event is
 * stored exactly when the change it records is (both commit or neither does).
 *
 * The chain never forks: `append` first locks the single row of `audit_chain_head`
 * (`SELECT … FOR UPDATE`), which holds the position, signature and time of the last
 * event. Concurrent writers queue on that lock until the holder commits or rolls back,
 * so each event is signed over the signature of the one committed before it, and a
 * rolled-back change leaves the head as it was. Callers take the lock last (after their
 * own row locks) and commit right after, so it is held for one INSERT and one UPDATE.
 *
 * Time: the caller's clock, but never before the previous event's time, so time order and
 * chain order agree (time ranges map to position ranges: audit-reader.ts).
 *
 * @example
 *   await withTransaction(db.writer, async (tx) => {
 *     await tx.query('UPDATE flags …');
 *     await auditLog.append(tx, { actor, sourceIp, requestId, action: 'flag.updated', resource, change });
 *   });
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { withTransaction, type Transaction } from '../db/transaction.js';
import {
  AUDIT_FORMAT_VERSION,
  type AuditEvent,
  type AuditEventInput,
  type JsonObject,
  type UnsignedAuditEvent,
} from './audit-event.js';
import { signAuditEvent, type AuditKeyRing } from './audit-keys.js';

export interface AuditLog {
  /** The keys this log signs with (current) and verifies with (all). */
  readonly keys: AuditKeyRing;
  /** Appends one event inside the open transaction `tx`; returns it signed. */
  append(tx: Transaction, input: AuditEventInput): Promise<AuditEvent>;
  /** Appends one event in a transaction of its own (records that go with no other change). */
  appendAlone(input: AuditEventInput): Promise<AuditEvent>;
}

export interface AuditLogOptions {
  /** The writer pool (for `appendAlone`). */
  pool: pg.Pool;
  keys: AuditKeyRing;
  now?: () => Date;
}

interface HeadRow {
  position: string;
  signature: string;
  occurred_at: Date | null;
}

/** Empty strings are stored as null: CSV cannot tell them apart, and the signature covers what is stored. */
const nullIfEmpty = (value: string | null | undefined): string | null => (value ? value : null);

/** Creates the audit log over the `audit_events` and `audit_chain_head` tables (migration 2). */
export function createAuditLog(options: AuditLogOptions): AuditLog {
  const { keys } = options;
  const now = options.now ?? (() => new Date());

  const append = async (tx: Transaction, input: AuditEventInput): Promise<AuditEvent> => {
    const { rows } = await tx.query<HeadRow>(
      'SELECT position, signature, occurred_at FROM audit_chain_head WHERE id = 1 FOR UPDATE',
    );
    const head = rows[0];
    if (!head) throw new Error('audit_chain_head has no row: the audit migration did not run');
    const clock = now();
    const time = head.occurred_at && head.occurred_at > clock ? head.occurred_at : clock;
    const unsigned: UnsignedAuditEvent = {
      v: AUDIT_FORMAT_VERSION,
      id: randomUUID(),
      position: Number(head.position) + 1,
      time: time.toISOString(),
      keyId: keys.current.id,
      actor: {
        type: input.actor.type,
        id: input.actor.id,
        username: nullIfEmpty(input.actor.username),
      },
      sourceIp: nullIfEmpty(input.sourceIp),
      requestId: nullIfEmpty(input.requestId),
      action: input.action,
      resource: { type: input.resource.type, id: input.resource.id },
      // What JSONB will hold: the JSON form (a non-finite number becomes null, undefined goes), signed as stored.
      change: JSON.parse(JSON.stringify(input.change)) as JsonObject,
      previousSignature: head.signature,
    };
    const event = signAuditEvent(unsigned, keys.current);
    await tx.query(
      `INSERT INTO audit_events (position, id, occurred_at, format_version, key_id, actor_type, actor_id,
         actor_username, source_ip, request_id, action, resource_type, resource_id, change,
         previous_signature, signature)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [
        event.position,
        event.id,
        event.time,
        event.v,
        event.keyId,
        event.actor.type,
        event.actor.id,
        event.actor.username,
        event.sourceIp,
        event.requestId,
        event.action,
        event.resource.type,
        event.resource.id,
        JSON.stringify(event.change),
        event.previousSignature,
        event.signature,
      ],
    );
    await tx.query('UPDATE audit_chain_head SET position = $1, signature = $2, occurred_at = $3 WHERE id = 1', [
      event.position,
      event.signature,
      event.time,
    ]);
    return event;
  };

  return {
    keys,
    append,
    appendAlone: (input) => withTransaction(options.pool, (tx) => append(tx, input)),
  };
}
