/**
 * ajv 8 coerces a query-string value such as `1e309` or `Infinity` to `Infinity` and then
 * accepts it for `integer`/`number` schemas whatever their `maximum` (found by the fuzz
 * suite: `GET /api/v1/experiments?limit=1e309` reached SQL and answered 500). This
 * preValidation hook refuses, for the query parameters a route declares as numbers, any
 * value that is not a finite number, with the field and the rule, before validation runs.
 */
import type { FastifyRequest } from 'fastify';
import { PipelineError } from '../common/errors.js';

interface QuerySchema {
  properties?: Record<string, { type?: unknown }>;
}

const isNumeric = (type: unknown): boolean =>
  type === 'integer' || type === 'number' || (Array.isArray(type) && type.some(isNumeric));

/** Throws VALIDATION_FAILED naming the first declared numeric query parameter whose value is infinite. */
export function assertFiniteQueryNumbers(request: FastifyRequest): void {
  const schema = request.routeOptions.schema?.querystring as QuerySchema | undefined;
  const query = request.query as Record<string, unknown> | undefined;
  if (!schema?.properties || !query) return;
  for (const [name, property] of Object.entries(schema.properties)) {
    if (!isNumeric(property.type)) continue;
    const raw = query[name];
    for (const value of Array.isArray(raw) ? raw : [raw]) {
      if (typeof value !== 'string' || value.trim() === '') continue;
      const number = Number(value);
      if (number === Infinity || number === -Infinity) {
        throw new PipelineError('VALIDATION_FAILED', `querystring/${name} must be a finite number`, {
          details: [{ field: name, rule: 'finite', message: 'must be a finite number' }],
        });
      }
    }
  }
}
