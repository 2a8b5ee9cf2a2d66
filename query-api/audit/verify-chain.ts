/**
 * The two ways to verify the audit chain, one verifier (chain-verifier.ts):
 * - `verifyStoredChain`: the events of a time range as stored (GET /api/v1/compliance/verify),
 *   anchored on the stored event before the range (or genesis) and checked against the
 *   event after it, or the chain head when the range is open: deleting the first or the
 *   last events is found too.
 * - `verifyExport`: an exported file (`npm run audit -- verify <file>`), NDJSON or CSV; a
 *   file from the start of the chain is anchored on genesis.
 * Both read one page or one line at a time.
 *
 * @example
 *   const report = await verifyStoredChain(db.reader, keys, { from: new Date('2026-01-01') });
 *   const fromFile = await verifyExport(createReadStream('audit.ndjson'), keys);
 */
import type pg from 'pg';
import type { AuditKeyRing } from './audit-keys.js';
import { readAuditEvents, resolveAuditRange, type AuditTimeRange } from './audit-reader.js';
import { createChainVerifier, type ChainReport } from './chain-verifier.js';
import { linesOf, readExport } from './export-format.js';

/** Verifies the stored events of `range` (see the module comment). */
export async function verifyStoredChain(
  pool: pg.Pool,
  keys: AuditKeyRing,
  range: AuditTimeRange,
  pageSize?: number,
): Promise<ChainReport> {
  const positions = await resolveAuditRange(pool, range);
  const verifier = createChainVerifier(keys, { anchor: positions.anchor });
  for await (const event of readAuditEvents(pool, positions, pageSize)) verifier.add(event);
  return verifier.finish(positions.next ? { next: positions.next } : { head: positions.head });
}

/** Verifies an export read from `stream` (bytes of an NDJSON or CSV export). */
export async function verifyExport(stream: AsyncIterable<Buffer | string>, keys: AuditKeyRing): Promise<ChainReport> {
  const verifier = createChainVerifier(keys);
  for await (const item of readExport(linesOf(stream))) {
    if ('event' in item) verifier.add(item.event, item.line);
    else verifier.malformed(item.line, item.error);
  }
  return verifier.finish();
}

/** The human-readable lines of a report. */
export function describeChainReport(source: string, report: ChainReport): string[] {
  const range =
    report.firstPosition === null ? 'no events' : `events ${report.firstPosition}–${report.lastPosition ?? '?'}`;
  const lines = [`${source}: ${report.events} events read (${range}), keys ${report.keyIds.join(', ') || 'none'}`];
  if (report.unanchoredStart) lines.push(`note: ${report.unanchoredStart}`);
  if (report.ok) {
    lines.push('OK: every event verifies and the chain is unbroken');
    return lines;
  }
  lines.push(`FAILED: first event that does not verify: ${report.firstFailure!.message}`);
  for (const failure of report.failures) lines.push(`  [${failure.problem}] ${failure.message}`);
  if (report.moreFailures > 0) lines.push(`  … and ${report.moreFailures} more`);
  return lines;
}
