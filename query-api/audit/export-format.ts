/**
 * The compliance export's two formats, written by GET /api/v1/compliance/export and read
 * back by `npm run audit -- verify <file>`:
 *
 * - NDJSON: one event per line, as `AuditEventSchema` (schemas.ts), fields in a fixed order.
 * - CSV (RFC 4180, `\r\n` line ends): a header line `CSV_COLUMNS`, then one record per event;
 *   `actor`/`resource` are split into columns, `change` is its JSON text, null is an empty
 *   cell (stored values are never empty strings: audit-log.ts). Cells holding `,`, `"`, CR
 *   or LF are quoted, `"` doubled. Values are never altered, so a verifier recomputes the
 *   same signature from either format.
 *
 * Reading detects the format from the first line (the CSV header, else NDJSON) and yields
 * each event or the reason a line is not one; one record at a time (bounded memory).
 * Lines are split at LF only (`linesOf`), so a CR inside a quoted cell survives.
 *
 * @example
 *   for await (const item of readExport(lines)) if ('event' in item) verifier.add(item.event, item.line);
 */
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';
import type { AuditEvent } from './audit-event.js';
import { AuditEventSchema } from './schemas.js';

export type ExportFormat = 'ndjson' | 'csv';

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
};

/** The CSV header, in column order. */
export const CSV_COLUMNS = [
  'position',
  'id',
  'time',
  'v',
  'keyId',
  'actorType',
  'actorId',
  'actorUsername',
  'sourceIp',
  'requestId',
  'action',
  'resourceType',
  'resourceId',
  'change',
  'previousSignature',
  'signature',
] as const;

/** One NDJSON line (with its `\n`). */
export function ndjsonLine(event: AuditEvent): string {
  const ordered: AuditEvent = {
    position: event.position,
    id: event.id,
    time: event.time,
    v: event.v,
    keyId: event.keyId,
    actor: { type: event.actor.type, id: event.actor.id, username: event.actor.username },
    sourceIp: event.sourceIp,
    requestId: event.requestId,
    action: event.action,
    resource: { type: event.resource.type, id: event.resource.id },
    change: event.change,
    previousSignature: event.previousSignature,
    signature: event.signature,
  };
  return `${JSON.stringify(ordered)}\n`;
}

