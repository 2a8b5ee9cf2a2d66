/**
 * CRUD routes for experiments and flags: one generic registration, instantiated twice.
 *
 *   POST  /api/v1/{resource}         create (defaults applied, rules checked) → 201; 409 on a duplicate key
 *   GET   /api/v1/{resource}         list, by key, paginated with `after`
 *   GET   /api/v1/{resource}/{key}   the definition JSON (what the edge functions read); ETag = version
 *   PATCH /api/v1/{resource}/{key}   partial update, rules re-checked on the merged definition;
 *                                    `If-Match: "v<version>"` → 412 (with the current ETag) when
 *                                    the definition changed since that version
 *   DELETE /api/v1/{resource}/{key}  → 204; honours `If-Match`; 409 when `deletionRefusal` says so
 *
 * Every change writes one audit event in its own transaction (audit/audit-log.ts): the
 * definition and its audit event are stored together or not at all.
 */
import type { FastifyRequest } from 'fastify';
import Type, { type TSchema } from 'typebox';
import { PipelineError } from '../../common/errors.js';
import { definitionChangeEvent, requestOrigin, type DefinitionNoun } from '../audit/audit-input.js';
import type { AuditLog } from '../audit/audit-log.js';
import { assertNoViolations, type RuleViolation } from '../definitions/definition-rules.js';
import type { DefinitionStore, RecordChange, StoredDefinition } from '../definitions/definition-store.js';
import { KeyParams, ListQuerySchema } from '../definitions/schemas.js';
import type { QueryApiInstance } from '../context.js';
import { AUTHENTICATED, ERROR_RESPONSES } from './http-schemas.js';

export interface DefinitionResource<T extends { key: string }, Create, Patch> {
  /** URL segment: `experiments`, `flags`. */
  resource: string;
  /** Singular noun for messages, docs and audit events. */
  noun: DefinitionNoun;
  /** Name of the path parameter in the docs (`experimentId`, `flagKey`). */
  paramName: string;
  store: DefinitionStore<T>;
  definitionSchema: TSchema;
  createSchema: TSchema;
  patchSchema: TSchema;
  fromCreate(body: Create): T;
  applyPatch(current: T, patch: Patch): T;
  violations(definition: T): RuleViolation[];
  /** Why this definition may not be deleted now (409), or undefined when it may. */
  deletionRefusal?(definition: T): string | undefined;
  /** Where each change's audit event is written, in the change's transaction. */
  auditLog: AuditLog;
  /** Called after a change (cache invalidation hooks, metrics). */
  onChange?(key: string): void;
}

const etagOfVersion = (version: number) => `"v${version}"`;
const etagOf = (stored: StoredDefinition<unknown>) => etagOfVersion(stored.version);

/**
 * Whether an `If-Match` header admits the current version (RFC 9110 §13.1.1: `*`, or a
 * comma-separated list of entity tags compared strongly — a weak `W/"v3"` never matches).
 * An absent header admits any version.
 *
 * @example ifMatchAdmits('"v2", "v3"', 3) // → true
 */
export function ifMatchAdmits(header: string | undefined, version: number): boolean {
  if (header === undefined) return true;
  const tags = header.split(',').map((tag) => tag.trim());
  return tags.includes('*') || tags.includes(etagOfVersion(version));
}

/** Throws PRECONDITION_FAILED (with the current ETag) unless `If-Match` admits `version`. */
function assertIfMatch(
  ifMatch: string | undefined,
  version: number,
  what: string,
  reply: { header(k: string, v: string): unknown },
) {
  if (ifMatchAdmits(ifMatch, version)) return;
  void reply.header('etag', etagOfVersion(version));
  throw new PipelineError(
    'PRECONDITION_FAILED',
    `${what} changed: If-Match ${ifMatch} does not match the current ETag ${etagOfVersion(version)}; ` +
      'read it again and re-apply your change',
    { details: { etag: etagOfVersion(version) } },
  );
}

