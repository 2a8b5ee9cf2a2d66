/**
 * Who is calling, and may they do this. Two kinds of credentials:
 * - `x-api-key`: service-to-service (edge functions, the local launcher, scripts); keys
 *   from API_KEYS; may read and write.
 * - `Authorization: Bearer <JWT>`: analysts, a Cognito **access** token verified against the
 *   user pool (COGNITO_USER_POOL_ID: signature, issuer, expiry) for this app client
 *   (COGNITO_CLIENT_ID, the token's `client_id`); ID tokens are refused (`token_use` must
 *   be `access`: an ID token proves who someone is to the client it was issued to, it is not
 *   an API credential). May read; writing definitions needs the Cognito group `EDITOR_GROUP`.
 * With neither configured the API is open (local development) and says so at start-up.
 * Missing or invalid credentials are 401; valid credentials without the right are 403.
 */
import { timingSafeEqual } from 'node:crypto';
import { CognitoJwtVerifier } from 'aws-jwt-verify';
import type { JwksCache } from 'aws-jwt-verify/jwk';
import type { Config } from '../../common/config.js';
import { PipelineError } from '../../common/errors.js';

/** The Cognito group whose members may create and change experiments and flags. */
export const EDITOR_GROUP = 'experiment-editors';

export interface Principal {
  kind: 'service' | 'user' | 'anonymous';
  /** API key index (`key#0`) or the token's `sub`. */
  subject: string;
  canWrite: boolean;
}

export interface Authenticator {
  /** True when any credential is configured; otherwise every request is anonymous with full rights. */
  readonly enabled: boolean;
  authenticate(headers: { authorization?: string; 'x-api-key'?: string | string[] }): Promise<Principal>;
}

export interface AuthenticatorOptions {
  /** JWKS source for the Cognito verifier (tests serve a locally generated JWKS). */
  jwksCache?: JwksCache;
}

type TokenVerifier = (token: string) => Promise<{ sub: string; groups: string[] }>;

function cognitoVerifier(cognito: NonNullable<Config['queryApi']['cognito']>, jwksCache?: JwksCache): TokenVerifier {
  const verifier = CognitoJwtVerifier.create(
    { userPoolId: cognito.userPoolId, clientId: cognito.clientId, tokenUse: 'access' },
    jwksCache ? { jwksCache } : undefined,
  );
  return async (token) => {
    const payload = await verifier.verify(token);
    const groups = payload['cognito:groups'];
    return { sub: String(payload.sub), groups: Array.isArray(groups) ? groups.map(String) : [] };
  };
}

function keyIndex(keys: readonly Buffer[], provided: string): number {
  const candidate = Buffer.from(provided);
  return keys.findIndex((key) => key.length === candidate.length && timingSafeEqual(key, candidate));
}

/** Builds the authenticator for the query API's settings. */
export function createAuthenticator(settings: Config['queryApi'], options: AuthenticatorOptions = {}): Authenticator {
  const keys = settings.apiKeys.map((key) => Buffer.from(key));
  const verify = settings.cognito ? cognitoVerifier(settings.cognito, options.jwksCache) : undefined;
  const enabled = keys.length > 0 || verify !== undefined;
  const accepted = [keys.length > 0 ? 'x-api-key' : '', verify ? 'Authorization: Bearer <Cognito token>' : '']
    .filter(Boolean)
    .join(' or ');
  return {
    enabled,
    async authenticate(headers) {
      if (!enabled) return { kind: 'anonymous', subject: 'anonymous', canWrite: true };
      const apiKey = headers['x-api-key'];
      if (apiKey !== undefined) {
        const index = typeof apiKey === 'string' && keys.length > 0 ? keyIndex(keys, apiKey) : -1;
        if (index < 0) throw new PipelineError('UNAUTHORIZED', 'the x-api-key header is not a valid API key');
        return { kind: 'service', subject: `key#${index}`, canWrite: true };
      }
      const authorization = headers.authorization;
      if (authorization !== undefined) {
        const match = /^Bearer\s+(\S+)$/i.exec(authorization);
        if (!match) throw new PipelineError('UNAUTHORIZED', 'the Authorization header must be "Bearer <token>"');
        if (!verify) throw new PipelineError('UNAUTHORIZED', `bearer tokens are not accepted here; use ${accepted}`);
        try {
          const { sub, groups } = await verify(match[1]!);
          return { kind: 'user', subject: sub, canWrite: groups.includes(EDITOR_GROUP) };
        } catch (error) {
          const reason = error instanceof Error ? error.message : 'verification failed';
          throw new PipelineError('UNAUTHORIZED', `the bearer token was rejected: ${reason}`, { cause: error });
        }
      }
      throw new PipelineError('UNAUTHORIZED', `credentials required: send ${accepted}`);
    },
  };
}

/** Throws FORBIDDEN when an authenticated principal may not change definitions. */
export function assertMayWrite(principal: Principal): void {
  if (principal.canWrite) return;
  throw new PipelineError(
    'FORBIDDEN',
    `creating or changing definitions requires an API key or membership in the Cognito group "${EDITOR_GROUP}"`,
  );
}
