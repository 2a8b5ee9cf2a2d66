/**
 * Credential redaction for anything that may be printed: configuration errors, log lines,
 * error messages and stacks. Connection strings carry passwords (`postgres://user:pw@host`,
 * `rediss://:token@host`, `?password=`); they are shown with the credentials replaced by
 * `***` and everything else (scheme, host, port, database) kept, so a message still says
 * which endpoint was meant.
 *
 * @example
 *   redactCredentials('REDIS_URL="rediss://:tok3n@cache:6379" is invalid');
 *   // → 'REDIS_URL="rediss://***@cache:6379" is invalid'
 */

/** What replaces a credential. */
export const REDACTED = '***';

/** A URL-looking token inside free text: `scheme://` up to whitespace, a quote or a bracket. */
const URL_TOKEN = /\b[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s"'<>`]*/g;
/** Credential-bearing query parameters (`?password=…`, `&sslpassword=…`, `?auth_token=…`). */
const QUERY_SECRET = /([?&;](?:[a-z_]*password|pass|pwd|[a-z_]*token|[a-z_]*secret|auth)=)([^&#\s"'<>`]*)/gi;

/**
 * Redacts one whole connection string: everything between `://` and the last `@` (the
 * userinfo, whatever characters a password holds, spaces included), and secret query
 * parameters. Over-redacts a URL whose path contains `@` — never under-redacts.
 *
 * @example redactUrl('postgres://app:pa ss@db:5432/x') // → 'postgres://***@db:5432/x'
 */
export function redactUrl(url: string): string {
  const schemeEnd = url.indexOf('://');
  const at = url.lastIndexOf('@');
  const withoutUserinfo =
    schemeEnd >= 0 && at > schemeEnd ? `${url.slice(0, schemeEnd + 3)}${REDACTED}${url.slice(at)}` : url;
  return withoutUserinfo.replace(QUERY_SECRET, (_match, name: string) => `${name}${REDACTED}`);
}

/**
 * Replaces credentials in every URL found in free `text` (log messages, error messages,
 * stacks) with `***`. Text without `://` comes back unchanged (the same string).
 *
 * @example redactCredentials('connect rediss://:tok@cache:6379 failed') // → 'connect rediss://***@cache:6379 failed'
 */
export function redactCredentials(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(URL_TOKEN, redactUrl);
}

/**
 * A deep copy of `value` with credentials redacted from every string (bounded depth; for
 * error details and log fields, not for large payloads).
 */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactCredentials(value);
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactDeep(item, depth + 1)]));
}

/** Variables whose whole value is a secret (API keys, tokens, passwords). */
const SECRET_VARIABLE = /(KEY|KEYS|TOKEN|TOKENS|SECRET|SECRETS|PASSWORD|PASSWORDS)$/;

/**
 * How an environment variable's value may be shown in a message: secrets entirely
 * hidden, URLs with their credentials redacted, anything else as given.
 *
 * @example redactEnvValue('DATABASE_URL', 'postgres://u:p@h/db') // → 'postgres://***@h/db'
 */
export function redactEnvValue(name: string, value: string): string {
  return SECRET_VARIABLE.test(name) ? REDACTED : redactUrl(value);
}
