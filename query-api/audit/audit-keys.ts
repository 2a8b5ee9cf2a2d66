/**
 * The audit trail's signing keys: the current one (AUDIT_HMAC_SECRET) signs new events;
 * retired ones (AUDIT_HMAC_PREVIOUS_SECRETS) still verify the events they signed. Each
 * event records the id of its key, so a chain verifies across rotations.
 *
 * A key's id is derived from the key itself — `hk-` + the first 16 hex digits of
 * HMAC-SHA256(secret, "audit-key-id") — so it never needs configuring, two different
 * secrets never share an id, and the id reveals nothing about the secret.
 *
 * Signature = lower-case hex HMAC-SHA256(secret, signedPayload(event)) (audit-event.ts).
 *
 * @example
 *   const keys = createAuditKeyRing(config.audit.hmacSecret!, config.audit.previousHmacSecrets);
 *   const signed = signAuditEvent(unsigned, keys.current);
 *   auditSignatureMatches(signed, keys.byId(signed.keyId)!); // → true
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Config } from '../../common/config.js';
import { PipelineError } from '../../common/errors.js';
import { signedPayload, type AuditEvent, type UnsignedAuditEvent } from './audit-event.js';

export interface AuditKey {
  readonly id: string;
  readonly secret: Buffer;
}

export interface AuditKeyRing {
  /** Signs new events. */
  readonly current: AuditKey;
  /** The key with this id, current or retired. */
  byId(id: string): AuditKey | undefined;
  /** Every id this ring verifies, current first. */
  readonly ids: readonly string[];
}

/** The id of a signing key (see the module comment). */
export function auditKeyId(secret: string): string {
  return `hk-${createHmac('sha256', secret).update('audit-key-id').digest('hex').slice(0, 16)}`;
}

/** A ring of the current key and the retired ones (duplicates ignored). */
export function createAuditKeyRing(current: string, previous: readonly string[] = []): AuditKeyRing {
  const toKey = (secret: string): AuditKey => ({ id: auditKeyId(secret), secret: Buffer.from(secret, 'utf8') });
  const currentKey = toKey(current);
  const keys = new Map<string, AuditKey>([[currentKey.id, currentKey]]);
  for (const secret of previous) {
    const key = toKey(secret);
    if (!keys.has(key.id)) keys.set(key.id, key);
  }
  return { current: currentKey, byId: (id) => keys.get(id), ids: [...keys.keys()] };
}

/**
 * The key ring of a configuration. Throws CONFIG_INVALID naming AUDIT_HMAC_SECRET when it
 * is not set: the query API never changes state without signing the record of it.
 */
export function auditKeyRingFromConfig(config: Pick<Config, 'audit'>): AuditKeyRing {
  const secret = config.audit.hmacSecret;
  if (!secret) {
    throw new PipelineError(
      'CONFIG_INVALID',
      'Invalid configuration: AUDIT_HMAC_SECRET is not set; the query API signs its audit trail with it ' +
        '(at least 32 characters; `npm start` generates one in .local-data/)',
    );
  }
  return createAuditKeyRing(secret, config.audit.previousHmacSecrets);
}

function hmacHex(key: AuditKey, event: UnsignedAuditEvent): string {
  return createHmac('sha256', key.secret).update(signedPayload(event), 'utf8').digest('hex');
}

/** Signs an event with `key` (its `keyId` must be `key.id`). */
export function signAuditEvent(event: UnsignedAuditEvent, key: AuditKey): AuditEvent {
  if (event.keyId !== key.id) throw new Error(`event names key ${event.keyId} but is signed with ${key.id}`);
  return { ...event, signature: hmacHex(key, event) };
}

/** True when the event's signature is the one `key` gives its fields (constant-time comparison). */
export function auditSignatureMatches(event: AuditEvent, key: AuditKey): boolean {
  const expected = Buffer.from(hmacHex(key, event), 'hex');
  const given = /^[0-9a-f]{64}$/.test(event.signature) ? Buffer.from(event.signature, 'hex') : Buffer.alloc(0);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