/** Registers the CRUD routes of one definition resource. */
export function registerDefinitionRoutes<T extends { key: string }, Create, Patch>(
  app: QueryApiInstance,
  options: DefinitionResource<T, Create, Patch>,
): void {
  const { resource, noun, store, paramName } = options;
  const base = `/api/v1/${resource}`;
  const itemUrl = `${base}/:${paramName}`;
  const Params = Type.Object({ [paramName]: KeyParams.properties.key }, { additionalProperties: false });
  const keyOf = (params: unknown) => (params as Record<string, string>)[paramName]!;
  const tags = [resource];
  /** The audit step of a change made by `request`, run inside the change's transaction. */
  const recordFor =
    (request: FastifyRequest, key: string): RecordChange<T> =>
    async (tx, change) => {
      await options.auditLog.append(
        tx,
        definitionChangeEvent(requestOrigin(request), noun, key, {
          ...(change.before ? { before: change.before.definition } : {}),
          ...(change.after ? { after: change.after.definition } : {}),
        }),
      );
    };
  const IfMatchHeaders = Type.Object({
    'if-match': Type.Optional(
      Type.String({ maxLength: 1024, description: 'ETag(s) of the version this change is based on, or `*`.' }),
    ),
  });

  app.post(
    base,
    {
      config: { access: 'write' },
      schema: {
        tags,
        summary: `Create a ${noun}`,
        security: AUTHENTICATED,
        body: options.createSchema,
        response: { 201: options.definitionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const definition = options.fromCreate(request.body as Create);
      assertNoViolations(noun, options.violations(definition));
      const stored = await store.create(definition.key, definition, recordFor(request, definition.key));
      options.onChange?.(definition.key);
      return reply
        .code(201)
        .header('etag', etagOf(stored))
        .header('location', `${base}/${definition.key}`)
        .send(stored.definition);
    },
  );

  app.get(
    base,
    {
      schema: {
        tags,
        summary: `List ${resource} by key`,
        security: AUTHENTICATED,
        querystring: ListQuerySchema,
        response: {
          200: Type.Object({
            items: Type.Array(options.definitionSchema),
            nextAfter: Type.Union([Type.String(), Type.Null()], {
              description: 'Pass as `after` for the next page; null on the last page.',
            }),
          }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const rows = await store.list({ limit: limit + 1, ...(after ? { after } : {}) });
      const items = rows.slice(0, limit).map((row) => row.definition);
      return { items, nextAfter: rows.length > limit ? (items[items.length - 1]?.key ?? null) : null };
    },
  );

  app.get(
    itemUrl,
    {
      schema: {
        tags,
        summary: `Get a ${noun} definition`,
        description: 'The definition JSON, as the edge functions read it. The ETag header carries its version.',
        security: AUTHENTICATED,
        params: Params,
        response: { 200: options.definitionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const key = keyOf(request.params);
      const stored = await store.get(key);
      if (!stored) throw new PipelineError('NOT_FOUND', `${noun} "${key}" does not exist`);
      return reply.header('etag', etagOf(stored)).send(stored.definition);
    },
  );

  app.patch(
    itemUrl,
    {
      config: { access: 'write' },
      schema: {
        tags,
        summary: `Change a ${noun}`,
        description:
          'Fields given replace the stored ones (arrays as a whole); the key never changes. ' +
          'Send `If-Match` with the ETag of the version you read (`"v<version>"`): when someone changed the ' +
          'definition since, the answer is 412 PRECONDITION_FAILED with the current ETag, and nothing is written.',
        security: AUTHENTICATED,
        params: Params,
        headers: IfMatchHeaders,
        body: options.patchSchema,
        response: { 200: options.definitionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const key = keyOf(request.params);
      const ifMatch = request.headers['if-match'];
      const stored = await store.update(
        key,
        (current, version) => {
          assertIfMatch(ifMatch, version, `${noun} "${key}"`, reply);
          const next = options.applyPatch(current, request.body as Patch);
          assertNoViolations(noun, options.violations(next));
          return next;
        },
        recordFor(request, key),
      );
      options.onChange?.(key);
      return reply.header('etag', etagOf(stored)).send(stored.definition);
    },
  );

  app.delete(
    itemUrl,
    {
      config: { access: 'write' },
      schema: {
        tags,
        summary: `Delete a ${noun}`,
        description:
          'Removes the definition (the audit trail keeps what it was). Send `If-Match` with the ETag you read: ' +
          'when it changed since, the answer is 412 and nothing is deleted.',
        security: AUTHENTICATED,
        params: Params,
        headers: IfMatchHeaders,
        response: { 204: Type.Null({ description: 'Deleted.' }), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const key = keyOf(request.params);
      const ifMatch = request.headers['if-match'];
      await store.remove(
        key,
        (current, version) => {
          assertIfMatch(ifMatch, version, `${noun} "${key}"`, reply);
          const refusal = options.deletionRefusal?.(current);
          if (refusal) throw new PipelineError('CONFLICT', refusal);
        },
        recordFor(request, key),
      );
      options.onChange?.(key);
      return reply.code(204).send(null);
    },
  );
}
