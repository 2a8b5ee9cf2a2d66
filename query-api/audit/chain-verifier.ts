/**
 * Re-computes the audit chain, one event at a time (bounded memory: it keeps the previous
 * event and at most `maxFailures` findings), and names every event that does not verify.
 * The same verifier serves `npm run audit -- verify <file>` and GET /api/v1/compliance/verify.
 *
 * For each event, in the order given:
 *   1. `position` must be the previous one + 1: larger → `missing-events` (deleted),
 *      not larger → `out-of-order` (reordered or duplicated);
 *   2. `previousSignature` must equal the previous event's `signature` (GENESIS_SIGNATURE
 *      before position 1) → else `broken-link`;
 *   3. its key must be known (`unknown-key`: a retired key missing from
 *      AUDIT_HMAC_PREVIOUS_SECRETS) and its signature must match its fields →
 *      else `signature-mismatch` (the event was edited after it was written).
 * After a finding the check goes on from the stored event, so every tampered place is
 * reported, not only the first. `finish` checks the end: the event after the range (or
 * the chain head) must follow the last one, else `missing-events` at the end.
 *
 * @example
 *   const verifier = createChainVerifier(keys, { anchor: GENESIS_ANCHOR });
 *   for await (const event of events) verifier.add(event);
 *   const report = verifier.finish({ head });
 *   if (!report.ok) console.log(report.firstFailure?.message);
 */
import { GENESIS_SIGNATURE, type AuditEvent } from './audit-event.js';
import { auditSignatureMatches, type AuditKeyRing } from './audit-keys.js';

export type ChainProblem =
  'signature-mismatch' | 'unknown-key' | 'broken-link' | 'missing-events' | 'out-of-order' | 'malformed';

export interface ChainFailure {
  problem: ChainProblem;
  /** Chain position of the event that does not verify (null for an unreadable line). */
  position: number | null;
  /** Its id (null when unknown). */
  id: string | null;
  /** Line of the file (file verification only). */
  line?: number;
  message: string;
}

export interface ChainReport {
  ok: boolean;
  /** Events read. */
  events: number;
  firstPosition: number | null;
  lastPosition: number | null;
  /** Ids of the keys that signed the events read. */
  keyIds: string[];
  /** The first event that does not verify; null when all do. */
  firstFailure: ChainFailure | null;
  /** Findings in chain order, at most `maxFailures`. */
  failures: ChainFailure[];
  /** Findings beyond `maxFailures`, counted only. */
  moreFailures: number;
  /** Set when the first event's link to its predecessor could not be checked (a file that starts mid-chain). */
  unanchoredStart?: string;
}

/** Where the verified events start: after this position and signature. */
export interface ChainAnchor {
  position: number;
  signature: string;
}

/** The start of the chain: the first event is position 1 and follows GENESIS_SIGNATURE. */
export const GENESIS_ANCHOR: ChainAnchor = Object.freeze({ position: 0, signature: GENESIS_SIGNATURE });

export interface ChainVerifierOptions {
  /**
   * The event before the first one (server side: the stored one before the range, or
   * GENESIS_ANCHOR). Without it (a file), a first event at position 1 is checked against
   * genesis and any other first event is taken as the start (reported in `unanchoredStart`).
   */
  anchor?: ChainAnchor;
  /** Findings kept in the report. Default 100. */
  maxFailures?: number;
}

export interface ChainVerifier {
  add(event: AuditEvent, line?: number): void;
  /** A line that is not an event (file verification). */
  malformed(line: number, message: string): void;
  /**
   * Ends the check. `next`: the stored event after the range, or the chain head (what the
   * last event must be followed by, or be); absent: the end is not checked.
   */
  finish(end?: { next?: { position: number; previousSignature: string }; head?: ChainAnchor }): ChainReport;
}

/** `event 4 is` / `events 4–6 are`. */
const missingRange = (first: number, last: number) =>
  first === last ? `event ${first} is` : `events ${first}–${last} are`;

const describe = (event: AuditEvent) => `event ${event.position} (${event.id}, ${event.action}, ${event.time})`;

