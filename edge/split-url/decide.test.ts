import { describe, expect, it } from 'vitest';
import { isBot } from './bots.js';
import { parseCookieHeader, serializeSetCookie } from './cookies.js';
import { isAtUrl, redirectLocation } from './decide.js';
import { parseEdgeExperiment } from './edge-experiment.js';
import { parseSplitUrlConfig, visitorIdFor } from './split-url-handler.js';

describe('split-URL building blocks', () => {
  it('recognises the variant URL with or without a trailing slash, host-aware for absolute URLs', () => {
    expect(isAtUrl({ uri: '/landing-b/', host: 'a.com' }, '/landing-b')).toBe(true);
    expect(isAtUrl({ uri: '/landing-b', host: 'a.com' }, '/landing-b?layout=2')).toBe(true);
    expect(isAtUrl({ uri: '/landing', host: 'a.com' }, '/landing-b')).toBe(false);
    expect(isAtUrl({ uri: '/b', host: 'A.com' }, 'https://a.com/b')).toBe(true);
    expect(isAtUrl({ uri: '/b', host: 'www.a.com' }, 'https://a.com/b')).toBe(false);
  });

  it('builds redirect locations that keep the query string', () => {
    expect(redirectLocation('/b', '')).toBe('/b');
    expect(redirectLocation('/b', 'x=1&y=%20')).toBe('/b?x=1&y=%20');
    expect(redirectLocation('/b?v=2', 'x=1')).toBe('/b?v=2&x=1');
    expect(redirectLocation('https://a.com/b#f', 'x=1')).toBe('https://a.com/b?x=1#f');
  });

  it('parses cookie headers: first wins, quotes dropped, junk skipped', () => {
    const cookies = parseCookieHeader('a=1; b="2"; =x; junk; a=3; c=');
    expect([...cookies]).toEqual([
      ['a', '1'],
      ['b', '2'],
      ['c', ''],
    ]);
    expect(serializeSetCookie({ name: 'exp_uid', value: 'v' }, 0)).toBe(
      'exp_uid=v; Max-Age=31536000; Expires=Fri, 01 Jan 1971 00:00:00 GMT; Path=/; Secure; SameSite=Lax',
    );
  });

  it('tells bots from browsers', () => {
    expect(isBot('Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)')).toBe(true);
    expect(
      isBot(
        'Mozilla/5.0 (Linux; Android 10) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36',
      ),
    ).toBe(true);
    expect(isBot('Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)')).toBe(true);
    expect(isBot('')).toBe(true);
    expect(
      isBot(
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
      ),
    ).toBe(false);
  });

  it('checks the fetched experiment and says what is wrong', () => {
    const good = {
      key: 'k',
      status: 'running',
      variants: [{ id: 'a', weight: 1 }],
      controlVariantId: 'a',
      coverage: 1,
      hashSeed: 'k',
      hashVersion: 2,
    };
    expect(parseEdgeExperiment(good, 'k')).toMatchObject({ key: 'k', variants: [{ id: 'a', weight: 1 }] });
    expect(parseEdgeExperiment(good, 'other')).toMatch(/not "other"/);
    expect(parseEdgeExperiment({ ...good, variants: [{ id: 'a', weight: 2 }] }, 'k')).toMatch(/weight/);
    expect(parseEdgeExperiment({ ...good, variants: [{ id: 'a', weight: 1, url: 'http://x' }] }, 'k')).toMatch(/url/);
    expect(parseEdgeExperiment({ ...good, controlVariantId: 'z' }, 'k')).toMatch(/controlVariantId/);
    expect(parseEdgeExperiment([], 'k')).toMatch(/JSON object/);
  });

  it('checks the bundled configuration', () => {
    expect(parseSplitUrlConfig(undefined)).toMatch(/not defined/);
    expect(
      parseSplitUrlConfig({ experimentKey: 'k', experimentationApiUrl: 'ftp://x', experimentationApiKey: '' }),
    ).toMatch(/URL/);
    expect(
      parseSplitUrlConfig({
        experimentKey: 'k',
        experimentationApiUrl: 'https://api.example.com',
        experimentationApiKey: 'x',
      }),
    ).toEqual({
      experimentKey: 'k',
      experimentationApiUrl: 'https://api.example.com',
      experimentationApiKey: 'x',
    });
  });

  it('derives new visitor ids from the CloudFront request id, falling back to a UUID', () => {
    expect(visitorIdFor('4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==')).toBe(
      '4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ',
    );
    expect(visitorIdFor('short')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
