/**
 * Canonical JSON: one byte sequence per value, so a signature computed when an event is
 * written can be recomputed from what PostgreSQL (JSONB reorders keys), an NDJSON export
 * or a CSV export gives back. The rules are those of RFC 8785 (JSON Canonicalization
 * Scheme) for the values an audit event holds:
 *
 *   object  → `{` members sorted by key (UTF-16 code units, as `Array.prototype.sort`) `}`,
 *             members whose value is `undefined` left out
 *   array   → `[` items in order `]`
 *   string  → `JSON.stringify` (ECMAScript escaping: `"`, `\`, control characters)
 *   number  → `JSON.stringify` (ECMAScript shortest round-trip form); non-finite → error
 *   boolean, null → `true`, `false`, `null`
 *
 * No whitespace anywhere. Pure: no I/O.
 *
 * @example
 *   canonicalJson({ b: [1, 2.5e-7], a: 'x' }) // → '{"a":"x","b":[1,2.5e-7]}'
 */

/** Thrown for a value canonical JSON cannot represent (a non-finite number, a function, a bigint, a cycle). */
export class CanonicalJsonError extends Error {}

const MAX_DEPTH = 256;

function write(value: unknown, depth: number, parts: string[]): void {
  if (depth > MAX_DEPTH) throw new CanonicalJsonError(`nested deeper than ${MAX_DEPTH} levels`);
  if (value === null) {
    parts.push('null');
    return;
  }
  switch (typeof value) {
    case 'string':
      parts.push(JSON.stringify(value));
      return;
    case 'boolean':
      parts.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${value} has no JSON form`);
      parts.push(JSON.stringify(value));
      return;
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`a ${typeof value} has no JSON form`);
  }
  if (Array.isArray(value)) {
    parts.push('[');
    value.forEach((item, index) => {
      if (index > 0) parts.push(',');
      write(item === undefined ? null : item, depth + 1, parts);
    });
    parts.push(']');
    return;
  }
  if (value instanceof Date) {
    parts.push(JSON.stringify(value.toISOString()));
    return;
  }
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  parts.push('{');
  entries.forEach(([key, item], index) => {
    if (index > 0) parts.push(',');
    parts.push(JSON.stringify(key), ':');
    write(item, depth + 1, parts);
  });
  parts.push('}');
}

/** The canonical JSON text of `value`; throws `CanonicalJsonError` for what JSON cannot hold. */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, 0, parts);
  return parts.join('');
}
