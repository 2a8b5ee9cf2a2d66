/**
 * The audit event: what is stored (table `audit_events`), exported and verified, and the
 * exact text its signature covers.
 *
 * An event is signed with HMAC-SHA256 (audit-keys.ts) over `signedPayload(event)`: the
 * canonical JSON (canonical-json.ts) of every field but the signature itself —
 *
 *   { v, id, position, time, keyId, actor { type, id, username }, sourceIp, requestId,
 *     action, resource { type, id }, change, previousSignature }
 *
 * — so the previous event's signature is part of what each signature covers: a hash chain.
 * Changing any field of a stored event breaks its signature; deleting, inserting or
 * reordering events breaks the `position` sequence and the `previousSignature` links.
 * The first event follows `GENESIS_SIGNATURE`.
 *
 * @example
 *   const signed = signAuditEvent(unsigned, keyRing.current); // unsigned: AuditEvent minus signature
 */
import { canonicalJson } from './canonical-json.js';

/** Version of the event format and of `signedPayload`; stored with each event. */
export const AUDIT_FORMAT_VERSION = 1;
/** What the first event of the chain follows: 64 zeros (no signature is ever all zeros in practice). */
export const GENESIS_SIGNATURE = '0'.repeat(64);

/** Who acted: an API key (its id `key#0`, never the key), a signed-in user, nobody (auth off), or the service. */
export interface AuditActor {
  type: 'api-key' | 'user' | 'anonymous' | 'system';
  /** `key#<index>` / `admin-key#<index>`, the token's `sub`, `anonymous`, or the service name. */
  id: string;
  /** The token's `username` (users), else null. */
  username: string | null;
}

/** What changed: the kinds of state change the query API records. */
export type AuditAction =
  | 'experiment.created'
  | 'experiment.updated'
  | 'experiment.status-changed'
  | 'experiment.deleted'
  | 'flag.created'
  | 'flag.updated'
  | 'flag.deleted'
  | 'session.signed-out'
  | 'authentication.failures'
  | 'sdk-connection.created'
  | 'sdk-connection.rotated'
  | 'sdk-connection.deleted';

/** A JSON object: the `change` of an event. */
export type JsonObject = { [key: string]: unknown };

/** What the caller of `AuditLog.append` supplies; the log adds identity, time, chain and signature. */
export interface AuditEventInput {
  actor: AuditActor;
  /** The client address (behind the ALB: the one it appended to X-Forwarded-For); null for the service itself. */
  sourceIp: string | null;
  /** The request's `x-request-id`; null for the service itself. */
  requestId: string | null;
  action: AuditAction;
  resource: { type: string; id: string };
  /** Created: `{ after }`; changed: `{ fields: { name: { before, after } } }`; deleted: `{ before }`. */
  change: JsonObject;
}

/** A stored event, as exported. */
export interface AuditEvent extends AuditEventInput {
  /** Format version (AUDIT_FORMAT_VERSION when written). */
  v: number;
  /** UUID of the event. */
  id: string;
  /** Place in the chain: 1, 2, 3, … without gaps. */
  position: number;
  /** ISO 8601 UTC with milliseconds; never before the previous event's time. */
  time: string;
  /** Id of the key that signed it (audit-keys.ts). */
  keyId: string;
  /** The signature of the event at `position - 1` (GENESIS_SIGNATURE for position 1). */
  previousSignature: string;
  /** Lower-case hex HMAC-SHA256 of `signedPayload(event)`. */
  signature: string;
}

export type UnsignedAuditEvent = Omit<AuditEvent, 'signature'>;

/**
 * The exact text the signature covers: the canonical JSON of every field but `signature`.
 * Absent optional values are `null`, never left out, so NDJSON and CSV give the same text.
 */
export function signedPayload(event: UnsignedAuditEvent): string {
  return canonicalJson({
    v: event.v,
    id: event.id,
    position: event.position,
    time: event.time,
    keyId: event.keyId,
    actor: { type: event.actor.type, id: event.actor.id, username: event.actor.username },
    sourceIp: event.sourceIp,
    requestId: event.requestId,
    action: event.action,
    resource: { type: event.resource.type, id: event.resource.id },
    change: event.change,
    previousSignature: event.previousSignature,
  });
}