/** A verifier over `keys` (current and retired). */
export function createChainVerifier(keys: AuditKeyRing, options: ChainVerifierOptions = {}): ChainVerifier {
  const maxFailures = options.maxFailures ?? 100;
  const failures: ChainFailure[] = [];
  let moreFailures = 0;
  let events = 0;
  let firstPosition: number | null = null;
  let previous: ChainAnchor | undefined = options.anchor;
  let unanchoredStart: string | undefined;
  const keyIds = new Set<string>();

  const report = (failure: ChainFailure) => {
    if (failures.length < maxFailures) failures.push(failure);
    else moreFailures++;
  };

  return {
    add(event, line) {
      events++;
      firstPosition ??= event.position;
      keyIds.add(event.keyId);
      const at = { position: event.position, id: event.id, ...(line === undefined ? {} : { line }) };
      if (!previous && event.position !== 1) {
        unanchoredStart = `the events start at position ${event.position}: its link to event ${event.position - 1} is not checked`;
      } else {
        const before = previous ?? GENESIS_ANCHOR;
        const expected = before.position + 1;
        if (event.position > expected) {
          report({
            ...at,
            problem: 'missing-events',
            message: `${missingRange(expected, event.position - 1)} missing before ${describe(event)}: deleted from the trail`,
          });
        } else if (event.position < expected) {
          report({
            ...at,
            problem: 'out-of-order',
            message: `${describe(event)} comes after event ${before.position}: events were reordered or duplicated`,
          });
        } else if (event.previousSignature !== before.signature) {
          report({
            ...at,
            problem: 'broken-link',
            message: `${describe(event)} does not follow the signature of event ${before.position}: an event before it was changed, replaced or removed`,
          });
        }
      }
      const key = keys.byId(event.keyId);
      if (!key) {
        report({
          ...at,
          problem: 'unknown-key',
          message: `${describe(event)} is signed with key ${event.keyId}, which is not among AUDIT_HMAC_SECRET and AUDIT_HMAC_PREVIOUS_SECRETS`,
        });
      } else if (!auditSignatureMatches(event, key)) {
        report({
          ...at,
          problem: 'signature-mismatch',
          message: `${describe(event)} does not match its signature: it was changed after it was written`,
        });
      }
      previous = { position: event.position, signature: event.signature };
    },
    malformed(line, message) {
      report({ problem: 'malformed', position: null, id: null, line, message: `line ${line}: ${message}` });
    },
    finish(end = {}) {
      const last = previous && previous !== options.anchor ? previous : undefined;
      const after = last ?? options.anchor;
      if (after && end.next) {
        if (end.next.position !== after.position + 1) {
          report({
            problem: 'missing-events',
            position: end.next.position,
            id: null,
            message: `${missingRange(after.position + 1, end.next.position - 1)} missing after event ${after.position}: deleted from the trail`,
          });
        } else if (end.next.previousSignature !== after.signature) {
          report({
            problem: 'broken-link',
            position: end.next.position,
            id: null,
            message: `event ${end.next.position} does not follow the signature of event ${after.position}: an event before it was changed, replaced or removed`,
          });
        }
      } else if (after && end.head && end.head.position !== after.position) {
        report({
          problem: 'missing-events',
          position: end.head.position,
          id: null,
          message:
            end.head.position > after.position
              ? `${missingRange(after.position + 1, end.head.position)} missing: the chain head is at ${end.head.position} but the last stored event is ${after.position}`
              : `the chain head is at ${end.head.position} but events go up to ${after.position}: events were inserted`,
        });
      } else if (after && end.head && end.head.signature !== after.signature) {
        report({
          problem: 'broken-link',
          position: after.position,
          id: null,
          message: `event ${after.position} is not the one the chain head recorded: it was replaced`,
        });
      }
      const firstFailure = failures[0] ?? null;
      return {
        ok: firstFailure === null,
        events,
        firstPosition,
        lastPosition: last?.position ?? null,
        keyIds: [...keyIds],
        firstFailure,
        failures,
        moreFailures,
        ...(unanchoredStart ? { unanchoredStart } : {}),
      };
    },
  };
}
