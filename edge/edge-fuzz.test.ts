/**
 * Fuzz suite for the edge (issue 11): fast-check drives the Lambda handlers directly with
 * arbitrary viewer input (headers, URIs, query strings, cookies, methods, Unicode) and
 * arbitrary invocation payloads. Invariants: a handler never throws, never answers a bad
 * input with a 5xx-equivalent, never lets a viewer's `x-split-url-*` header through, only
 * sends header values a CloudFront response may carry, and its answer stays bounded.
 *
 * Runs are bounded (numRuns, seconds in all) against the real local experiment API.
 */
import type {
  CloudFrontHeaders,
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontResponse,
  CloudFrontResultResponse,
} from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../local/test-support/test-config.js';
import { createAssignmentHandler } from './assignment-handler.js';
import { createDefinitionClient } from '../common/definition-client.js';
import { createFlagEvaluationHandler } from './flag-evaluation-handler.js';
import {
  BROWSER_USER_AGENT,
  GOOGLEBOT_USER_AGENT,
  viewerRequestEvent,
  viewerResponseEvent,
} from './split-url/cloudfront-events.js';
import { createExperimentSource } from './split-url/experiment-source.js';
import { createSplitUrlHandler, INTERNAL_HEADER_PREFIX, type SplitUrlResult } from './split-url/split-url-handler.js';
import { startExperimentApi, type ExperimentApiStub } from './test-support/experiment-api-stub.js';

/** A header value a CloudFront-generated response may carry: visible ASCII, spaces and tabs. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** RFC 6265 cookie-name token. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Generated responses: a 302 with Location, Cache-Control and at most two cookies, plus the viewer's query string. */
const MAX_GENERATED_BYTES = 4_096;
/** Invocation answers, whatever the payload: a result or an error with a capped problem list. */
const MAX_INVOCATION_ANSWER_BYTES = 16_384;

const RUNS = { numRuns: 300 } as const;

/** Text as a viewer can send it: any Unicode (including lone surrogates), controls, and the characters that matter here. */
const viewerText = (maxLength: number) =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: fc.constantFrom(...'=;,"% \t\r\n:/?#&\\exp_uid'.split('')), maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    // Lone surrogates: ill-formed UTF-16 that a string can hold but no encoder can write as is.
    fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)), maxLength }),
  );

const cookieHeader = (key: string) =>
  fc
    .tuple(
      fc.array(
        fc.oneof(
          fc.tuple(
            fc.constantFrom('exp_uid', `exp_${key}`, `exp_${key.replace(':', '%3A')}`, key, 'session', ''),
            fc.oneof(fc.constantFrom('control', 'b', 'c', 'zzzzzzzzzzzzzzzzzzzz'), viewerText(80)),
          ),
          fc.tuple(viewerText(20), viewerText(40)),
        ),
        { maxLength: 8 },
      ),
      fc.constantFrom('; ', ';', ', '),
    )
    .map(([pairs, separator]) => pairs.map(([name, value]) => `${name}=${value}`).join(separator));

const headerName = fc.oneof(
  fc.constantFrom(
    'user-agent',
    'cookie',
    'host',
    'accept-language',
    'cloudfront-viewer-country',
    'cloudfront-is-mobile-viewer',
    'x-split-url-assignment',
    'x-split-url-set-cookie',
    'x-split-url-request-id',
    'X-Split-Url-Other',
  ),
  fc.string({ minLength: 1, maxLength: 30 }),
);

const extraHeaders = fc.array(fc.tuple(headerName, fc.array(viewerText(200), { minLength: 0, maxLength: 3 })), {
  maxLength: 8,
});

interface ViewerInput {
  uri: string;
  querystring: string;
  method: string;
  userAgent: string | null;
  cookie: string | undefined;
  clientIp: string;
  headers: [string, string[]][];
}

function requestEventFrom(input: ViewerInput, requestId: string): CloudFrontRequestEvent {
  const event = viewerRequestEvent({
    uri: input.uri,
    querystring: input.querystring,
    method: input.method,
    userAgent: input.userAgent,
    requestId,
    clientIp: input.clientIp,
    ...(input.cookie === undefined ? {} : { cookie: input.cookie }),
  });
  const headers: CloudFrontHeaders = event.Records[0]!.cf.request.headers;
  for (const [name, values] of input.headers) headers[name] = values.map((value) => ({ key: name, value }));
  return event;
}

const isResult = (value: SplitUrlResult): value is CloudFrontResultResponse =>
  !('uri' in value) && !('clientIp' in value);

