import type { CloudFrontRequest, CloudFrontResultResponse } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_EVENT_LIMITS } from '../../common/config.js';
import { normalizeIncomingEvent } from '../../common/validate-event.js';
import { randomName } from '../../local/test-support/test-config.js';
import { startExperimentApi, type ExperimentApiStub } from '../test-support/experiment-api-stub.js';
import { GOOGLEBOT_USER_AGENT, viewerRequestEvent } from './cloudfront-events.js';
import { createExperimentSource } from './experiment-source.js';
import { readSplitUrlAssignment, splitUrlImpression } from './exposure.js';
import { createSplitUrlHandler } from './split-url-handler.js';

/** What a browser sends back after receiving these Set-Cookie headers. */
const cookieHeaderFrom = (setCookies: string[]): string => setCookies.map((value) => value.split(';')[0]).join('; ');

describe('exposure: the landing page sends the impression from the assignment the edge made', () => {
  let api: ExperimentApiStub;
  let key: string;

  beforeEach(async () => {
    api = await startExperimentApi();
    key = randomName('exp');
    api.experiments.set(key, {
      key,
      status: 'running',
      variants: [
        { id: 'control', weight: 0.5, url: '/pricing' },
        { id: 'annual-first', weight: 0.5, url: '/pricing-annual' },
      ],
      controlVariantId: 'control',
      coverage: 1,
      hashSeed: key,
      hashVersion: 2,
    });
  });
  afterEach(() => api.close());

  const handler = () =>
    createSplitUrlHandler(
      { experimentKey: key, experimentationApiUrl: api.url, experimentationApiKey: api.apiKey },
      {
        source: createExperimentSource({
          apiUrl: api.url,
          apiKey: api.apiKey,
          experimentKey: key,
          log: () => undefined,
        }),
      },
    );

  let viewers = 0;
  /** Follows the redirect (if any) like a browser and returns the request the origin receives. */
  async function visit(
    requestId: string,
    userAgent?: string,
  ): Promise<{ originRequest: CloudFrontRequest; redirected: boolean }> {
    const edge = handler();
    const first = await edge(
      viewerRequestEvent({
        uri: '/pricing',
        querystring: 'ref=nav',
        requestId,
        // One viewer per visit: viewers with one fingerprint (address, user agent) share a variant.
        clientIp: `198.51.100.${(viewers++ % 250) + 1}`,
        ...(userAgent ? { userAgent } : {}),
      }),
    );
    if ('uri' in first) return { originRequest: first, redirected: false };
    const redirect = first as CloudFrontResultResponse;
    const [path, query] = (redirect.headers?.location?.[0]?.value ?? '').split('?');
    const cookie = cookieHeaderFrom((redirect.headers?.['set-cookie'] ?? []).map((entry) => entry.value));
    const second = await edge(
      viewerRequestEvent({ uri: path ?? '/', querystring: query ?? '', cookie, requestId: `${requestId}-2` }),
    );
    expect('uri' in second).toBe(true); // the follow-up request is never redirected again
    return { originRequest: second as CloudFrontRequest, redirected: true };
  }

  it('yields a valid impression for redirected and pass-through visitors alike, for the variant they see', async () => {
    const seen = new Set<boolean>();
    for (let i = 0; i < 12; i++) {
      const { originRequest, redirected } = await visit(`req${String(i).padStart(20, '0')}abcdefgh`);
      seen.add(redirected);
      const assignment = readSplitUrlAssignment(originRequest.headers.cookie?.[0]?.value ?? '', key);
      expect(assignment).not.toBeNull();
      expect(originRequest.uri).toBe(assignment!.variantId === 'control' ? '/pricing' : '/pricing-annual');
      const impression = splitUrlImpression(key, assignment!, {
        eventId: crypto.randomUUID(),
        segments: { device: 'desktop' },
      });
      const validated = normalizeIncomingEvent(impression, {
        index: 0,
        now: Date.now(),
        limits: DEFAULT_EVENT_LIMITS,
        newEventId: () => crypto.randomUUID(),
      });
      expect(validated.ok).toBe(true);
      if (validated.ok)
        expect(validated.event).toMatchObject({
          type: 'impression',
          experimentId: key,
          variantId: assignment!.variantId,
        });
    }
    expect(seen).toEqual(new Set([true, false]));
  });

  it('gives bots no assignment, so the landing page sends no impression', async () => {
    const { originRequest } = await visit('botrequest000000000000000', GOOGLEBOT_USER_AGENT);
    expect(readSplitUrlAssignment(originRequest.headers.cookie?.[0]?.value ?? '', key)).toBeNull();
  });

  it('refuses malformed cookies', () => {
    expect(readSplitUrlAssignment(`exp_uid=ok-but-short; exp_${key}=b`, key)).toBeNull();
    expect(readSplitUrlAssignment(`exp_uid=abcdefghijklmnop1234; exp_${key}=<b>`, key)).toBeNull();
    expect(readSplitUrlAssignment(`exp_uid=abcdefghijklmnop1234; exp_${key}=b`, key)).toEqual({
      userId: 'abcdefghijklmnop1234',
      variantId: 'b',
    });
  });
});
