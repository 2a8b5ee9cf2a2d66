/**
 * What the routes record (pure): the actor of a request's principal, and the action and
 * change of a definition being created, changed or deleted.
 *
 *   created → `{ after: <definition> }`
 *   changed → `{ fields: { <name>: { before, after } } }`: only the top-level fields whose
 *             canonical JSON differs (arrays and objects compared whole; absent = null);
 *             an experiment whose `status` changed is `experiment.status-changed`
 *   deleted → `{ before: <definition> }`
 *
 * @example
 *   changedFields({ name: 'a', coverage: 1 }, { name: 'b', coverage: 1 })
 *   // → { name: { before: 'a', after: 'b' } }
 */
import type { Principal } from '../auth/authenticate.js';
import type { AuditAction, AuditActor, AuditEventInput, JsonObject } from './audit-event.js';
import { canonicalJson } from './canonical-json.js';

/** The audit actor of a principal: never a secret, only ids. */
export function actorOf(principal: Principal | undefined): AuditActor {
  if (principal?.kind === 'service') return { type: 'api-key', id: principal.subject, username: null };
  if (principal?.kind === 'user') return { type: 'user', id: principal.subject, username: principal.username ?? null };
  return { type: 'anonymous', id: 'anonymous', username: null };
}

/** Who asked, from where, in which request: the part of an event every route supplies alike. */
export interface RequestOrigin {
  actor: AuditActor;
  sourceIp: string | null;
  requestId: string | null;
}

/** The top-level fields that differ between two definitions, with their values before and after. */
export function changedFields(
  before: JsonObject,
  after: JsonObject,
): Record<string, { before: unknown; after: unknown }> {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const fields: Record<string, { before: unknown; after: unknown }> = {};
  for (const name of names) {
    const old = before[name] ?? null;
    const next = after[name] ?? null;
    if (canonicalJson(old) !== canonicalJson(next)) fields[name] = { before: old, after: next };
  }
  return fields;
}

export type DefinitionNoun = 'experiment' | 'flag';

/** The event of a definition change; `before`/`after` absent for a creation/deletion. */
export function definitionChangeEvent(
  origin: RequestOrigin,
  noun: DefinitionNoun,
  key: string,
  definitions: { before?: JsonObject; after?: JsonObject },
): AuditEventInput {
  const resource = { type: noun, id: key };
  // Compared and recorded in their JSON form, as they are stored (a non-finite number is null there).
  const change = {
    ...(definitions.before ? { before: asJson(definitions.before) } : {}),
    ...(definitions.after ? { after: asJson(definitions.after) } : {}),
  };
  if (!change.before) {
    return { ...origin, resource, action: `${noun}.created`, change: { after: change.after ?? null } };
  }
  if (!change.after) {
    return { ...origin, resource, action: `${noun}.deleted`, change: { before: change.before } };
  }
  const fields = changedFields(change.before, change.after);
  const action: AuditAction =
    noun === 'experiment' && 'status' in fields ? 'experiment.status-changed' : `${noun}.updated`;
  return { ...origin, resource, action, change: { fields } };
}

const asJson = (value: JsonObject): JsonObject => JSON.parse(JSON.stringify(value)) as JsonObject;

/** The origin of a request: its verified principal, client address and request id. */
export function requestOrigin(request: { principal: Principal | undefined; ip: string; id: string }): RequestOrigin {
  return { actor: actorOf(request.principal), sourceIp: request.ip || null, requestId: request.id || null };
}
