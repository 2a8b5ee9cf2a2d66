/**
 * Whose budget a request spends: the verified principal, never a raw header. Every API
 * key is its own bucket (give each edge function its own key in API_KEYS), every Cognito
 * user (token `sub`) one bucket whatever token or header spelling they send; requests
 * that are not authenticated (no or bad credentials, or authentication off) count per
 * client IP.
 *
 * @example
 *   rateLimitKey({ kind: 'user', subject: 'a1b2', canWrite: false }, '10.0.0.7'); // 'sub:a1b2'
 *   rateLimitKey(undefined, '10.0.0.7');                                           // 'ip:10.0.0.7'
 */
import type { Principal } from '../auth/authenticate.js';

/** The rate-limit key of a request's principal (undefined when authentication failed). */
export function rateLimitKey(principal: Principal | undefined, ip: string): string {
  if (principal?.kind === 'service') return `key:${principal.subject}`;
  if (principal?.kind === 'user') return `sub:${principal.subject}`;
  return `ip:${ip}`;
}
