/**
 * Where exposure comes from: the landing page, not the edge.
 *
 * A redirect is not an exposure: the visitor may abandon before the variant renders, and
 * counting at the edge would also count prefetches and double-count the redirect's two
 * requests. So the page that renders the variant sends the impression (through the
 * collector, like any other event), using the assignment the edge made visible to it:
 * the `exp_uid` and `exp_{experimentKey}` cookies (the key encoded: `exp_checkout%3Av2` for `checkout:v2`), which are in the request's `Cookie`
 * header on every request the edge passes to the origin (injected on first visits) and in
 * `document.cookie` once the redirect or viewer-response set them.
 *
 * These helpers are what a landing page (server-side, or bundled for the browser) uses.
 */
import type { IncomingEvent } from '../../common/event-contract.js';
import {
  assignmentCookieName,
  isValidVisitorId,
  isWellFormedVariantId,
  legacyAssignmentCookieName,
  parseCookieHeader,
  VISITOR_ID_COOKIE,
} from './cookies.js';

export interface SplitUrlAssignment {
  userId: string;
  variantId: string;
}

/**
 * Reads the assignment from a `Cookie` header (or `document.cookie`). `null` means the
 * visitor is not in the experiment (bot, outside coverage, not targeted): send no impression.
 */
export function readSplitUrlAssignment(cookieHeader: string, experimentKey: string): SplitUrlAssignment | null {
  const cookies = parseCookieHeader(cookieHeader);
  const userId = cookies.get(VISITOR_ID_COOKIE);
  const variantId =
    cookies.get(assignmentCookieName(experimentKey)) ?? cookies.get(legacyAssignmentCookieName(experimentKey));
  if (!isValidVisitorId(userId) || !isWellFormedVariantId(variantId)) return null;
  return { userId, variantId };
}

/**
 * The impression event for the collector (`POST` to the ingest API).
 *
 * @example
 *   const assignment = readSplitUrlAssignment(document.cookie, 'checkout-redesign');
 *   if (assignment) send([splitUrlImpression('checkout-redesign', assignment, { eventId: crypto.randomUUID() })]);
 */
export function splitUrlImpression(
  experimentKey: string,
  assignment: SplitUrlAssignment,
  extra: { eventId?: string; timestamp?: number; segments?: Record<string, string> } = {},
): IncomingEvent {
  return {
    type: 'impression',
    experimentId: experimentKey,
    variantId: assignment.variantId,
    userId: assignment.userId,
    ...(extra.eventId === undefined ? {} : { eventId: extra.eventId }),
    ...(extra.timestamp === undefined ? {} : { timestamp: extra.timestamp }),
    ...(extra.segments === undefined ? {} : { segments: extra.segments }),
  };
}
