/**
 * Test support for the audit trail: a valid signed chain written straight into PostgreSQL
 * in bulk (for the 100k-event export), reading every stored event, and counting them.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { AUDIT_FORMAT_VERSION, type AuditEvent } from '../audit/audit-event.js';
import { signAuditEvent, type AuditKeyRing } from '../audit/audit-keys.js';
import { readAuditEvents, readChainHead } from '../audit/audit-reader.js';

/**
 * Appends `count` signed events after the current chain head, `batchSize` rows per INSERT,
 * each with a `change` of about `changeBytes` characters, one millisecond apart from `start`.
 */
export async function seedAuditChain(
  pool: pg.Pool,
  keys: AuditKeyRing,
  count: number,
  options: { batchSize?: number; changeBytes?: number; start?: Date } = {},
): Promise<{ first: number; last: number }> {
  const batchSize = options.batchSize ?? 5_000;
  const filler = 'x'.repeat(options.changeBytes ?? 200);
  const start = (options.start ?? new Date('2026-01-01T00:00:00Z')).getTime();
  let head = await readChainHead(pool);
  const first = head.position + 1;
  for (let offset = 0; offset < count; offset += batchSize) {
    const events: AuditEvent[] = [];
    for (let i = offset; i < Math.min(count, offset + batchSize); i++) {
      const event = signAuditEvent(
        {
          v: AUDIT_FORMAT_VERSION,
          id: randomUUID(),
          position: head.position + 1,
          time: new Date(start + i).toISOString(),
          keyId: keys.current.id,
          actor: { type: 'api-key', id: 'key#0', username: null },
          sourceIp: '127.0.0.1',
          requestId: `seed-${i}`,
          action: 'flag.updated',
          resource: { type: 'flag', id: `seeded-${i % 100}` },
          change: { fields: { description: { before: `${filler}${i}`, after: `${filler}${i + 1}` } } },
          previousSignature: head.signature,
        },
        keys.current,
      );
      events.push(event);
      head = { position: event.position, signature: event.signature };
    }
    const column = <T>(pick: (event: AuditEvent) => T) => events.map(pick);
    await pool.query(
      `INSERT INTO audit_events (position, id, occurred_at, format_version, key_id, actor_type, actor_id,
         actor_username, source_ip, request_id, action, resource_type, resource_id, change, previous_signature, signature)
       SELECT p, i, t, v, k, a_t, a_i, a_u, ip, r, act, r_t, r_i, c::jsonb, ps, s
       FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::smallint[], $5::text[], $6::text[], $7::text[],
         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])
         AS u(p, i, t, v, k, a_t, a_i, a_u, ip, r, act, r_t, r_i, c, ps, s)`,
      [
        column((e) => e.position),
        column((e) => e.id),
        column((e) => e.time),
        column((e) => e.v),
        column((e) => e.keyId),
        column((e) => e.actor.type),
        column((e) => e.actor.id),
        column((e) => e.actor.username),
        column((e) => e.sourceIp),
        column((e) => e.requestId),
        column((e) => e.action),
        column((e) => e.resource.type),
        column((e) => e.resource.id),
        column((e) => JSON.stringify(e.change)),
        column((e) => e.previousSignature),
        column((e) => e.signature),
      ],
    );
    const last = events[events.length - 1]!;
    await pool.query('UPDATE audit_chain_head SET position = $1, signature = $2, occurred_at = $3 WHERE id = 1', [
      last.position,
      last.signature,
      last.time,
    ]);
  }
  return { first, last: head.position };
}

/** Every stored event in chain order (small chains only). */
export async function storedAuditEvents(pool: pg.Pool): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for await (const event of readAuditEvents(pool, { start: 1, end: Number.MAX_SAFE_INTEGER })) events.push(event);
  return events;
}

/** How many events are stored. */
export async function auditEventCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ count: string }>('SELECT count(*) AS count FROM audit_events');
  return Number(rows[0]!.count);
}
