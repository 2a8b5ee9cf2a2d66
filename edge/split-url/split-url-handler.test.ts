import type {
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontResponse,
  CloudFrontResultResponse,
} from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assignVariant } from '../../common/assignment.js';
import { randomName } from '../../local/test-support/test-config.js';
import { startExperimentApi, type ExperimentApiStub } from '../test-support/experiment-api-stub.js';
import {
  GOOGLEBOT_USER_AGENT,
  viewerRequestEvent,
  viewerResponseEvent,
  type ViewerRequestOptions,
} from './cloudfront-events.js';
import type { EdgeExperiment } from './edge-experiment.js';
import type { EdgeLog } from './edge-log.js';
import { createExperimentSource, EXPERIMENT_TTL_MS, FAILURE_BACKOFF_MS } from './experiment-source.js';
import { createSplitUrlHandler, PENDING_COOKIES_HEADER, ASSIGNMENT_HEADER, visitorIdFor } from './split-url-handler.js';

const definition = (key: string, overrides: Partial<EdgeExperiment> = {}) => ({
  key,
  name: 'Checkout redesign',
  status: 'running',
  variants: [
    { id: 'control', weight: 0.5, url: '/landing' },
    { id: 'b', weight: 0.5, url: '/landing-b' },
  ],
  controlVariantId: 'control',
  coverage: 1,
  hashSeed: key,
  hashVersion: 2,
  metrics: [],
  segmentDimensions: [],
  ...overrides,
});

/** First visitor id (in a fixed sequence) that the experiment assigns to `variantId`. */
function idAssignedTo(experiment: ReturnType<typeof definition>, variantId: string): string {
  for (let i = 0; i < 1000; i++) {
    const id = `visitor-${String(i).padStart(12, '0')}`;
    if (assignVariant(experiment as EdgeExperiment, id).variantId === variantId) return id;
  }
  throw new Error(`no id assigned to ${variantId}`);
}

const isRedirect = (result: unknown): result is CloudFrontResultResponse =>
  typeof result === 'object' && result !== null && 'status' in result && !('headers' in result && 'uri' in result);
const setCookies = (result: CloudFrontResultResponse | CloudFrontResponse): string[] =>
  (result.headers?.['set-cookie'] ?? []).map((entry) => entry.value);

