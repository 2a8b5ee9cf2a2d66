/**
 * Test support for the official-GrowthBook-SDK proof (query-api/sdk/official-growthbook-sdk.test.ts):
 * a deterministic population of visitors with the attributes the split-URL function derives
 * from CloudFront headers, and the split-URL function's answer read back as a variant.
 */
import type { CloudFrontRequest, CloudFrontRequestEvent, CloudFrontResultResponse } from 'aws-lambda';
import { viewerRequestEvent } from '../../edge/split-url/cloudfront-events.js';
import { ASSIGNMENT_HEADER } from '../../edge/split-url/split-url-handler.js';

export const PROOF_HOST = 'www.example.com';
export const LANDING_PATH = '/landing';

const COUNTRIES = ['US', 'CA', 'DE', 'FR', 'BR'] as const;
export const USER_AGENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
] as const;

export interface ProofVisitor {
  /** First-party id: the `exp_uid` cookie at the edge, `id` for the SDK, `userId` for the Lambdas. */
  id: string;
  country: (typeof COUNTRIES)[number];
  mobile: boolean;
  userAgent: string;
}

/** `count` visitors with ids `sdkproof-00000000`, …, attributes spread by a fixed rule. */
export function proofVisitors(count: number): ProofVisitor[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `sdkproof-${String(i).padStart(8, '0')}`,
    country: COUNTRIES[(i * 7) % COUNTRIES.length]!,
    mobile: i % 3 === 0,
    userAgent: USER_AGENTS[(i * 5 + (i >> 4)) % USER_AGENTS.length]!,
  }));
}

/** The targeting attributes the split-URL function derives for the visitor (split-url-handler.ts `toSplitUrlRequest`). */
export function edgeAttributes(visitor: ProofVisitor): Record<string, string> {
  return {
    country: visitor.country,
    deviceType: visitor.mobile ? 'mobile' : 'desktop',
    userAgent: visitor.userAgent,
    host: PROOF_HOST,
    path: LANDING_PATH,
  };
}

/** The viewer-request of a returning visitor (id cookie set, no assignment cookie) on the landing page. */
export function landingRequest(visitor: ProofVisitor): CloudFrontRequestEvent {
  return viewerRequestEvent({
    uri: LANDING_PATH,
    host: PROOF_HOST,
    cookie: `exp_uid=${visitor.id}`,
    country: visitor.country,
    mobile: visitor.mobile,
    userAgent: visitor.userAgent,
  });
}

/**
 * The variant the split-URL function put the visitor in, or `undefined` when it left the
 * visitor out of the experiment (the request passes with no assignment: the control page).
 * A redirect names the variant in its `exp_{key}` cookie; a pass on the variant's own URL in
 * the assignment header.
 */
export function splitUrlVariant(
  result: CloudFrontRequest | CloudFrontResultResponse,
  experimentKey: string,
): string | undefined {
  if ('status' in result && !('uri' in result)) {
    const cookie = (result.headers?.['set-cookie'] ?? [])
      .map((entry) => entry.value)
      .find((value) => value.startsWith(`exp_${experimentKey}=`));
    if (cookie === undefined) throw new Error(`redirect without the exp_${experimentKey} cookie`);
    return cookie.slice(`exp_${experimentKey}=`.length).split(';', 1)[0];
  }
  const header = (result as CloudFrontRequest).headers[ASSIGNMENT_HEADER]?.[0]?.value;
  if (header === undefined) return undefined;
  const [key, variant] = header.split('=', 2);
  if (key !== experimentKey) throw new Error(`assignment header for ${key}, not ${experimentKey}`);
  return variant;
}
