/**
 * First-party ids for new visitors, chosen so that a visitor whose cookies were never stored
 * is still assigned the same variant on the next request.
 *
 * Why: cookies of a visitor who passes through to the origin are set by the viewer-response
 * event, and CloudFront does not run viewer-response functions when the origin answers 400 or
 * more, nor for custom error pages. Such a visitor comes back without cookies. A random id
 * would re-roll the variant; an id derived only from the viewer (IP, user agent) would merge
 * different people behind one carrier NAT into one experiment unit.
 *
 * So the id stays unique (derived from CloudFront's request id, see `visitorIdFor`), but is
 * *aligned*: among `{id, id_1, id_2, …}` the first one whose hash lands in the same variant
 * as the viewer's fingerprint (client IP, User-Agent, Accept-Language) is used. The variant
 * of a cookie-less visitor is therefore a deterministic function of the fingerprint, the id
 * still hashes to that variant everywhere (edge, Lambdas, query API, GrowthBook SDKs), and
 * two viewers with the same fingerprint share a variant (never an id).
 */
import { experimentRanges, type AssignableExperiment } from '../../common/assignment.js';
import { chooseVariant, hashToBucket } from '../../common/hashing.js';
import { isValidVisitorId } from './cookies.js';

/** Enough for a variant with 0.2 % of the traffic to be found with probability 1 − e⁻⁸. */
export const MAX_ALIGNMENT_ATTEMPTS = 4_096;

/**
 * A new visitor's id. CloudFront's request id is unique per request and is also present in
 * the matching viewer-response event, so the response can set the very id the request used
 * even when CloudFront hands the response event the original, unmodified request.
 *
 * @example visitorIdFor('4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==') // '4TyzHTaYWb1GX1qT…'
 */
export function visitorIdFor(requestId: string): string {
  const fromRequestId = requestId.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64);
  return isValidVisitorId(fromRequestId) ? fromRequestId : globalThis.crypto.randomUUID();
}

/**
 * What stays the same between two requests of one viewer who has no cookies yet. `undefined`
 * without a client IP (then ids are not aligned).
 */
export function viewerFingerprint(
  clientIp: string | undefined,
  userAgent: string | undefined,
  acceptLanguage: string | undefined,
): string | undefined {
  if (clientIp === undefined || clientIp.length === 0) return undefined;
  return `${clientIp}\n${userAgent ?? ''}\n${acceptLanguage ?? ''}`;
}

function variantIndex(experiment: AssignableExperiment, ranges: ReturnType<typeof experimentRanges>, id: string) {
  const bucket = hashToBucket(experiment.hashSeed, id, experiment.hashVersion);
  return bucket === null ? null : chooseVariant(bucket, ranges);
}

/**
 * The first of `baseId`, `baseId_1`, `baseId_2`, … (base 36) that hashes to the same variant
 * (or to "outside coverage") as `fingerprint`; `baseId` itself when none does within
 * `MAX_ALIGNMENT_ATTEMPTS` or the hash version is unsupported.
 *
 * @example
 *   alignVisitorId(experiment, visitorIdFor(requestId), viewerFingerprint(ip, ua, lang))
 */
export function alignVisitorId(experiment: AssignableExperiment, baseId: string, fingerprint: string): string {
  const ranges = experimentRanges(experiment);
  const target = variantIndex(experiment, ranges, fingerprint);
  if (target === null) return baseId;
  const stem = baseId.slice(0, 56);
  for (let attempt = 0; attempt < MAX_ALIGNMENT_ATTEMPTS; attempt++) {
    const candidate = attempt === 0 ? baseId : `${stem}_${attempt.toString(36)}`;
    if (variantIndex(experiment, ranges, candidate) === target) return candidate;
  }
  return baseId;
}
