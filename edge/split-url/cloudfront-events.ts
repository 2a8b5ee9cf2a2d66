/**
 * Test and benchmark support: CloudFront Lambda@Edge events in the documented shape
 * (AWS CloudFront Developer Guide, "Lambda@Edge event structure"), with the headers a real
 * distribution adds when the viewer-country and device headers are enabled.
 */
import type { CloudFrontHeaders, CloudFrontRequestEvent, CloudFrontResponseEvent } from 'aws-lambda';

export const BROWSER_USER_AGENT =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
export const GOOGLEBOT_USER_AGENT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

export interface ViewerRequestOptions {
  uri?: string;
  querystring?: string;
  method?: string;
  /** Raw `Cookie` header value; omitted when undefined. */
  cookie?: string;
  userAgent?: string | null;
  country?: string;
  mobile?: boolean;
  host?: string;
  requestId?: string;
  /** The viewer's address (CloudFront's `clientIp`); part of a cookie-less viewer's fingerprint. */
  clientIp?: string;
}

const entry = (key: string, value: string) => [{ key, value }];

/** A viewer-request event as CloudFront sends it. */
export function viewerRequestEvent(options: ViewerRequestOptions = {}): CloudFrontRequestEvent {
  const headers: CloudFrontHeaders = {
    host: entry('Host', options.host ?? 'www.example.com'),
    accept: entry('Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'),
    'accept-language': entry('Accept-Language', 'en-US,en;q=0.9'),
    'cloudfront-viewer-country': entry('CloudFront-Viewer-Country', options.country ?? 'US'),
    'cloudfront-is-mobile-viewer': entry('CloudFront-Is-Mobile-Viewer', String(options.mobile === true)),
    'cloudfront-is-tablet-viewer': entry('CloudFront-Is-Tablet-Viewer', 'false'),
    'cloudfront-is-desktop-viewer': entry('CloudFront-Is-Desktop-Viewer', String(options.mobile !== true)),
  };
  if (options.userAgent !== null) headers['user-agent'] = entry('User-Agent', options.userAgent ?? BROWSER_USER_AGENT);
  if (options.cookie !== undefined) headers.cookie = entry('Cookie', options.cookie);
  return {
    Records: [
      {
        cf: {
          config: {
            distributionDomainName: 'd111111abcdef8.cloudfront.net',
            distributionId: 'EDFDVBD6EXAMPLE',
            eventType: 'viewer-request',
            requestId: options.requestId ?? '4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==',
          },
          request: {
            clientIp: options.clientIp ?? '203.0.113.178',
            headers,
            method: options.method ?? 'GET',
            querystring: options.querystring ?? '',
            uri: options.uri ?? '/landing',
          },
        },
      },
    ],
  };
}

/** The viewer-response event for a request that reached the origin (200 from the origin). */
export function viewerResponseEvent(requestEvent: CloudFrontRequestEvent): CloudFrontResponseEvent {
  const cf = requestEvent.Records[0]!.cf;
  return {
    Records: [
      {
        cf: {
          config: { ...cf.config, eventType: 'viewer-response' },
          request: cf.request,
          response: {
            status: '200',
            statusDescription: 'OK',
            headers: {
              'content-type': entry('Content-Type', 'text/html; charset=utf-8'),
              'cache-control': entry('Cache-Control', 'max-age=60'),
            },
          },
        },
      },
    ],
  };
}
