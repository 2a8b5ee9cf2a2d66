/**
 * The chain verifier and the export formats, offline: chains are built with the real
 * signing code, then tampered with in memory the ways an attacker with database access
 * could (edit, delete, reorder, re-sign without the key, drop a retired key).
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AUDIT_FORMAT_VERSION, GENESIS_SIGNATURE, type AuditEvent } from './audit-event.js';
import { auditKeyId, createAuditKeyRing, signAuditEvent, type AuditKeyRing } from './audit-keys.js';
import { createChainVerifier, GENESIS_ANCHOR, type ChainReport } from './chain-verifier.js';
import { csvLine, CSV_HEADER, ndjsonLine, readExport, linesOf } from './export-format.js';
import { verifyExport } from './verify-chain.js';

const SECRET_A = 'a'.repeat(32) + '-first-key';
const SECRET_B = 'b'.repeat(32) + '-second-key';

/** A valid chain of `count` events signed with `keys.current`, continuing after `after`. */
function buildChain(keys: AuditKeyRing, count: number, after = GENESIS_ANCHOR): AuditEvent[] {
  const events: AuditEvent[] = [];
  let previous = after;
  for (let i = 0; i < count; i++) {
    const event = signAuditEvent(
      {
        v: AUDIT_FORMAT_VERSION,
        id: randomUUID(),
        position: previous.position + 1,
        time: new Date(Date.UTC(2026, 0, 1, 0, 0, previous.position)).toISOString(),
        keyId: keys.current.id,
        actor: { type: 'user', id: 'sub-1', username: i === 1 ? 'name, with "quotes"\r\nand lines' : 'ana' },
        sourceIp: '203.0.113.9',
        requestId: `req-${i}`,
        action: 'experiment.updated',
        resource: { type: 'experiment', id: `exp-${i}` },
        change: { fields: { coverage: { before: 1, after: 0.5 }, name: { before: null, after: 'é🙂,"x"' } } },
        previousSignature: previous.signature,
      },
      keys.current,
    );
    events.push(event);
    previous = { position: event.position, signature: event.signature };
  }
  return events;
}

function verify(keys: AuditKeyRing, events: AuditEvent[], options = {}): ChainReport {
  const verifier = createChainVerifier(keys, options);
  events.forEach((event) => verifier.add(event));
  return verifier.finish();
}

describe('audit keys', () => {
  it('derives a stable id from the key, different for different keys, revealing nothing of it', () => {
    expect(auditKeyId(SECRET_A)).toBe(auditKeyId(SECRET_A));
    expect(auditKeyId(SECRET_A)).toMatch(/^hk-[0-9a-f]{16}$/);
    expect(auditKeyId(SECRET_A)).not.toBe(auditKeyId(SECRET_B));
    expect(auditKeyId(SECRET_A)).not.toContain('aaaa');
  });

  it('signs over the previous signature: the same event after another predecessor has another signature', () => {
    const keys = createAuditKeyRing(SECRET_A);
    const [event] = buildChain(keys, 1);
    const { signature: _signature, ...unsigned } = event!;
    const resigned = signAuditEvent({ ...unsigned, previousSignature: 'f'.repeat(64) }, keys.current);
    expect(resigned.signature).not.toBe(event!.signature);
    expect(event!.previousSignature).toBe(GENESIS_SIGNATURE);
  });
});

