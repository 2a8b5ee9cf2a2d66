/**
 * Reads the audit trail from PostgreSQL (the reader pool: the replica when configured) in
 * pages, never all at once: memory stays at one page whatever the range.
 *
 * A time range [from, to) becomes a position range first: event times never decrease
 * along the chain (audit-log.ts), so the range starts at the first event at or after
 * `from` and ends before the first event at or after `to` (both found on the
 * `(occurred_at, position)` index); an open end is the chain head as it is when the read
 * starts. The events are then read by position, `pageSize` rows per short query (no
 * long-lived cursor: a long query on a hot-standby replica is cancelled by replication
 * conflicts), so an event whose time was tampered with is still read, and reported.
 *
 * @example
 *   const range = await resolveAuditRange(db.reader, { from: new Date('2026-01-01') });
 *   for await (const event of readAuditEvents(db.reader, range)) write(event);
 */
import type pg from 'pg';
import type { AuditEvent } from './audit-event.js';
import { GENESIS_ANCHOR, type ChainAnchor } from './chain-verifier.js';

/** Rows per query: bounds the memory of an export or a verification. */
export const AUDIT_PAGE_SIZE = 1_000;

export interface AuditTimeRange {
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
}

/** Positions [start, end) of a time range, and what surrounds it (for verification). */
export interface AuditPositionRange {
  start: number;
  /** Exclusive. */
  end: number;
  /** The stored event before `start` (GENESIS_ANCHOR when none). */
  anchor: ChainAnchor;
  /** The stored event at `end` when the range was closed by `to`; absent when it runs to the head. */
  next?: { position: number; previousSignature: string };
  /** The chain head when the read started. */
  head: ChainAnchor;
}

interface EventRow {
  position: string;
  id: string;
  occurred_at: Date;
  format_version: number;
  key_id: string;
  actor_type: AuditEvent['actor']['type'];
  actor_id: string;
  actor_username: string | null;
  source_ip: string | null;
  request_id: string | null;
  action: AuditEvent['action'];
  resource_type: string;
  resource_id: string;
  change: AuditEvent['change'];
  previous_signature: string;
  signature: string;
}

const EVENT_COLUMNS = `position, id, occurred_at, format_version, key_id, actor_type, actor_id, actor_username,
  source_ip, request_id, action, resource_type, resource_id, change, previous_signature, signature`;

/** A stored row as the event it records. */
export function eventFromRow(row: EventRow): AuditEvent {
  return {
    v: row.format_version,
    id: row.id,
    position: Number(row.position),
    time: row.occurred_at.toISOString(),
    keyId: row.key_id,
    actor: { type: row.actor_type, id: row.actor_id, username: row.actor_username },
    sourceIp: row.source_ip,
    requestId: row.request_id,
    action: row.action,
    resource: { type: row.resource_type, id: row.resource_id },
    change: row.change,
    previousSignature: row.previous_signature,
    signature: row.signature,
  };
}

/** The chain head: position and signature of the last event appended (0 and genesis when none). */
export async function readChainHead(pool: pg.Pool): Promise<ChainAnchor> {
  const { rows } = await pool.query<{ position: string; signature: string }>(
    'SELECT position, signature FROM audit_chain_head WHERE id = 1',
  );
  return rows[0] ? { position: Number(rows[0].position), signature: rows[0].signature } : GENESIS_ANCHOR;
}

async function firstPositionAtOrAfter(pool: pg.Pool, time: Date): Promise<number | undefined> {
  const { rows } = await pool.query<{ position: string }>(
    'SELECT position FROM audit_events WHERE occurred_at >= $1 ORDER BY occurred_at, position LIMIT 1',
    [time],
  );
  return rows[0] ? Number(rows[0].position) : undefined;
}

/** Maps a time range to positions (see the module comment). */
export async function resolveAuditRange(pool: pg.Pool, range: AuditTimeRange): Promise<AuditPositionRange> {
  const head = await readChainHead(pool);
  const open = head.position + 1;
  const end = range.to ? ((await firstPositionAtOrAfter(pool, range.to)) ?? open) : open;
  const start = range.from ? Math.min((await firstPositionAtOrAfter(pool, range.from)) ?? open, end) : 1;
  const before = await pool.query<{ position: string; signature: string }>(
    'SELECT position, signature FROM audit_events WHERE position < $1 ORDER BY position DESC LIMIT 1',
    [start],
  );
  const anchor = before.rows[0]
    ? { position: Number(before.rows[0].position), signature: before.rows[0].signature }
    : GENESIS_ANCHOR;
  let next: AuditPositionRange['next'];
  if (end < open) {
    const after = await pool.query<{ position: string; previous_signature: string }>(
      'SELECT position, previous_signature FROM audit_events WHERE position >= $1 ORDER BY position LIMIT 1',
      [end],
    );
    if (after.rows[0]) {
      next = { position: Number(after.rows[0].position), previousSignature: after.rows[0].previous_signature };
    }
  }
  return { start, end, anchor, head, ...(next ? { next } : {}) };
}

/**
 * The events of a position range in chain order, read `pageSize` at a time; the next page
 * is fetched while the current one is consumed (at most two pages in memory).
 */
export async function* readAuditEvents(
  pool: pg.Pool,
  range: Pick<AuditPositionRange, 'start' | 'end'>,
  pageSize = AUDIT_PAGE_SIZE,
): AsyncGenerator<AuditEvent> {
  const fetchPage = (from: number) => {
    const page = pool
      .query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM audit_events WHERE position >= $1 AND position < $2 ORDER BY position LIMIT $3`,
        [from, range.end, pageSize],
      )
      .then((result) => result.rows);
    // Observed here so a prefetch the consumer never awaits (it stopped early) is no unhandled rejection.
    page.catch(() => undefined);
    return page;
  };
  let pending = range.start < range.end ? fetchPage(range.start) : undefined;
  while (pending) {
    const rows = await pending;
    const next = rows.length === pageSize ? Number(rows[rows.length - 1]!.position) + 1 : range.end;
    pending = next < range.end ? fetchPage(next) : undefined;
    for (const row of rows) yield eventFromRow(row);
  }
}

/** One resource's events, newest first: `limit` of them before position `before` (exclusive). */
export async function readResourceHistory(
  pool: pg.Pool,
  query: { resourceId: string; resourceType?: string; limit: number; before?: number },
): Promise<AuditEvent[]> {
  const { rows } = await pool.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM audit_events
     WHERE resource_id = $1 AND ($2::text IS NULL OR resource_type = $2) AND ($3::bigint IS NULL OR position < $3)
     ORDER BY position DESC LIMIT $4`,
    [query.resourceId, query.resourceType ?? null, query.before ?? null, query.limit],
  );
  return rows.map(eventFromRow);
}
