/**
 * Test support: Cognito-shaped JWTs signed with a locally generated RSA key whose JWKS is
 * served over HTTP on 127.0.0.1. Only the JWKS download location is redirected here
 * (Cognito itself cannot run in tests): aws-jwt-verify checks signature, issuer, client,
 * token use and expiry for real.
 *
 * @example
 *   const cognito = await startLocalCognito();
 *   const api = await startTestApi(cognito.env, { jwksCache: cognito.jwksCache });
 *   await api.app.inject({ url: '/api/v1/experiments', headers: { authorization: `Bearer ${cognito.accessToken()}` } });
 *   await cognito.stop();
 */
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import { CognitoJwtVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache, type JwksCache } from 'aws-jwt-verify/jwk';

export const USER_POOL_ID = 'us-east-1_TestPool1';
export const CLIENT_ID = 'test-client-id';
const KID = 'local-test-key';

export interface LocalCognito {
  /** COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID for `startTestApi`. */
  readonly env: Record<string, string>;
  readonly jwksCache: JwksCache;
  /** How many times the JWKS was downloaded. */
  readonly jwksRequests: number;
  /**
   * An access token (`token_use: access`, `client_id`, a fresh `jti` and `origin_jti`, `username`
   * `analyst-1@example.com`); `claims` override or add.
   */
  accessToken(claims?: Record<string, unknown>, key?: KeyObject): string;
  /** An ID token (`token_use: id`, `aud` = the client id) of the same pool. */
  idToken(claims?: Record<string, unknown>): string;
  stop(): Promise<void>;
}

const base64url = (value: object | Buffer) =>
  (Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value))).toString('base64url');

function signJwt(payload: Record<string, unknown>, key: KeyObject): string {
  const signingInput = `${base64url({ alg: 'RS256', kid: KID, typ: 'JWT' })}.${base64url(payload)}`;
  return `${signingInput}.${base64url(sign('RSA-SHA256', Buffer.from(signingInput), key))}`;
}

/** Generates the key, serves its JWKS on a free loopback port. */
export async function startLocalCognito(): Promise<LocalCognito> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
  let jwksRequests = 0;
  const server = createServer((_request, response) => {
    jwksRequests++;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const jwksUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/jwks.json`;
  const jwksCache = new SimpleJwksCache({ fetcher: { fetch: async () => (await fetch(jwksUrl)).arrayBuffer() } });
  const { issuer } = CognitoJwtVerifier.parseUserPoolId(USER_POOL_ID);
  const times = () => {
    const now = Math.floor(Date.now() / 1000);
    return { iat: now, exp: now + 600 };
  };
  return {
    env: { COGNITO_USER_POOL_ID: USER_POOL_ID, COGNITO_CLIENT_ID: CLIENT_ID },
    jwksCache,
    get jwksRequests() {
      return jwksRequests;
    },
    accessToken: (claims = {}, key = privateKey) =>
      signJwt(
        {
          sub: 'analyst-1',
          username: 'analyst-1@example.com',
          iss: issuer,
          client_id: CLIENT_ID,
          token_use: 'access',
          jti: randomUUID(),
          origin_jti: randomUUID(),
          ...times(),
          ...claims,
        },
        key,
      ),
    idToken: (claims = {}) =>
      signJwt(
        {
          sub: 'analyst-1',
          iss: issuer,
          aud: CLIENT_ID,
          token_use: 'id',
          'cognito:groups': ['experiment-editors'],
          ...times(),
          ...claims,
        },
        privateKey,
      ),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
