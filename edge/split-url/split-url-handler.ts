/**
 * The split-URL Lambda@Edge function: one handler for the `viewer-request` event (assign,
 * redirect or pass) and, optionally, the `viewer-response` event (persist the cookies of
 * visitors who passed through: a viewer-request function can only set cookies on responses it
 * generates itself, i.e. redirects).
 *
 * It never fails a viewer's request: any error passes the request (or response) through
 * unchanged and is logged.
 */
import type {
  CloudFrontHeaders,
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontResponse,
  CloudFrontResponseEvent,
  CloudFrontResultResponse,
} from 'aws-lambda';
import { isBot } from './bots.js';
import {
  assignmentCookieName,
  cookiePairs,
  isValidVisitorId,
  isWellFormedVariantId,
  parseCookieHeader,
  requestCookies,
  serializeSetCookie,
  VISITOR_ID_COOKIE,
  type CookieToSet,
} from './cookies.js';
import { decideSplitUrl, type SplitUrlDecision, type SplitUrlRequest } from './decide.js';
import { silentLog, type EdgeLog } from './edge-log.js';
import type { ExperimentSource } from './experiment-source.js';
import type { EdgeExperiment } from './edge-experiment.js';
import { alignVisitorId, viewerFingerprint, visitorIdFor } from './visitor-id.js';

export { visitorIdFor } from './visitor-id.js';

/** The bundle-time configuration (esbuild `define` of `__SPLIT_URL_CONFIG__`). */
export interface SplitUrlConfig {
  experimentKey: string;
  experimentationApiUrl: string;
  /** A key compiled in (local builds and tests); empty when `experimentationApiKeySecret` is set. */
  experimentationApiKey: string;
  /** Where the function reads its key at run time (Secrets Manager, JSON key `keys`): the deployed form. */
  experimentationApiKeySecret?: { secretId: string; region: string };
}

/**
 * Every request header this function sets starts with this prefix, and every incoming one
 * is removed first: a viewer must not be able to tell the origin an assignment or make the
 * viewer-response set cookies.
 */
export const INTERNAL_HEADER_PREFIX = 'x-split-url-';
/**
 * Request header carrying the cookies a pass-through visitor must keep, from the
 * viewer-request to the viewer-response (and to the origin, which may read it too).
 */
export const PENDING_COOKIES_HEADER = 'x-split-url-set-cookie';
/** Request header telling the origin the assignment: `{experimentKey}={variantId}`. */
export const ASSIGNMENT_HEADER = 'x-split-url-assignment';
/**
 * CloudFront's request id, set next to the pending cookies: viewer-response trusts the
 * pending cookies only when it matches its own event's request id, which a viewer cannot know
 * in advance (so a forged header is ignored even if CloudFront handed viewer-response the
 * request as the viewer sent it).
 */
export const PENDING_REQUEST_ID_HEADER = 'x-split-url-request-id';

/**
 * Removes every `x-split-url-*` header (any case) from a viewer's request, in place.
 *
 * @example stripInternalHeaders(event.Records[0].cf.request)
 */
export function stripInternalHeaders(request: CloudFrontRequest): CloudFrontRequest {
  const headers = request.headers as CloudFrontHeaders | undefined;
  if (headers === undefined || headers === null || typeof headers !== 'object') return request;
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase().startsWith(INTERNAL_HEADER_PREFIX)) delete headers[name];
  }
  return request;
}

export interface SplitUrlDeps {
  source: ExperimentSource;
  log?: EdgeLog;
  now?: () => number;
  /**
   * Generates a first-party id. By default: derived from CloudFront's request id
   * (`visitorIdFor`) and aligned to the viewer's fingerprint (`alignVisitorId`), so a viewer
   * whose cookies were never stored gets the same variant on the next request.
   */
  newVisitorId?: (requestId: string) => string;
}

export type SplitUrlEvent = CloudFrontRequestEvent | CloudFrontResponseEvent;

/** Only for an event without a CloudFront record, which CloudFront never sends. */
const MALFORMED_EVENT_RESPONSE: CloudFrontResultResponse = { status: '400', statusDescription: 'Bad Request' };
export type SplitUrlResult = CloudFrontRequest | CloudFrontResultResponse | CloudFrontResponse;

/**
 * Checks the bundled configuration; returns it or a message. Kept dependency-free for the
 * bundle.
 */
