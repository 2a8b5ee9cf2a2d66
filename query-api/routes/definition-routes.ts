/**
 * CRUD routes for experiments and flags: one generic registration, instantiated twice.
 *
 *   POST  /api/v1/{resource}         create (defaults applied, rules checked) → 201; 409 on a duplicate key
 *   GET   /api/v1/{resource}         list, by key, paginated with `after`
 *   GET   /api/v1/{resource}/{key}   the definition JSON (what the edge functions read); ETag = version
 *   PATCH /api/v1/{resource}/{key}   partial update, rules re-checked on the merged definition
 */
import Type, { type TSchema } from 'typebox';
import { PipelineError } from '../../common/errors.js';
import { assertNoViolations, type RuleViolation } from '../definitions/definition-rules.js';
import type { DefinitionStore, StoredDefinition } from '../definitions/definition-store.js';
import { KeyParams, ListQuerySchema } from '../definitions/schemas.js';
import type { QueryApiInstance } from '../context.js';
import { AUTHENTICATED, ERROR_RESPONSES } from './http-schemas.js';

export interface DefinitionResource<T extends { key: string }, Create, Patch> {
  /** URL segment: `experiments`, `flags`. */
  resource: string;
  /** Singular noun for messages and docs. */
  noun: string;
  /** Name of the path parameter in the docs (`experimentId`, `flagKey`). */
  paramName: string;
  store: DefinitionStore<T>;
  definitionSchema: TSchema;
  createSchema: TSchema;
  patchSchema: TSchema;
  fromCreate(body: Create): T;
  applyPatch(current: T, patch: Patch): T;
  violations(definition: T): RuleViolation[];
  /** Called after a change (cache invalidation hooks, metrics). */
  onChange?(key: string): void;
}

const etagOf = (stored: StoredDefinition<unknown>) => `"v${stored.version}"`;

/** Registers the four CRUD routes of one definition resource. */
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
      const stored = await store.create(definition.key, definition);
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
        description: 'Fields given replace the stored ones (arrays as a whole); the key never changes.',
        security: AUTHENTICATED,
        params: Params,
        body: options.patchSchema,
        response: { 200: options.definitionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const key = keyOf(request.params);
      const stored = await store.update(key, (current) => {
        const next = options.applyPatch(current, request.body as Patch);
        assertNoViolations(noun, options.violations(next));
        return next;
      });
      options.onChange?.(key);
      return reply.header('etag', etagOf(stored)).send(stored.definition);
    },
  );
}