const csvCell = (value: string | number | null): string => {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

/** The CSV header line (with its `\r\n`). */
export const CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`;

/** One CSV record (with its `\r\n`). */
export function csvLine(event: AuditEvent): string {
  const cells = [
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
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/** Why a line is not an event. */
export class ExportLineError extends Error {}

const eventCheck = Compile(AuditEventSchema);

function checkedEvent(value: unknown): AuditEvent {
  if (!eventCheck.Check(value)) {
    const first = [...Value.Errors(AuditEventSchema, value)][0];
    const field = first?.instancePath.replace(/^\//, '').replaceAll('/', '.') || 'event';
    throw new ExportLineError(`not an audit event: ${field} ${first?.message ?? 'is invalid'}`);
  }
  return value as AuditEvent;
}

/** Parses one NDJSON line. */
export function eventFromNdjson(line: string): AuditEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ExportLineError('not JSON');
  }
  return checkedEvent(value);
}

/**
 * Splits CSV text into cells. Returns undefined while a quoted cell is still open at the end
 * of `text` (its record continues on the next line).
 */
export function splitCsvRecord(text: string): (string | null)[] | undefined {
  const cells: (string | null)[] = [];
  let index = 0;
  for (;;) {
    if (text[index] === '"') {
      let value = '';
      index++;
      for (;;) {
        const quote = text.indexOf('"', index);
        if (quote < 0) return undefined;
        value += text.slice(index, quote);
        if (text[quote + 1] === '"') {
          value += '"';
          index = quote + 2;
          continue;
        }
        index = quote + 1;
        break;
      }
      cells.push(value);
    } else {
      const comma = text.indexOf(',', index);
      const raw = comma < 0 ? text.slice(index) : text.slice(index, comma);
      if (raw.includes('"')) throw new ExportLineError('a quote inside an unquoted cell');
      cells.push(raw === '' ? null : raw);
      index = comma < 0 ? text.length : comma;
    }
    if (index >= text.length) return cells;
    if (text[index] !== ',') throw new ExportLineError('text after a quoted cell');
    index++;
    if (index === text.length) {
      cells.push(null);
      return cells;
    }
  }
}

const number = (cell: string | null): unknown => (cell !== null && /^\d+$/.test(cell) ? Number(cell) : cell);

/** The event of one CSV record (cells in CSV_COLUMNS order). */
export function eventFromCsvCells(cells: (string | null)[]): AuditEvent {
  if (cells.length !== CSV_COLUMNS.length) {
    throw new ExportLineError(`${cells.length} cells, expected ${CSV_COLUMNS.length}`);
  }
  const cell = (name: (typeof CSV_COLUMNS)[number]) => cells[CSV_COLUMNS.indexOf(name)] ?? null;
  let change: unknown;
  try {
    change = JSON.parse(cell('change') ?? 'null');
  } catch {
    throw new ExportLineError('change is not JSON');
  }
  return checkedEvent({
    position: number(cell('position')),
    id: cell('id'),
    time: cell('time'),
    v: number(cell('v')),
    keyId: cell('keyId'),
    actor: { type: cell('actorType'), id: cell('actorId'), username: cell('actorUsername') },
    sourceIp: cell('sourceIp'),
    requestId: cell('requestId'),
    action: cell('action'),
    resource: { type: cell('resourceType'), id: cell('resourceId') },
    change,
    previousSignature: cell('previousSignature'),
    signature: cell('signature'),
  });
}

export type ExportItem = { line: number; event: AuditEvent } | { line: number; error: string };

/** Longest CSV record accepted (one with an unterminated quote would otherwise grow without bound). */
const MAX_RECORD_CHARS = 1024 * 1024;

/**
 * Reads an export given as lines split at `\n` only (a CR stays on its line: inside a quoted
 * CSV cell it is part of the value). NDJSON or CSV, told by the first line. A CSV record
 * that spans lines is reported at its first line.
 */
export async function* readExport(lines: AsyncIterable<string>): AsyncGenerator<ExportItem> {
  let format: ExportFormat | undefined;
  let lineNumber = 0;
  let pending: { text: string; line: number } | undefined;
  const withoutCr = (text: string) => (text.endsWith('\r') ? text.slice(0, -1) : text);
  for await (const raw of lines) {
    lineNumber++;
    if (format === undefined) {
      const first = withoutCr(raw);
      if (first.trim() === '') continue;
      if (first === CSV_COLUMNS.join(',')) {
        format = 'csv';
        continue;
      }
      format = 'ndjson';
    }
    if (format === 'ndjson') {
      const line = withoutCr(raw);
      if (line.trim() === '') continue;
      try {
        yield { line: lineNumber, event: eventFromNdjson(line) };
      } catch (error) {
        yield { line: lineNumber, error: (error as Error).message };
      }
      continue;
    }
    if (!pending && withoutCr(raw) === '') continue;
    const record = pending ? { text: `${pending.text}\n${raw}`, line: pending.line } : { text: raw, line: lineNumber };
    try {
      const cells = splitCsvRecord(withoutCr(record.text));
      if (cells === undefined) {
        if (record.text.length > MAX_RECORD_CHARS) throw new ExportLineError('an unterminated quoted cell');
        pending = record;
        continue;
      }
      pending = undefined;
      yield { line: record.line, event: eventFromCsvCells(cells) };
    } catch (error) {
      pending = undefined;
      yield { line: record.line, error: (error as Error).message };
    }
  }
  if (pending) yield { line: pending.line, error: 'an unterminated quoted cell at the end of the file' };
}

/** Splits a byte stream into lines at `\n` (UTF-8), one line in memory at a time. */
export async function* linesOf(stream: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let rest = '';
  for await (const chunk of stream) {
    rest += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let newline = rest.indexOf('\n'); newline >= 0; newline = rest.indexOf('\n', start)) {
      yield rest.slice(start, newline);
      start = newline + 1;
    }
    rest = rest.slice(start);
  }
  rest += decoder.decode();
  if (rest !== '') yield rest;
}
