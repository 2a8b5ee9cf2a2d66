/**
 * The audit trail's routes:
 *
 *   GET /api/v1/compliance/export?from=&to=&format=ndjson|csv   admin: the events of [from, to),
 *       streamed page by page from the reader pool (the replica when configured), signatures
 *       and chain positions included (audit/export-format.ts)
 *   GET /api/v1/compliance/verify?from=&to=                      admin: re-computes the stored chain
 *       and names the first event that does not verify (audit/verify-chain.ts)
 *   GET /api/v1/audit-events?resourceId=&resourceType=&limit=&after=   read: one resource's
 *       history, newest first (for the UI; `sourceIp` only for admins)
 *
 * Admin: an API key from ADMIN_API_KEYS or the Cognito group `compliance-admins`.
 */
import { Readable } from 'node:stream';
import Type from 'typebox';
import { PipelineError } from '../../common/errors.js';
import type { AuditEvent } from '../audit/audit-event.js';
import { readAuditEvents, readResourceHistory, resolveAuditRange, type AuditTimeRange } from '../audit/audit-reader.js';
import { CONTENT_TYPES, CSV_HEADER, csvLine, ndjsonLine } from '../audit/export-format.js';
import {
  AuditEventSchema,
  AuditEventsQuerySchema,
  ExportQuerySchema,
  VerifyQuerySchema,
  VerifyReportSchema,
} from '../audit/schemas.js';
import { verifyStoredChain } from '../audit/verify-chain.js';
import type { QueryApiContext, QueryApiInstance } from '../context.js';
import { databaseError } from '../definitions/definition-store.js';
import { AUTHENTICATED, ERROR_RESPONSES } from './http-schemas.js';

/** Bytes gathered before a write to the socket: fewer, larger chunks than one per event. */
const EXPORT_CHUNK_BYTES = 64 * 1024;

/**
 * A bound of a time range: the schema checked the RFC 3339 form, this checks what the form
 * allows but no clock has (a leap second `23:59:60` JavaScript cannot parse, year 0 that
 * PostgreSQL refuses): 400 naming the field, never a database error.
 */
function timeBound(field: 'from' | 'to', text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const time = new Date(text);
  const year = time.getUTCFullYear();
  if (Number.isNaN(time.getTime()) || year < 1 || year > 9999) {
    throw new PipelineError('VALIDATION_FAILED', `querystring/${field} must be a time between the years 1 and 9999`, {
      details: [{ field, rule: 'timeRange', message: 'must be a time between the years 1 and 9999' }],
    });
  }
  return time;
}

/** The time range of a query; `to` must be after `from` (400 naming `to`). */
export function timeRangeOf(query: { from?: string; to?: string }): AuditTimeRange {
  const from = timeBound('from', query.from);
  const to = timeBound('to', query.to);
  if (from && to && !(to > from)) {
    throw new PipelineError('VALIDATION_FAILED', 'querystring/to must be after from', {
      details: [{ field: 'to', rule: 'afterFrom', message: 'must be after from' }],
    });
  }
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
}

/** Lines of `events` gathered into chunks of about EXPORT_CHUNK_BYTES. */
async function* chunked(header: string, events: AsyncIterable<AuditEvent>, line: (event: AuditEvent) => string) {
  let chunk = header;
  for await (const event of events) {
    chunk += line(event);
    if (chunk.length >= EXPORT_CHUNK_BYTES) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/** Registers the compliance and audit-event routes. */
export function registerComplianceRoutes(app: QueryApiInstance, context: QueryApiContext): void {
  const reader = context.database.reader;
  const keys = context.auditLog.keys;
  const tags = ['audit'];

  app.get(
    '/api/v1/compliance/export',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Export the audit trail of a time range (admin)',
        description:
          'Streams the events of [from, to) in chain order with their positions and signatures, as NDJSON (one ' +
          '`AuditEvent` per line) or CSV (header line, then one record per event). Read from the replica when ' +
          'configured. Verify a download with `npm run audit -- verify <file>`.',
        security: AUTHENTICATED,
        querystring: ExportQuerySchema,
        produces: [CONTENT_TYPES.ndjson, CONTENT_TYPES.csv],
        response: {
          200: Type.Unknown({ description: 'NDJSON or CSV, streamed.' }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const { format } = request.query;
      const range = timeRangeOf(request.query);
      const positions = await resolveAuditRange(reader, range).catch((error: unknown) =>
        Promise.reject(databaseError(error)),
      );
      const events = readAuditEvents(reader, positions);
      const body = Readable.from(
        format === 'csv' ? chunked(CSV_HEADER, events, csvLine) : chunked('', events, ndjsonLine),
        { objectMode: false },
      );
      body.on('error', (error) => request.log.error({ err: error }, 'audit export failed while streaming'));
      return reply
        .type(CONTENT_TYPES[format])
        .header('content-disposition', `attachment; filename="audit-events.${format}"`)
        .header('x-audit-first-position', String(positions.start))
        .header('x-audit-end-position', String(positions.end))
        .send(body);
    },
  );

  app.get(
    '/api/v1/compliance/verify',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Verify the stored audit chain of a time range (admin)',
        description:
          'Re-computes every signature and link of [from, to), the link from the event before the range and to the ' +
          'event after it (or the chain head), and names the first event that does not verify. `ok: false` is a ' +
          'finding, not an error: the answer is 200.',
        security: AUTHENTICATED,
        querystring: VerifyQuerySchema,
        response: { 200: VerifyReportSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const range = timeRangeOf(request.query);
      return verifyStoredChain(reader, keys, range).catch((error: unknown) => Promise.reject(databaseError(error)));
    },
  );

  app.get(
    '/api/v1/audit-events',
    {
      schema: {
        tags,
        summary: 'One resource’s audit history, newest first',
        description:
          'The events of one experiment, flag or session (`resourceId`, optionally `resourceType`), newest first; ' +
          'pass `nextAfter` as `after` for older ones. `sourceIp` is shown to admins only (null for others).',
        security: AUTHENTICATED,
        querystring: AuditEventsQuerySchema,
        response: {
          200: Type.Object({
            items: Type.Array(AuditEventSchema),
            nextAfter: Type.Union([Type.Integer(), Type.Null()], {
              description: 'Pass as `after` for the next (older) page; null on the last page.',
            }),
          }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request) => {
      const { resourceId, resourceType, limit, after } = request.query;
      const rows = await readResourceHistory(reader, {
        resourceId,
        limit: limit + 1,
        ...(resourceType ? { resourceType } : {}),
        ...(after !== undefined ? { before: after } : {}),
      }).catch((error: unknown) => Promise.reject(databaseError(error)));
      const admin = request.principal?.canAdminister === true;
      const items = rows.slice(0, limit).map((event) => (admin ? event : { ...event, sourceIp: null }));
      return { items, nextAfter: rows.length > limit ? (items[items.length - 1]?.position ?? null) : null };
    },
  );
}
