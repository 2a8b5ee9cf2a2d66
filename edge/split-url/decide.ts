/**
 * The split-URL decision for one request, pure: which variant the visitor is in, whether
 * to redirect, and which cookies the browser must keep. The handler turns the decision into
 * a CloudFront response or a modified request.
 *
 * Order: bots and non-GET requests pass untouched → no running experiment, or a path that is
 * none of the variants' URLs, passes → a cookie
 * naming a current variant stands → otherwise the visitor is assigned by hashing their
 * first-party id (created when missing) → a variant with another URL is a 302 to it, query
 * string kept; a request already on its variant's URL passes (no redirect loop).
 */
import { assignVariant, isCurrentVariant, type AssignmentReason } from '../../common/assignment.js';
import type { UserAttributes } from '../../common/targeting-evaluation.js';
import { isBot } from './bots.js';
import {
  assignmentCookieName,
  isValidVisitorId,
  isWellFormedVariantId,
  legacyAssignmentCookieName,
  VISITOR_ID_COOKIE,
  type CookieToSet,
} from './cookies.js';
import type { EdgeExperiment } from './edge-experiment.js';

/** What the decision reads from a viewer request. */
export interface SplitUrlRequest {
  method: string;
  uri: string;
  querystring: string;
  host: string | undefined;
  userAgent: string | undefined;
  cookies: ReadonlyMap<string, string>;
  /** Targeting attributes derived from CloudFront headers (country, deviceType …). */
  attributes: UserAttributes;
}

export type PassReason =
  | 'bot'
  | 'method'
  | 'no-experiment'
  | 'not-an-experiment-url'
  | Exclude<AssignmentReason, 'assigned'>
  | 'variant-without-url'
  | 'on-variant-url';

export type SplitUrlDecision =
  | { action: 'pass'; reason: PassReason; variantId?: string; visitorId?: string; cookies: CookieToSet[] }
  | {
      action: 'redirect';
      location: string;
      variantId: string;
      visitorId: string;
      /** `cookie`: the assignment came from the visitor's cookie; `hash`: assigned now. */
      source: 'cookie' | 'hash';
      cookies: CookieToSet[];
    };

const REDIRECTABLE_METHODS = new Set(['GET', 'HEAD']);

const withoutTrailingSlash = (path: string): string => (path.length > 1 ? path.replace(/\/+$/, '') : path);

/** True when the request is already at `url` (path, and host for absolute URLs); the URL's own query is ignored. */
export function isAtUrl(request: Pick<SplitUrlRequest, 'uri' | 'host'>, url: string): boolean {
  let host: string | undefined;
  let path = url;
  if (url.startsWith('https://')) {
    const parsed = new URL(url);
    host = parsed.host.toLowerCase();
    path = parsed.pathname;
  } else {
    path = url.split(/[?#]/, 1)[0] ?? url;
  }
  if (host !== undefined && host !== request.host?.toLowerCase()) return false;
  return withoutTrailingSlash(path) === withoutTrailingSlash(request.uri);
}

/**
 * Percent-encodes (UTF-8) every character that may not appear in a header value as is: spaces,
 * controls, and anything outside ASCII (a lone surrogate becomes U+FFFD). Visible ASCII,
 * including existing `%XX` escapes, is kept, so a well-formed URL is unchanged.
 */
export function headerSafeUrl(url: string): string {
  return url.replace(/[^\x21-\x7e]/gu, (char) =>
    [...new TextEncoder().encode(char)].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

/**
 * The variant URL with the request's query string appended to any query the URL has, safe
 * to send as a `Location` header whatever the viewer put in the query string.
 */
export function redirectLocation(url: string, querystring: string): string {
  const [withoutFragment = url, fragment] = url.split('#', 2);
  const query = querystring.replace(/^\?/, '');
  const joined =
    query.length === 0 ? withoutFragment : `${withoutFragment}${withoutFragment.includes('?') ? '&' : '?'}${query}`;
  return headerSafeUrl(fragment === undefined ? joined : `${joined}#${fragment}`);
}

/**
 * Decides what to do with one request. `newVisitorId` is called only when the visitor has no
 * valid id cookie.
 *
 * @example
 *   decideSplitUrl(request, experiment, () => crypto.randomUUID())
 *   // { action: 'redirect', location: '/landing-b?utm_source=ad', variantId: 'b', … }
 */
export function decideSplitUrl(
  request: SplitUrlRequest,
  experiment: EdgeExperiment | null,
  newVisitorId: () => string,
): SplitUrlDecision {
  if (isBot(request.userAgent)) return { action: 'pass', reason: 'bot', cookies: [] };
  if (!REDIRECTABLE_METHODS.has(request.method.toUpperCase())) return { action: 'pass', reason: 'method', cookies: [] };
  if (experiment === null) return { action: 'pass', reason: 'no-experiment', cookies: [] };
  if (experiment.status !== 'running') return { action: 'pass', reason: 'not-running', cookies: [] };
  // Only the experiment's own pages are split: a function attached too broadly must not
  // redirect stylesheets or unrelated pages to a variant URL.
  const urls = experiment.variants.flatMap((variant) => (variant.url === undefined ? [] : [variant.url]));
  if (urls.length > 0 && !urls.some((url) => isAtUrl(request, url))) {
    return { action: 'pass', reason: 'not-an-experiment-url', cookies: [] };
  }

  const cookies: CookieToSet[] = [];
  const existingId = request.cookies.get(VISITOR_ID_COOKIE);
  const visitorId = isValidVisitorId(existingId) ? existingId : newVisitorId();
  if (visitorId !== existingId) cookies.push({ name: VISITOR_ID_COOKIE, value: visitorId });

  const cookieName = assignmentCookieName(experiment.key);
  const legacyName = legacyAssignmentCookieName(experiment.key);
  const current = request.cookies.get(cookieName);
  const legacy = current === undefined && legacyName !== cookieName ? request.cookies.get(legacyName) : undefined;
  const cookieVariant = current ?? legacy;
  let variantId: string;
  let source: 'cookie' | 'hash';
  if (isWellFormedVariantId(cookieVariant) && isCurrentVariant(experiment, cookieVariant)) {
    variantId = cookieVariant;
    source = 'cookie';
    // A cookie under the name earlier versions wrote (raw key with `:`) moves to the encoded name.
    if (legacy !== undefined) cookies.push({ name: cookieName, value: variantId });
  } else {
    const assignment = assignVariant(experiment, visitorId, request.attributes);
    if (!assignment.inExperiment)
      return { action: 'pass', reason: assignment.reason as PassReason, visitorId, cookies };
    variantId = assignment.variantId;
    source = 'hash';
    cookies.push({ name: cookieName, value: variantId });
  }

  const url = experiment.variants.find((variant) => variant.id === variantId)?.url;
  if (url === undefined) return { action: 'pass', reason: 'variant-without-url', variantId, visitorId, cookies };
  if (isAtUrl(request, url)) return { action: 'pass', reason: 'on-variant-url', variantId, visitorId, cookies };
  return {
    action: 'redirect',
    location: redirectLocation(url, request.querystring),
    variantId,
    visitorId,
    source,
    cookies,
  };
}
