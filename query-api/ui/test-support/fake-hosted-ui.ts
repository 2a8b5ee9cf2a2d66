/**
 * Test support: a fake Cognito Hosted UI on 127.0.0.1 (Cognito cannot run here). It speaks
 * the three endpoints the results pages use and checks the real request shapes:
 *   GET  /oauth2/authorize   response_type=code, client_id, redirect_uri, scope with openid,
 *                            state, code_challenge_method=S256, code_challenge → 302 back with code & state
 *   POST /oauth2/token       form-encoded grant_type=authorization_code, client_id, code,
 *                            redirect_uri (the same), code_verifier whose SHA-256 is the challenge
 *                            → tokens from `issue('authorization_code')` and a refresh token;
 *                            any mismatch → 400 invalid_grant
 *                            grant_type=refresh_token, client_id, refresh_token → tokens from
 *                            `issue('refresh_token')` (no new refresh token, like Cognito without
 *                            rotation); a revoked or expired refresh token → 400 invalid_grant
 *   POST /oauth2/revoke      form-encoded token (a refresh token), client_id → 200, token revoked
 *   GET  /logout             client_id, logout_uri → 302 to logout_uri
 * Every request is recorded; the token and revoke endpoints answer CORS like Cognito's.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';

export interface FakeHostedUi {
  /** `http://127.0.0.1:<port>`: COGNITO_DOMAIN. */
  readonly domain: string;
  /** What each endpoint received, in order. */
  readonly requests: { path: string; params: Record<string, string> }[];
  /** Problems found in requests (empty when every request had the right shape). */
  readonly problems: string[];
  /** Ends every refresh token issued so far (as if their validity had passed): renewals now fail. */
  expireRefreshTokens(): void;
  stop(): Promise<void>;
}

/** Which grant `issue` mints tokens for. */
export type FakeGrant = 'authorization_code' | 'refresh_token';

const readBody = async (request: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
};

/** Starts the fake; `issue` mints the tokens of a successful exchange. */
export async function startFakeHostedUi(options: {
  clientId: string;
  issue: (grant: FakeGrant) => { access_token: string; id_token: string; expires_in?: number };
}): Promise<FakeHostedUi> {
  const requests: FakeHostedUi['requests'] = [];
  const problems: string[] = [];
  const codes = new Map<string, { challenge: string; redirectUri: string }>();
  /** Refresh tokens still valid. */
  const refreshTokens = new Set<string>();
  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://fake');
      const cors = { 'access-control-allow-origin': request.headers.origin ?? '*' };
      const fail = (problem: string) => {
        problems.push(problem);
        response
          .writeHead(400, { 'content-type': 'application/json', ...cors })
          .end(JSON.stringify({ error: 'invalid_grant' }));
      };
      if (request.method === 'GET' && url.pathname === '/oauth2/authorize') {
        const params = Object.fromEntries(url.searchParams);
        requests.push({ path: url.pathname, params });
        if (params.response_type !== 'code') return fail(`authorize: response_type ${params.response_type}`);
        if (params.client_id !== options.clientId) return fail(`authorize: client_id ${params.client_id}`);
        if (params.code_challenge_method !== 'S256') return fail('authorize: code_challenge_method is not S256');
        if (!/^[A-Za-z0-9_-]{43}$/.test(params.code_challenge ?? '')) return fail('authorize: bad code_challenge');
        if (!(params.scope ?? '').split(' ').includes('openid')) return fail('authorize: scope without openid');
        if (!params.state || !params.redirect_uri) return fail('authorize: no state or redirect_uri');
        const code = randomUUID();
        codes.set(code, { challenge: params.code_challenge as string, redirectUri: params.redirect_uri });
        const back = new URL(params.redirect_uri);
        back.searchParams.set('code', code);
        back.searchParams.set('state', params.state);
        response.writeHead(302, { location: back.toString() }).end();
        return;
      }
      /** A well-formed request the server refuses (Cognito's answer for a dead refresh token). */
      const refuse = () =>
        response
          .writeHead(400, { 'content-type': 'application/json', ...cors })
          .end(JSON.stringify({ error: 'invalid_grant' }));
      const answerTokens = (grant: FakeGrant, refreshToken?: string) =>
        response.writeHead(200, { 'content-type': 'application/json', ...cors }).end(
          JSON.stringify({
            token_type: 'Bearer',
            expires_in: 3600,
            ...options.issue(grant),
            ...(refreshToken ? { refresh_token: refreshToken } : {}),
          }),
        );
      if (request.method === 'OPTIONS' && (url.pathname === '/oauth2/token' || url.pathname === '/oauth2/revoke')) {
        response
          .writeHead(204, {
            ...cors,
            'access-control-allow-methods': 'POST',
            'access-control-allow-headers': 'content-type',
          })
          .end();
        return;
      }
      if (request.method === 'POST' && url.pathname === '/oauth2/token') {
        if (!String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
          return fail(`token: content-type ${request.headers['content-type']}`);
        }
        const params = Object.fromEntries(new URLSearchParams(await readBody(request)));
        requests.push({ path: url.pathname, params });
        if (params.grant_type === 'refresh_token') {
          if (params.client_id !== options.clientId) return fail(`refresh: client_id ${params.client_id}`);
          if (!params.refresh_token) return fail('refresh: no refresh_token');
          if (!refreshTokens.has(params.refresh_token)) return refuse();
          return answerTokens('refresh_token');
        }
        const issued = codes.get(params.code ?? '');
        codes.delete(params.code ?? '');
        if (params.grant_type !== 'authorization_code') return fail(`token: grant_type ${params.grant_type}`);
        if (params.client_id !== options.clientId) return fail(`token: client_id ${params.client_id}`);
        if (!issued) return fail('token: unknown or reused code');
        if (params.redirect_uri !== issued.redirectUri) return fail('token: redirect_uri differs from authorize');
        const challenge = createHash('sha256')
          .update(params.code_verifier ?? '')
          .digest('base64url');
        if (challenge !== issued.challenge) return fail('token: code_verifier does not match the challenge');
        const refreshToken = randomUUID();
        refreshTokens.add(refreshToken);
        return answerTokens('authorization_code', refreshToken);
      }
      if (request.method === 'POST' && url.pathname === '/oauth2/revoke') {
        if (!String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
          return fail(`revoke: content-type ${request.headers['content-type']}`);
        }
        const params = Object.fromEntries(new URLSearchParams(await readBody(request)));
        requests.push({ path: url.pathname, params });
        if (params.client_id !== options.clientId || !params.token) return fail('revoke: bad parameters');
        refreshTokens.delete(params.token);
        response.writeHead(200, cors).end();
        return;
      }
      if (request.method === 'GET' && url.pathname === '/logout') {
        const params = Object.fromEntries(url.searchParams);
        requests.push({ path: url.pathname, params });
        if (params.client_id !== options.clientId || !params.logout_uri) return fail('logout: bad parameters');
        response.writeHead(302, { location: params.logout_uri }).end();
        return;
      }
      response.writeHead(404).end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    domain: `http://127.0.0.1:${port}`,
    requests,
    problems,
    expireRefreshTokens: () => refreshTokens.clear(),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