describe('chain verifier', () => {
  const keys = createAuditKeyRing(SECRET_A);

  it('verifies an untouched chain', () => {
    const report = verify(keys, buildChain(keys, 5));
    expect(report).toMatchObject({ ok: true, events: 5, firstPosition: 1, lastPosition: 5, failures: [] });
    expect(report.keyIds).toEqual([keys.current.id]);
  });

  it('names an edited event (signature mismatch) and a deleted one (missing before the next), in chain order', () => {
    const events = buildChain(keys, 6);
    events[1] = { ...events[1]!, actor: { ...events[1]!.actor, id: 'someone-else' } };
    events.splice(3, 1); // event 4 deleted
    const report = verify(keys, events);
    expect(report.ok).toBe(false);
    expect(report.failures.map((f) => [f.problem, f.position])).toEqual([
      ['signature-mismatch', 2],
      ['missing-events', 5],
    ]);
    expect(report.firstFailure).toEqual(report.failures[0]);
    expect(report.firstFailure!.message).toMatch(/event 2 .*changed after it was written/);
    expect(report.failures[1]!.message).toMatch(/event 4 is missing before event 5/);
  });

  it('finds reordered events and a chain re-signed without the key', () => {
    const events = buildChain(keys, 4);
    const swapped = [events[0]!, events[2]!, events[1]!, events[3]!];
    expect(verify(keys, swapped).failures.map((f) => f.problem)).toEqual([
      'missing-events',
      'out-of-order',
      'missing-events',
    ]);
    const forged = buildChain(createAuditKeyRing('f'.repeat(40)), 2).map((event) => ({
      ...event,
      keyId: keys.current.id,
    }));
    expect(verify(keys, forged).failures.map((f) => f.problem)).toEqual(['signature-mismatch', 'signature-mismatch']);
  });

  it('finds a broken link: an event that does not follow its predecessor’s signature', () => {
    const events = buildChain(keys, 3);
    events[1] = { ...events[1]!, signature: 'e'.repeat(64) };
    const report = verify(keys, events);
    expect(report.failures.map((f) => [f.problem, f.position])).toEqual([
      ['signature-mismatch', 2],
      ['broken-link', 3],
    ]);
  });

  it('verifies across a key rotation with the retired key kept, and names the key when it is not', () => {
    const before = buildChain(keys, 3);
    const rotated = createAuditKeyRing(SECRET_B, [SECRET_A]);
    const after = buildChain(rotated, 3, { position: 3, signature: before[2]!.signature });
    const chain = [...before, ...after];
    const report = verify(rotated, chain);
    expect(report).toMatchObject({ ok: true, events: 6 });
    expect(report.keyIds).toEqual([keys.current.id, rotated.current.id]);
    const withoutRetired = verify(createAuditKeyRing(SECRET_B), chain);
    expect(withoutRetired.failures.map((f) => [f.problem, f.position])).toEqual([
      ['unknown-key', 1],
      ['unknown-key', 2],
      ['unknown-key', 3],
    ]);
    expect(withoutRetired.firstFailure!.message).toContain(keys.current.id);
  });

  it('checks the end against the chain head or the next stored event', () => {
    const events = buildChain(keys, 4);
    const verifier = createChainVerifier(keys, { anchor: GENESIS_ANCHOR });
    events.slice(0, 3).forEach((event) => verifier.add(event));
    const report = verifier.finish({ head: { position: 4, signature: events[3]!.signature } });
    expect(report.failures.map((f) => [f.problem, f.position])).toEqual([['missing-events', 4]]);
    const closed = createChainVerifier(keys, { anchor: GENESIS_ANCHOR });
    events.slice(0, 2).forEach((event) => closed.add(event));
    expect(closed.finish({ next: { position: 4, previousSignature: events[2]!.signature } }).ok).toBe(false);
    const fine = createChainVerifier(keys, { anchor: GENESIS_ANCHOR });
    events.slice(0, 3).forEach((event) => fine.add(event));
    expect(fine.finish({ next: { position: 4, previousSignature: events[2]!.signature } }).ok).toBe(true);
  });

  it('takes a file that starts mid-chain as it starts, and says so; anchored, a missing start is found', () => {
    const events = buildChain(keys, 5).slice(2);
    const report = verify(keys, events);
    expect(report.ok).toBe(true);
    expect(report.unanchoredStart).toMatch(/start at position 3/);
    const anchored = verify(keys, events, { anchor: GENESIS_ANCHOR });
    expect(anchored.failures.map((f) => [f.problem, f.position])).toEqual([['missing-events', 3]]);
  });

  it('keeps at most maxFailures findings and counts the rest', () => {
    const events = buildChain(keys, 10).map((event) => ({ ...event, requestId: 'edited' }));
    const report = verify(keys, events, { maxFailures: 3 });
    expect(report.failures).toHaveLength(3);
    expect(report.moreFailures).toBe(7);
  });
});

describe('export formats', () => {
  const keys = createAuditKeyRing(SECRET_A);
  const events = buildChain(keys, 4);
  /** The text's bytes in chunks of `chunk` bytes, as a file stream delivers them. */
  const asStream = (text: string, chunk = 7): Readable => {
    const bytes = Buffer.from(text);
    const parts: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
    return Readable.from(parts);
  };

  it('reads back NDJSON and CSV (quotes, commas, CR LF inside cells, any Unicode) to the same events', async () => {
    for (const text of [events.map(ndjsonLine).join(''), CSV_HEADER + events.map(csvLine).join('')]) {
      const items = [];
      // Chunks of 7 bytes split multi-byte characters: the decoder must join them.
      for await (const item of readExport(linesOf(asStream(text)))) items.push(item);
      expect(items.map((item) => ('event' in item ? item.event : item))).toEqual(events);
      expect((await verifyExport(asStream(text), keys)).ok).toBe(true);
    }
  });

  it('reports a line that is not an event, with its line number, and goes on', async () => {
    const lines = events.map(ndjsonLine);
    lines[1] = '{"position":2,"id":"x"}\n';
    const report = await verifyExport(asStream(lines.join('')), keys);
    expect(report.failures.map((f) => [f.problem, f.line ?? f.position])).toEqual([
      ['malformed', 2],
      ['missing-events', 3],
    ]);
    expect(report.failures[0]!.message).toMatch(/^line 2: not an audit event/);
  });

  it('refuses fields a signature does not cover', async () => {
    const extra = `${JSON.stringify({ ...events[0], approvedBy: 'ceo' })}\n`;
    const report = await verifyExport(asStream(extra), keys);
    expect(report.failures[0]).toMatchObject({ problem: 'malformed', line: 1 });
  });

  it('finds an edited CSV cell', async () => {
    const text = CSV_HEADER + events.map(csvLine).join('').replace('exp-2', 'exp-9');
    const report = await verifyExport(asStream(text), keys);
    expect(report.failures.map((f) => [f.problem, f.position])).toEqual([['signature-mismatch', 3]]);
  });
});