export function parseSplitUrlConfig(raw: unknown): SplitUrlConfig | string {
  if (raw === null || typeof raw !== 'object') return '__SPLIT_URL_CONFIG__ is not defined at build time';
  const { experimentKey, experimentationApiUrl, experimentationApiKey, experimentationApiKeySecret } = raw as Record<
    string,
    unknown
  >;
  if (typeof experimentKey !== 'string' || !isWellFormedVariantId(experimentKey))
    return 'experimentKey must be an experiment key';
  if (assignmentCookieName(experimentKey) === VISITOR_ID_COOKIE)
    return `experimentKey must not be "uid": its cookie would be the visitor id cookie ${VISITOR_ID_COOKIE}`;
  if (typeof experimentationApiUrl !== 'string' || !/^https?:\/\/\S+$/.test(experimentationApiUrl))
    return 'experimentationApiUrl must be an http(s) URL';
  if (typeof experimentationApiKey !== 'string') return 'experimentationApiKey must be a string';
  if (experimentationApiKeySecret === undefined) return { experimentKey, experimentationApiUrl, experimentationApiKey };
  const { secretId, region } = (experimentationApiKeySecret ?? {}) as Record<string, unknown>;
  if (
    typeof secretId !== 'string' ||
    secretId === '' ||
    typeof region !== 'string' ||
    !/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)
  )
    return 'experimentationApiKeySecret must be { secretId, region } naming a Secrets Manager secret';
  return {
    experimentKey,
    experimentationApiUrl,
    experimentationApiKey,
    experimentationApiKeySecret: { secretId, region },
  };
}

const header = (headers: CloudFrontHeaders, name: string): string | undefined => headers[name]?.[0]?.value;

const DEVICE_HEADERS: [string, string][] = [
  ['cloudfront-is-mobile-viewer', 'mobile'],
  ['cloudfront-is-tablet-viewer', 'tablet'],
  ['cloudfront-is-smarttv-viewer', 'smarttv'],
  ['cloudfront-is-desktop-viewer', 'desktop'],
];

/** The decision's view of a CloudFront request; targeting sees country, deviceType, userAgent, host and path. */
export function toSplitUrlRequest(request: CloudFrontRequest): SplitUrlRequest {
  const { headers } = request;
  const userAgent = header(headers, 'user-agent');
  const host = header(headers, 'host');
  const country = header(headers, 'cloudfront-viewer-country');
  const deviceType = DEVICE_HEADERS.find(([name]) => header(headers, name) === 'true')?.[1];
  return {
    method: request.method,
    uri: request.uri,
    querystring: request.querystring,
    host,
    userAgent,
    cookies: requestCookies(headers),
    attributes: {
      ...(country === undefined ? {} : { country }),
      ...(deviceType === undefined ? {} : { deviceType }),
      ...(userAgent === undefined ? {} : { userAgent }),
      ...(host === undefined ? {} : { host }),
      path: request.uri,
    },
  };
}

function redirectResponse(
  decision: Extract<SplitUrlDecision, { action: 'redirect' }>,
  nowMs: number,
): CloudFrontResultResponse {
  return {
    status: '302',
    statusDescription: 'Found',
    headers: {
      location: [{ key: 'Location', value: decision.location }],
      'cache-control': [{ key: 'Cache-Control', value: 'no-store' }],
      ...(decision.cookies.length === 0
        ? {}
        : {
            'set-cookie': decision.cookies.map((cookie) => ({
              key: 'Set-Cookie',
              value: serializeSetCookie(cookie, nowMs),
            })),
          }),
    },
  };
}

/**
 * Lets the origin see the visitor exactly as on a returning visit: the id and assignment
 * cookies are in its `Cookie` header, and the assignment header names the variant.
 */
function annotateRequest(
  request: CloudFrontRequest,
  decision: SplitUrlDecision,
  experimentKey: string,
  requestId: string,
): CloudFrontRequest {
  if (decision.action !== 'pass' || decision.visitorId === undefined) return request;
  const injected = decision.cookies;
  if (injected.length > 0) {
    const existing = (request.headers.cookie ?? []).map((entry) => entry.value).filter((value) => value.length > 0);
    request.headers.cookie = [{ key: 'Cookie', value: [cookiePairs(injected), ...existing].join('; ') }];
  }
  if (decision.cookies.length > 0) {
    request.headers[PENDING_COOKIES_HEADER] = [{ key: 'X-Split-Url-Set-Cookie', value: cookiePairs(decision.cookies) }];
    request.headers[PENDING_REQUEST_ID_HEADER] = [{ key: 'X-Split-Url-Request-Id', value: requestId }];
  }
  if (decision.variantId !== undefined) {
    request.headers[ASSIGNMENT_HEADER] = [
      { key: 'X-Split-Url-Assignment', value: `${experimentKey}=${decision.variantId}` },
    ];
  }
  return request;
}

/**
 * `Cache-Control` for a response that now sets a visitor's cookies: `private`, so no shared
 * cache downstream stores one visitor's cookie for others. `no-store` (and `private`) stand;
 * `public` and `s-maxage` go, other directives (the browser's `max-age`) stay.
 *
 * @example privateCacheControl('public, max-age=60, s-maxage=300') // 'private, max-age=60'
 */
export function privateCacheControl(existing: string | undefined): string {
  const directives = (existing ?? '')
    .split(',')
    .map((directive) => directive.trim())
    .filter((directive) => directive.length > 0);
  const names = directives.map((directive) => directive.split('=', 1)[0]!.trim().toLowerCase());
  if (names.includes('no-store') || names.includes('private')) return directives.join(', ');
  const kept = directives.filter((_, index) => names[index] !== 'public' && names[index] !== 's-maxage');
  return ['private', ...kept].join(', ');
}

