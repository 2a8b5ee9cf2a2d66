/**
 * The /ui/ routes through `inject` on a real query API (PostgreSQL, dynalite): content
 * types, caching, compression, client-side routes, the sign-in settings per auth mode.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../local/test-support/test-config.js';
import { startTestApi, type TestApi } from '../test-support/test-app.js';
import { buildUiSite, loadUiSite, pageWeightGzipped, UI_PAGE_WEIGHT_BUDGET_BYTES, writeUiSite } from './build-ui.js';
import { chooseEncoding } from './ui-routes.js';
import { uiConfigOf } from './ui-config.js';

describe('/ui/ routes', () => {
  let api: TestApi;
  let script: string;
  let stylesheet: string;

  beforeAll(async () => {
    api = await startTestApi({ API_KEYS: 'ui-test-key' });
    const index = await api.app.inject({ url: '/ui/' });
    script = /src="\/ui\/(assets\/main-[A-Z0-9]+\.js)"/.exec(index.body)?.[1] ?? '';
    stylesheet = /href="\/ui\/(assets\/styles-[A-Z0-9]+\.css)"/.exec(index.body)?.[1] ?? '';
  });
  afterAll(() => api.close());

  it('answers every client-side route with index.html, revalidated, without credentials', async () => {
    for (const url of ['/ui/', '/ui/experiments/checkout', '/ui/experiments/new', '/ui/experiments/a/edit?x=1']) {
      const response = await api.app.inject({ url });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.headers['cache-control']).toBe('no-cache');
      expect(response.body).toContain('<main id="main"');
    }
    expect(script).toMatch(/^assets\/main-/);
    expect(stylesheet).toMatch(/^assets\/styles-/);
    const redirect = await api.app.inject({ url: '/ui' });
    expect(redirect.statusCode).toBe(308);
    expect(redirect.headers.location).toBe('/ui/');
  });

  it('serves hashed assets immutable, with their content type, compressed when accepted, 304 on a matching ETag', async () => {
    const plain = await api.app.inject({ url: `/ui/${script}` });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toContain('accept-encoding');
    const gzip = await api.app.inject({ url: `/ui/${script}`, headers: { 'accept-encoding': 'gzip' } });
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gzip.rawPayload).toString()).toBe(plain.body);
    const brotli = await api.app.inject({ url: `/ui/${stylesheet}`, headers: { 'accept-encoding': 'gzip, br' } });
    expect(brotli.headers['content-encoding']).toBe('br');
    expect(brotli.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(brotliDecompressSync(brotli.rawPayload).toString()).toContain('prefers-reduced-motion');
    const again = await api.app.inject({
      url: `/ui/${script}`,
      headers: { 'if-none-match': String(plain.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
    const missing = await api.app.inject({ url: '/ui/assets/main-OLDHASH.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('NOT_FOUND');
  });

  it('sends a Content-Security-Policy without inline scripts or styles', async () => {
    const response = await api.app.inject({ url: '/ui/' });
    const csp = String(response.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
  });

  it('tells the pages how to sign in, and the API stays closed', async () => {
    const config = await api.app.inject({ url: '/ui/config.json' });
    expect(config.headers['cache-control']).toBe('no-store');
    expect(config.json()).toEqual({ auth: { mode: 'api-key', apiKeys: true, cognito: null } });
    const page = await api.app.inject({ url: '/ui/experiments/x' });
    const meta = /<meta name="experiments-ui-config" content="([^"]+)">/.exec(page.body)?.[1] ?? '';
    expect(JSON.parse(meta.replaceAll('&quot;', '"').replaceAll('&amp;', '&'))).toEqual(config.json());
    expect((await api.app.inject({ url: '/api/v1/experiments' })).statusCode).toBe(401);
  });

  it('derives the sign-in mode from the configuration', () => {
    expect(uiConfigOf(testConfig()).auth).toEqual({ mode: 'open', apiKeys: false, cognito: null });
    const cognito = testConfig({
      COGNITO_USER_POOL_ID: 'us-east-1_Pool',
      COGNITO_CLIENT_ID: 'client-1',
      COGNITO_DOMAIN: 'https://login.example.com',
    });
    expect(uiConfigOf(cognito).auth).toEqual({
      mode: 'cognito',
      apiKeys: false,
      cognito: { domain: 'https://login.example.com', clientId: 'client-1', scopes: ['openid', 'email', 'profile'] },
    });
    const noDomain = testConfig({ COGNITO_USER_POOL_ID: 'us-east-1_Pool', COGNITO_CLIENT_ID: 'client-1' });
    expect(uiConfigOf(noDomain).auth).toEqual({ mode: 'cognito', apiKeys: false, cognito: null });
    expect(() => testConfig({ COGNITO_DOMAIN: 'login.example.com/path' })).toThrow(/COGNITO_DOMAIN/);
  });

  it('picks the encoding the client prefers and accepts', () => {
    expect(chooseEncoding(undefined)).toBe('identity');
    expect(chooseEncoding('gzip, deflate, br')).toBe('br');
    expect(chooseEncoding('br;q=0, gzip')).toBe('gzip');
    expect(chooseEncoding('*')).toBe('br');
    expect(chooseEncoding('identity')).toBe('identity');
  });

  it('serves a written dist/ (the container image) exactly like the build from the sources', async () => {
    const built = await buildUiSite();
    const dist = await mkdtemp(path.join(tmpdir(), 'ui-dist-'));
    try {
      await writeUiSite(built, dist);
      const read = await loadUiSite({ sourceDir: path.join(dist, 'no-sources'), distDir: dist });
      expect(read.origin).toBe('dist');
      expect([...read.files.keys()].sort()).toEqual([...built.files.keys()].sort());
      for (const [name, file] of built.files) {
        expect(read.files.get(name)?.body.equals(file.body), name).toBe(true);
        expect(read.files.get(name)?.contentType, name).toBe(file.contentType);
      }
      await expect(
        loadUiSite({ sourceDir: path.join(dist, 'none'), distDir: path.join(dist, 'none') }),
      ).rejects.toThrow(/results pages are missing/);
    } finally {
      await rm(dist, { recursive: true, force: true });
    }
  });

  it('stays within the page-weight budget', async () => {
    const weight = pageWeightGzipped(await buildUiSite());
    expect(weight).toBeGreaterThan(1000);
    expect(weight).toBeLessThanOrEqual(UI_PAGE_WEIGHT_BUDGET_BYTES);
  });
});