describe('edge fuzz suite (fast-check, real local experiment API)', () => {
  let api: ExperimentApiStub;
  let key: string;
  let flagKey: string;

  beforeAll(async () => {
    api = await startExperimentApi();
    key = `${randomName('fuzz')}:v1`;
    flagKey = randomName('fuzzflag');
    api.experiments.set(key, {
      key,
      name: 'Fuzzed landing page',
      metrics: [],
      segmentDimensions: [],
      status: 'running',
      variants: [
        { id: 'control', weight: 0.5, url: '/landing' },
        { id: 'b', weight: 0.3, url: '/landing-b' },
        { id: 'c', weight: 0.2, url: 'https://shop.example.com/c?layout=2#top' },
      ],
      controlVariantId: 'control',
      coverage: 0.9,
      hashSeed: key,
      hashVersion: 2,
      targeting: {
        or: [
          { attribute: 'userAgent', op: 'regex', pattern: '(Mobile|Mozilla)', ignoreCase: true },
          { attribute: 'path', op: 'regex', pattern: '^/landing' },
          { attribute: 'country', op: 'nin', values: ['XX'] },
        ],
      },
    });
    api.flags.set(flagKey, {
      key: flagKey,
      enabled: true,
      defaultValue: false,
      value: { colour: 'blue' },
      rollout: 0.5,
      hashSeed: flagKey,
      targeting: { attribute: 'email', op: 'regex', pattern: '@example\\.com$', ignoreCase: true },
    });
  });
  afterAll(() => api.close());

  const splitUrl = () =>
    createSplitUrlHandler(
      { experimentKey: key, experimentationApiUrl: api.url, experimentationApiKey: api.apiKey },
      { source: createExperimentSource({ apiUrl: api.url, apiKey: api.apiKey, experimentKey: key, log: () => {} }) },
    );

  const viewerInput = (): fc.Arbitrary<ViewerInput> =>
    fc.record({
      uri: fc.oneof(fc.constantFrom('/landing', '/landing-b/', '/c', '/', '/landing?x'), viewerText(300)),
      querystring: fc.oneof(fc.constant(''), viewerText(2_048)),
      method: fc.oneof(fc.constantFrom('GET', 'HEAD', 'POST', 'get', 'OPTIONS'), viewerText(10)),
      userAgent: fc.oneof(fc.constantFrom(BROWSER_USER_AGENT, GOOGLEBOT_USER_AGENT, null, ''), viewerText(2_048)),
      cookie: fc.option(cookieHeader(key), { nil: undefined }),
      clientIp: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant('')),
      headers: extraHeaders,
    });

  it('viewer-request: never throws, strips internal headers, answers only 302s with header-safe values', async () => {
    const handler = splitUrl();
    await fc.assert(
      fc.asyncProperty(viewerInput(), fc.string({ minLength: 0, maxLength: 80 }), async (input, requestId) => {
        const event = requestEventFrom(input, requestId);
        const result = await handler(event);
        if (isResult(result)) {
          expect(result.status).toBe('302');
          const bytes = JSON.stringify(result).length;
          expect(bytes).toBeLessThanOrEqual(MAX_GENERATED_BYTES + 3 * input.querystring.length);
          for (const entries of Object.values(result.headers ?? {}))
            for (const { value } of entries) expect(value).toMatch(HEADER_VALUE);
          for (const { value } of result.headers?.['set-cookie'] ?? [])
            expect(value.split('=', 1)[0]).toMatch(COOKIE_NAME);
          return;
        }
        const request = result as CloudFrontRequest;
        for (const [name, entries] of Object.entries(request.headers)) {
          if (!name.toLowerCase().startsWith(INTERNAL_HEADER_PREFIX)) continue;
          // Only the function's own headers remain, with values it wrote.
          expect([
            `${INTERNAL_HEADER_PREFIX}assignment`,
            `${INTERNAL_HEADER_PREFIX}set-cookie`,
            `${INTERNAL_HEADER_PREFIX}request-id`,
          ]).toContain(name);
          for (const { value } of entries) expect(value).toMatch(HEADER_VALUE);
        }
      }),
      RUNS,
    );
  });

  it('viewer-response: never throws, returns the response, cookies only with valid names and Cache-Control private', async () => {
    const handler = splitUrl();
    const responseHeaders = fc.record({
      status: fc.constantFrom('200', '301', '304', '404', '500'),
      cacheControl: fc.option(fc.oneof(fc.constantFrom('no-store', 'public, max-age=600', 'private'), viewerText(60)), {
        nil: undefined,
      }),
      setCookie: fc.array(viewerText(100), { maxLength: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(
        viewerInput(),
        responseHeaders,
        fc.boolean(),
        fc.string({ maxLength: 80 }),
        async (input, origin, afterRequest, requestId) => {
          const requestEvent = requestEventFrom(input, requestId);
          let responseEvent = viewerResponseEvent(structuredClone(requestEvent));
          if (afterRequest) {
            // CloudFront may hand viewer-response the request as viewer-request left it.
            const passed = await handler(requestEvent);
            if (!isResult(passed))
              responseEvent = viewerResponseEvent({
                Records: [{ cf: { config: requestEvent.Records[0]!.cf.config, request: passed as CloudFrontRequest } }],
              });
          }
          const cf = responseEvent.Records[0]!.cf;
          cf.response.status = origin.status;
          if (origin.cacheControl === undefined) delete cf.response.headers['cache-control'];
          else cf.response.headers['cache-control'] = [{ key: 'Cache-Control', value: origin.cacheControl }];
          if (origin.setCookie.length > 0)
            cf.response.headers['set-cookie'] = origin.setCookie.map((value) => ({ key: 'Set-Cookie', value }));
          const before = cf.response.headers['set-cookie']?.length ?? 0;
          const response = (await handler(responseEvent)) as CloudFrontResponse;
          expect(response.status).toBe(origin.status);
          const added = (response.headers['set-cookie'] ?? []).slice(before);
          expect(added.length).toBeLessThanOrEqual(2);
          for (const { value } of added) {
            expect(value.split('=', 1)[0]).toMatch(COOKIE_NAME);
            expect(value).toMatch(HEADER_VALUE);
          }
          if (added.length > 0)
            expect(response.headers['cache-control']?.[0]?.value).toMatch(/\b(private|no-store)\b/i);
        },
      ),
      RUNS,
    );
  });

  const payload = (keyField: 'experimentKey' | 'flagKey', knownKey: () => string) =>
    fc.oneof(
      fc.anything(),
      fc.jsonValue(),
      fc.record(
        {
          [keyField]: fc.oneof(fc.constant(knownKey()), viewerText(100), fc.jsonValue()),
          userId: fc.oneof(viewerText(200), fc.jsonValue()),
          attributes: fc.oneof(
            fc.dictionary(fc.string({ maxLength: 140 }), fc.oneof(viewerText(3_000), fc.jsonValue()), { maxKeys: 120 }),
            fc.jsonValue(),
          ),
          extra: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
      // Many problems in one payload: the answer must still be small.
      fc.integer({ min: 0, max: 5_000 }).map((n) => ({
        [keyField]: knownKey(),
        userId: 'u-1',
        attributes: Object.fromEntries(Array.from({ length: n }, (_, i) => [`a${i}`.repeat(50), i])),
        ...Object.fromEntries(Array.from({ length: n }, (_, i) => [`unknown${i}`, i])),
      })),
    );

  /**
   * The definition client, with a fetch timeout far above the production 2 s: these properties are about
   * bad payloads, and a real local API slowed by a loaded machine (it answered in over 2 s once, under a
   * mutation run beside CI) must not read as a bad payload answered DEPENDENCY_UNAVAILABLE.
   */
  const fuzzClient = () => createDefinitionClient({ apiUrl: api.url, apiKey: api.apiKey, timeoutMs: 30_000 });

  const checkAnswer = (answer: unknown) => {
    expect(JSON.stringify(answer).length).toBeLessThanOrEqual(MAX_INVOCATION_ANSWER_BYTES);
    if (answer !== null && typeof answer === 'object' && 'error' in answer) {
      const { code } = (answer as { error: { code: string } }).error;
      // Bad input is the caller's problem: never INTERNAL or DEPENDENCY_UNAVAILABLE.
      expect(['VALIDATION_FAILED', 'NOT_FOUND']).toContain(code);
    }
  };

  it('Assignment handler: never throws, answers bad payloads with a bounded VALIDATION_FAILED/NOT_FOUND', async () => {
    const assign = createAssignmentHandler({ client: fuzzClient() });
    await fc.assert(
      fc.asyncProperty(
        payload('experimentKey', () => key),
        async (input) => checkAnswer(await assign(input)),
      ),
      { numRuns: 200 },
    );
  });

  it('Flag Evaluation handler: never throws, answers bad payloads with a bounded VALIDATION_FAILED/NOT_FOUND', async () => {
    const evaluate = createFlagEvaluationHandler({ client: fuzzClient() });
    await fc.assert(
      fc.asyncProperty(
        payload('flagKey', () => flagKey),
        async (input) => checkAnswer(await evaluate(input)),
      ),
      { numRuns: 200 },
    );
  });
});