/** The cookies a viewer-request passed along in the pending header, re-validated (the header could be forged). */
function cookiesFromPendingHeader(value: string, assignmentCookie: string): CookieToSet[] {
  return [...parseCookieHeader(value)]
    .filter(([name, cookieValue]) =>
      name === VISITOR_ID_COOKIE
        ? isValidVisitorId(cookieValue)
        : name === assignmentCookie && isWellFormedVariantId(cookieValue),
    )
    .map(([name, cookieValue]) => ({ name, value: cookieValue }));
}

/**
 * Creates the handler for a configured experiment.
 *
 * @example
 *   export const handler = createSplitUrlHandler(config, { source: createExperimentSource({ … }) });
 */
export function createSplitUrlHandler(
  config: SplitUrlConfig,
  deps: SplitUrlDeps,
): (event: SplitUrlEvent) => Promise<SplitUrlResult> {
  const log = deps.log ?? silentLog;
  const now = deps.now ?? Date.now;
  /** The id for a viewer without a valid id cookie (see visitor-id.ts). */
  function mintVisitorId(
    record: { config: { requestId: string }; request: CloudFrontRequest },
    experiment: EdgeExperiment | null,
  ): string {
    if (deps.newVisitorId !== undefined) return deps.newVisitorId(record.config.requestId);
    const base = visitorIdFor(record.config.requestId);
    const { request } = record;
    const fingerprint = viewerFingerprint(
      request.clientIp,
      header(request.headers, 'user-agent'),
      header(request.headers, 'accept-language'),
    );
    return experiment === null || fingerprint === undefined ? base : alignVisitorId(experiment, base, fingerprint);
  }
  const cookieName = assignmentCookieName(config.experimentKey);

  async function onViewerRequest(event: CloudFrontRequestEvent): Promise<SplitUrlResult> {
    const record = event.Records[0]?.cf;
    if (record === undefined) return MALFORMED_EVENT_RESPONSE;
    const request = stripInternalHeaders(record.request);
    try {
      const { experiment } = await deps.source.get();
      const decision = decideSplitUrl(toSplitUrlRequest(request), experiment, () => mintVisitorId(record, experiment));
      log('debug', 'split-url decision', { action: decision.action, variantId: decision.variantId, uri: request.uri });
      if (decision.action === 'redirect') return redirectResponse(decision, now());
      return annotateRequest(request, decision, config.experimentKey, record.config.requestId);
    } catch (error) {
      log('error', 'split-url viewer-request failed; passing the request through', {
        err: String(error),
        uri: request.uri,
      });
      return request;
    }
  }

  async function onViewerResponse(event: CloudFrontResponseEvent): Promise<SplitUrlResult> {
    const record = event.Records[0]?.cf;
    if (record === undefined) return MALFORMED_EVENT_RESPONSE;
    const { request, response } = record;
    try {
      // Bots get no cookies, whatever the request carries.
      if (isBot(header(request.headers, 'user-agent'))) return response;
      const alreadySet = (response.headers['set-cookie'] ?? []).some((entry) =>
        entry.value.startsWith(`${cookieName}=`),
      );
      if (alreadySet) return response;
      const pending =
        header(request.headers, PENDING_REQUEST_ID_HEADER) === record.config.requestId
          ? header(request.headers, PENDING_COOKIES_HEADER)
          : undefined;
      let toSet: CookieToSet[];
      if (pending !== undefined) {
        toSet = cookiesFromPendingHeader(pending, cookieName);
      } else {
        // CloudFront handed us the original request (or a forged pending header, ignored):
        // decide again, with the same derived id.
        const { experiment } = await deps.source.get();
        const decision = decideSplitUrl(toSplitUrlRequest(stripInternalHeaders(request)), experiment, () =>
          mintVisitorId(record, experiment),
        );
        toSet = decision.action === 'pass' ? decision.cookies : [];
      }
      if (toSet.length === 0) return response;
      const nowMs = now();
      response.headers['set-cookie'] = [
        ...(response.headers['set-cookie'] ?? []),
        ...toSet.map((cookie) => ({ key: 'Set-Cookie', value: serializeSetCookie(cookie, nowMs) })),
      ];
      const cacheControl = privateCacheControl(header(response.headers, 'cache-control'));
      response.headers['cache-control'] = [{ key: 'Cache-Control', value: cacheControl }];
      return response;
    } catch (error) {
      log('error', 'split-url viewer-response failed; response unchanged', { err: String(error) });
      return response;
    }
  }

  return async (event) => {
    const eventType = event.Records?.[0]?.cf?.config?.eventType;
    if (eventType === 'viewer-response') return onViewerResponse(event as CloudFrontResponseEvent);
    return onViewerRequest(event);
  };
}