describe('split-URL viewer-request handler (real local experiment API)', () => {
  let api: ExperimentApiStub;
  let clock: number;
  let key: string;
  let logs: { level: string; msg: string }[];
  const log: EdgeLog = (level, msg) => logs.push({ level, msg });

  beforeEach(async () => {
    api = await startExperimentApi();
    clock = Date.parse('2026-03-01T12:00:00Z');
    key = randomName('checkout').replaceAll('-', '_');
    logs = [];
    api.experiments.set(key, definition(key));
  });
  afterEach(() => api.close());

  function handlerWith(newVisitorId?: () => string, timeoutMs = 1_000) {
    const source = createExperimentSource({
      apiUrl: `${api.url}/`,
      apiKey: api.apiKey,
      experimentKey: key,
      log,
      now: () => clock,
      timeoutMs,
    });
    return createSplitUrlHandler(
      { experimentKey: key, experimentationApiUrl: api.url, experimentationApiKey: api.apiKey },
      { source, log, now: () => clock, ...(newVisitorId ? { newVisitorId } : {}) },
    );
  }
  const event = (options: ViewerRequestOptions) => viewerRequestEvent(options);

  it('redirects a first visit assigned to another URL: 302, query kept, cookies for a year, no-store', async () => {
    const id = idAssignedTo(definition(key), 'b');
    const result = await handlerWith(() => id)(event({ uri: '/landing', querystring: 'utm_source=ad&x=1' }));
    expect(isRedirect(result)).toBe(true);
    const response = result as CloudFrontResultResponse;
    expect(response.status).toBe('302');
    expect(response.statusDescription).toBe('Found');
    expect(response.headers?.location?.[0]?.value).toBe('/landing-b?utm_source=ad&x=1');
    expect(response.headers?.['cache-control']?.[0]?.value).toBe('no-store');
    const cookies = setCookies(response);
    expect(cookies).toHaveLength(2);
    expect(cookies).toContain(
      `exp_uid=${id}; Max-Age=31536000; Expires=Mon, 01 Mar 2027 12:00:00 GMT; Path=/; Secure; SameSite=Lax`,
    );
    expect(
      cookies.some((c) => c.startsWith(`exp_${key}=b; Max-Age=31536000;`) && c.endsWith('Secure; SameSite=Lax')),
    ).toBe(true);
    expect(api.requests).toEqual([`/api/v1/experiments/${key}`]);
  });

  it('lets a returning visitor on their variant URL pass, telling the origin the assignment', async () => {
    const id = idAssignedTo(definition(key), 'b');
    const result = (await handlerWith()(
      event({ uri: '/landing-b', cookie: `exp_uid=${id}; exp_${key}=b; theme=dark` }),
    )) as CloudFrontRequest;
    expect(result.uri).toBe('/landing-b');
    expect(result.headers[ASSIGNMENT_HEADER]?.[0]?.value).toBe(`${key}=b`);
    expect(result.headers[PENDING_COOKIES_HEADER]).toBeUndefined();
    expect(result.headers.cookie?.[0]?.value).toBe(`exp_uid=${id}; exp_${key}=b; theme=dark`);
  });

  it('keeps the cookie assignment even when the hash would say otherwise, and sends the visitor to its URL', async () => {
    const id = idAssignedTo(definition(key), 'control');
    const result = (await handlerWith()(
      event({ uri: '/landing', cookie: `exp_${key}=b; exp_uid=${id}` }),
    )) as CloudFrontResultResponse;
    expect(result.status).toBe('302');
    expect(result.headers?.location?.[0]?.value).toBe('/landing-b');
    expect(result.headers?.['set-cookie']).toBeUndefined();
  });

  it('ignores a tampered cookie naming no current variant and reassigns by hash', async () => {
    const id = idAssignedTo(definition(key), 'control');
    for (const tampered of ['evil', 'removed-variant', '"><script>', '']) {
      const result = (await handlerWith()(
        event({ uri: '/landing', cookie: `exp_uid=${id}; exp_${key}=${tampered}` }),
      )) as CloudFrontRequest;
      expect(result.uri).toBe('/landing');
      expect(result.headers[ASSIGNMENT_HEADER]?.[0]?.value).toBe(`${key}=control`);
      expect(result.headers[PENDING_COOKIES_HEADER]?.[0]?.value).toBe(`exp_${key}=control`);
      // The origin sees the corrected assignment first.
      expect(result.headers.cookie?.[0]?.value.startsWith(`exp_${key}=control; `)).toBe(true);
    }
  });

  it('replaces a malformed id cookie with a new id', async () => {
    const fresh = idAssignedTo(definition(key), 'b');
    const result = (await handlerWith(() => fresh)(event({ cookie: 'exp_uid=short' }))) as CloudFrontResultResponse;
    expect(result.status).toBe('302');
    expect(setCookies(result).some((c) => c.startsWith(`exp_uid=${fresh};`))).toBe(true);
  });

  it('neither redirects nor cookies bots, crawlers and clients without a user agent', async () => {
    for (const userAgent of [GOOGLEBOT_USER_AGENT, 'facebookexternalhit/1.1', 'curl/8.5.0', null]) {
      const original = event({ uri: '/landing', userAgent, querystring: 'a=1' });
      const expected = structuredClone(original.Records[0]!.cf.request);
      const result = await handlerWith(() => idAssignedTo(definition(key), 'b'))(original);
      expect(result).toEqual(expected);
    }
  });

  it('passes a first visit already on its variant URL (no redirect loop) and persists its cookies on the response', async () => {
    const id = idAssignedTo(definition(key), 'b');
    const handler = handlerWith(() => id);
    const requestEvent = event({ uri: '/landing-b/', querystring: 'utm_campaign=spring' });
    const passed = (await handler(requestEvent)) as CloudFrontRequest;
    expect(passed.uri).toBe('/landing-b/');
    expect(passed.querystring).toBe('utm_campaign=spring');
    expect(passed.headers.cookie?.[0]?.value).toBe(`exp_uid=${id}; exp_${key}=b`);

    const response = (await handler(viewerResponseEvent(requestEvent))) as CloudFrontResponse;
    expect(response.status).toBe('200');
    expect(setCookies(response).map((c) => c.split(';')[0])).toEqual([`exp_uid=${id}`, `exp_${key}=b`]);
  });

  it('persists the same cookies when CloudFront hands the viewer-response the original request', async () => {
    const requestId = 'Xk2p9QeM1vT4rL8sN0aB3cD5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z==';
    const handler = handlerWith();
    // A first visit passes to the origin only on the URL of its own variant: ask where this visitor
    // belongs, then make the first visit there, so the test always takes the pass-through branch.
    const probe = await handler(event({ uri: '/landing', requestId }));
    const variantUri = isRedirect(probe) ? (probe.headers?.location?.[0]?.value ?? '') : '/landing';
    const original = event({ uri: variantUri, requestId });
    const responseEvent = viewerResponseEvent(structuredClone(original));

    const passed = await handler(original);
    expect(isRedirect(passed)).toBe(false);
    const forwarded = passed as CloudFrontRequest;
    const variantId = forwarded.headers[ASSIGNMENT_HEADER]?.[0]?.value.split('=')[1] ?? '';
    expect(['control', 'b']).toContain(variantId);
    const id = /^exp_uid=([^;]+); /.exec(forwarded.headers.cookie?.[0]?.value ?? '')?.[1] ?? '';
    expect(id.startsWith(visitorIdFor(requestId).slice(0, 56))).toBe(true); // derived from the request id
    expect(forwarded.headers.cookie?.[0]?.value).toBe(`exp_uid=${id}; exp_${key}=${variantId}`);

    // The response event carries the untouched request (no pending-cookies header): the handler decides
    // again for the same request id, and sets exactly the cookies the origin was shown.
    expect(responseEvent.Records[0]!.cf.request.headers[PENDING_COOKIES_HEADER]).toBeUndefined();
    const response = (await handler(responseEvent)) as CloudFrontResponse;
    expect(response.status).toBe('200');
    expect(setCookies(response)).toEqual([
      `exp_uid=${id}; Max-Age=31536000; Expires=Mon, 01 Mar 2027 12:00:00 GMT; Path=/; Secure; SameSite=Lax`,
      `exp_${key}=${variantId}; Max-Age=31536000; Expires=Mon, 01 Mar 2027 12:00:00 GMT; Path=/; Secure; SameSite=Lax`,
    ]);
  });

  it('does not touch a response whose origin already set the assignment cookie', async () => {
    const handler = handlerWith();
    const responseEvent = viewerResponseEvent(event({ uri: '/landing' }));
    responseEvent.Records[0]!.cf.response.headers['set-cookie'] = [
      { key: 'Set-Cookie', value: `exp_${key}=control; Path=/` },
    ];
    const response = (await handler(responseEvent)) as CloudFrontResponse;
    expect(setCookies(response)).toEqual([`exp_${key}=control; Path=/`]);
  });

  it('merges the variant URL query with the request query string', async () => {
    api.experiments.set(
      key,
      definition(key, {
        variants: [
          { id: 'control', weight: 0.5, url: '/landing' },
          { id: 'b', weight: 0.5, url: 'https://shop.example.com/b?layout=2#top' },
        ],
      }),
    );
    const id = idAssignedTo(definition(key), 'b');
    const result = (await handlerWith(() => id)(
      event({ querystring: 'utm_source=mail&q=a%20b' }),
    )) as CloudFrontResultResponse;
    expect(result.headers?.location?.[0]?.value).toBe(
      'https://shop.example.com/b?layout=2&utm_source=mail&q=a%20b#top',
    );
    const onTarget = await handlerWith(() => id)(
      event({ host: 'shop.example.com', uri: '/b', cookie: `exp_uid=${id}; exp_${key}=b` }),
    );
    expect('uri' in onTarget).toBe(true);
  });

  it('leaves paths that are none of the variant URLs alone (assets, other pages): no redirect, no cookie', async () => {
    const id = idAssignedTo(definition(key), 'b');
    for (const uri of ['/assets/app.js', '/landing-c', '/', '/landing/extra']) {
      const original = event({ uri, cookie: `exp_uid=${id}; exp_${key}=b` });
      const expected = structuredClone(original.Records[0]!.cf.request);
      expect(await handlerWith(() => id)(original)).toEqual(expected);
    }
  });

  it('passes requests that must not be redirected: POST, stopped experiment, visitors outside targeting', async () => {
    const id = idAssignedTo(definition(key), 'b');
    expect('uri' in (await handlerWith(() => id)(event({ method: 'POST' })))).toBe(true);

    api.experiments.set(key, definition(key, { status: 'stopped' }));
    const stopped = (await handlerWith(() => id)(event({}))) as CloudFrontRequest;
    expect(stopped.headers[PENDING_COOKIES_HEADER]).toBeUndefined();

    api.experiments.set(key, definition(key, { targeting: { attribute: 'country', op: 'in', values: ['US', 'CA'] } }));
    const french = (await handlerWith(() => id)(event({ country: 'FR' }))) as CloudFrontRequest;
    expect(french.headers[ASSIGNMENT_HEADER]).toBeUndefined();
    expect(french.headers[PENDING_COOKIES_HEADER]?.[0]?.value).toBe(`exp_uid=${id}`);
    expect('status' in (await handlerWith(() => id)(event({ country: 'CA' })))).toBe(true);
  });

  it('asks the API once per 60 s, then again after the TTL', async () => {
    const handler = handlerWith(() => idAssignedTo(definition(key), 'b'));
    await Promise.all(Array.from({ length: 20 }, () => handler(event({}))));
    expect(api.requests).toHaveLength(1);
    clock += EXPERIMENT_TTL_MS - 1;
    await handler(event({}));
    expect(api.requests).toHaveLength(1);
    clock += 2;
    await handler(event({}));
    expect(api.requests).toHaveLength(2);
  });

  it('serves the last good copy while the API is down, and backs off between retries', async () => {
    const id = idAssignedTo(definition(key), 'b');
    const handler = handlerWith(() => id, 300);
    expect(((await handler(event({}))) as CloudFrontResultResponse).status).toBe('302');
    for (const mode of ['error', 'garbage', 'hang'] as const) {
      api.mode = mode;
      clock += EXPERIMENT_TTL_MS + FAILURE_BACKOFF_MS;
      const asked = api.requests.length;
      expect(((await handler(event({}))) as CloudFrontResultResponse).status).toBe('302');
      expect(api.requests.length).toBe(asked + 1);
      clock += FAILURE_BACKOFF_MS - 1;
      expect(((await handler(event({}))) as CloudFrontResultResponse).status).toBe('302');
      expect(api.requests.length).toBe(asked + 1);
    }
    expect(logs.filter((entry) => entry.level === 'warn')).toHaveLength(3);
  });

  it('passes everything through untouched when the API is down and nothing was ever cached', async () => {
    for (const mode of ['error', 'hang'] as const) {
      api.mode = mode;
      const original: CloudFrontRequestEvent = event({ querystring: 'x=1' });
      const expected = structuredClone(original.Records[0]!.cf.request);
      const result = await handlerWith(() => idAssignedTo(definition(key), 'b'), 200)(original);
      expect(result).toEqual(expected);
    }
  });

  it('passes through when the experiment does not exist (404) or the API refuses the key (401)', async () => {
    api.experiments.delete(key);
    const original = event({});
    const expected = structuredClone(original.Records[0]!.cf.request);
    expect(await handlerWith()(original)).toEqual(expected);
    expect(api.requests).toHaveLength(1);

    api.experiments.set(key, definition(key));
    const wrongKey = createSplitUrlHandler(
      { experimentKey: key, experimentationApiUrl: api.url, experimentationApiKey: 'wrong' },
      { source: createExperimentSource({ apiUrl: api.url, apiKey: 'wrong', experimentKey: key, log }), log },
    );
    const second = event({});
    const secondExpected = structuredClone(second.Records[0]!.cf.request);
    expect(await wrongKey(second)).toEqual(secondExpected);
    expect(logs.some((entry) => entry.level === 'warn')).toBe(true);
  });
});
