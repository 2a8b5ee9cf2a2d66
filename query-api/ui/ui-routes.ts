/**
 * Serves the results pages under `/ui/` from the query API (same origin as the API, so the
 * pages call `/api/v1/…` with no CORS):
 *
 *   GET /ui                     → 308 /ui/
 *   GET /ui/assets/<name>-<hash>.{js,css}   Cache-Control: public, max-age=31536000, immutable
 *   GET /ui/config.json         how to sign in (open / API key / Cognito Hosted UI); no-store
 *   GET /ui/…anything else      index.html (client-side routes; the sign-in settings in a <meta>);
 *                               no-cache (revalidated by ETag)
 *
 * Every file is served from memory with its precomputed brotli or gzip form when the
 * request accepts one (`Vary: Accept-Encoding`), an `ETag`, and a Content-Security-Policy
 * that allows scripts and styles from this origin only and connections to the Hosted UI.
 * The files are built once at registration (build-ui.ts: from the sources in a checkout,
 * from `dist/` in the container image). These routes are public: the pages hold no data,
 * the API calls they make are authenticated.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../common/config.js';
import type { QueryApiInstance } from '../context.js';
import { loadUiSite, uiFile, type UiFile, type UiSite } from './build-ui.js';
import { uiConfigOf } from './ui-config.js';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/** Name of the <meta> whose content is the sign-in settings (the same JSON as /ui/config.json). */
export const UI_CONFIG_META = 'experiments-ui-config';

const escapeAttribute = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** The Content-Security-Policy of every `/ui/` answer. */
export function uiContentSecurityPolicy(config: Pick<Config, 'queryApi'>): string {
  const connect = ["'self'", ...(config.queryApi.cognitoDomain ? [config.queryApi.cognitoDomain] : [])];
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect.join(' ')}`,
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** Picks brotli, then gzip, then identity from an `Accept-Encoding` header. */
export function chooseEncoding(acceptEncoding: string | undefined): 'br' | 'gzip' | 'identity' {
  const accepted = new Map<string, number>();
  for (const part of (acceptEncoding ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    accepted.set(name, q ? Number(q.slice(2)) : 1);
  }
  const weight = (name: string) => accepted.get(name) ?? accepted.get('*') ?? 0;
  if (weight('br') > 0) return 'br';
  if (weight('gzip') > 0) return 'gzip';
  return 'identity';
}

/** Registers the `/ui/` routes; builds (or reads) the site first. */
export async function registerUiRoutes(
  app: QueryApiInstance,
  config: Pick<Config, 'queryApi'>,
  options: { site?: UiSite } = {},
): Promise<void> {
  const site = options.site ?? (await loadUiSite());
  const etags = new Map<string, string>();
  for (const file of site.files.values()) {
    etags.set(file.path, `"${createHash('sha256').update(file.body).digest('base64url').slice(0, 22)}"`);
  }
  const csp = uiContentSecurityPolicy(config);
  const configBody = JSON.stringify(uiConfigOf(config));
  const built = site.files.get('index.html');
  if (!built) throw new Error('the UI site has no index.html');
  // The sign-in settings ride in the page itself (a <meta>, no inline script): one round trip
  // less before the first API call. A static host without them (CloudFront) fetches /ui/config.json.
  const index = uiFile(
    'index.html',
    Buffer.from(
      built.body
        .toString()
        .replace('</head>', `<meta name="${UI_CONFIG_META}" content="${escapeAttribute(configBody)}">\n</head>`),
    ),
  );
  etags.set('index.html', `"${createHash('sha256').update(index.body).digest('base64url').slice(0, 22)}"`);

  const send = (request: FastifyRequest, reply: FastifyReply, file: UiFile) => {
    const etag = etags.get(file.path) ?? '""';
    void reply
      .header('content-security-policy', csp)
      .header('cache-control', file.immutable ? IMMUTABLE : REVALIDATE)
      .header('etag', etag)
      .header('vary', 'accept-encoding')
      .header('x-content-type-options', 'nosniff');
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    const encoding = chooseEncoding(request.headers['accept-encoding']);
    const body = encoding === 'br' ? file.brotli : encoding === 'gzip' ? file.gzip : file.body;
    if (encoding !== 'identity') void reply.header('content-encoding', encoding);
    return reply.type(file.contentType).send(body);
  };
  const routeOptions = { config: { access: 'public' as const }, schema: { hide: true } };

  app.get('/ui', routeOptions, (_request, reply) => reply.redirect('/ui/', 308));
  app.get('/ui/config.json', routeOptions, (_request, reply) =>
    reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(configBody),
  );
  app.get('/ui/assets/*', routeOptions, (request, reply) => {
    const name = (request.params as { '*': string })['*'];
    const file = site.files.get(`assets/${name}`);
    if (!file) {
      return reply
        .code(404)
        .header('cache-control', 'no-store')
        .send({
          error: { code: 'NOT_FOUND', message: `no UI asset "${name}" (the page may be from an older release)` },
        });
    }
    return send(request, reply, file);
  });
  app.get('/ui/*', routeOptions, (request, reply) => send(request, reply, index));
}
