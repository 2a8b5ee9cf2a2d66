/**
 * The experiment as the edge needs it, checked by hand rather than with the compiled
 * schema: TypeBox would multiply the bundle size, and the query API already validated the
 * definition when it was saved. This check only guards against a broken or foreign
 * response: anything it rejects is treated like an API failure (the last good copy is kept).
 */
import type { AssignableExperiment } from '../../common/assignment.js';
import { isWellFormedVariantId } from './cookies.js';

export interface EdgeVariant {
  id: string;
  weight: number;
  url?: string;
}

export interface EdgeExperiment extends AssignableExperiment {
  key: string;
  variants: EdgeVariant[];
}

const STATUSES = new Set(['draft', 'running', 'stopped']);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const isFraction = (value: unknown): value is number => typeof value === 'number' && value >= 0 && value <= 1;

function parseVariant(raw: unknown, index: number): EdgeVariant | string {
  if (!isRecord(raw)) return `variants[${index}] is not an object`;
  const { id, weight, url } = raw;
  if (typeof id !== 'string' || !isWellFormedVariantId(id)) return `variants[${index}].id is not a variant key`;
  if (!isFraction(weight)) return `variants[${index}].weight is not a number in [0, 1]`;
  if (url === undefined) return { id, weight };
  if (typeof url !== 'string' || !/^(\/|https:\/\/)/.test(url))
    return `variants[${index}].url must start with / or https://`;
  return { id, weight, url };
}

/**
 * Checks an experiment definition fetched from the query API. Returns the experiment, or a
 * message saying what was wrong (logged by the caller).
 */
export function parseEdgeExperiment(raw: unknown, expectedKey: string): EdgeExperiment | string {
  if (!isRecord(raw)) return 'response is not a JSON object';
  const { key, status, variants, controlVariantId, coverage, hashSeed, hashVersion, targeting } = raw;
  if (key !== expectedKey)
    return `response is for experiment ${JSON.stringify(key)}, not ${JSON.stringify(expectedKey)}`;
  if (typeof status !== 'string' || !STATUSES.has(status)) return 'status is not draft, running or stopped';
  if (!Array.isArray(variants) || variants.length === 0) return 'variants is not a non-empty array';
  const parsed: EdgeVariant[] = [];
  for (const [index, variant] of variants.entries()) {
    const result = parseVariant(variant, index);
    if (typeof result === 'string') return result;
    parsed.push(result);
  }
  if (typeof controlVariantId !== 'string' || !parsed.some((variant) => variant.id === controlVariantId))
    return 'controlVariantId does not name a variant';
  if (!isFraction(coverage)) return 'coverage is not a number in [0, 1]';
  if (typeof hashSeed !== 'string' || hashSeed.length === 0) return 'hashSeed is not a non-empty string';
  if (typeof hashVersion !== 'number') return 'hashVersion is not a number';
  if (targeting !== undefined && !isRecord(targeting)) return 'targeting is not a rule object';
  return {
    key,
    status: status as EdgeExperiment['status'],
    variants: parsed,
    controlVariantId,
    coverage,
    hashSeed,
    hashVersion,
    ...(targeting === undefined ? {} : { targeting }),
  };
}
