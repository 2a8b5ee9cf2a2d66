/**
 * Who is calling, and may they do this. Two kinds of credentials:
 * - `x-api-key`: service-to-service (edge functions, the local launcher, scripts); keys
 *   from API_KEYS; may read and write. Keys from ADMIN_API_KEYS also carry the admin scope
 *   (compliance export and verification).
 * - `Authorization: Bearer <JWT>`: analysts, a Cognito **access** token verified against the
 *   user pool (COGNITO_USER_POOL_ID: signature, issuer, expiry) for this app client
 *   (COGNITO_CLIENT_ID, the token's `client_id`); ID tokens are refused (`token_use` must
 *   be `access`: an ID token proves who someone is to the client it was issued to, it is not
 *   an API credential). May read; writing definitions needs the Cognito group `EDITOR_GROUP`,
 *   the compliance routes the group `ADMIN_GROUP`. The token's `jti`, `origin_jti` and `exp`
 *   come with the principal so a signed-out token can be refused (sessions/revocation-list.ts).
 * With neither configured the API is open (local development) and says so at start-up.
 * Missing or invalid credentials are 401; valid credentials without the right are 403.
 */
import { CognitoJwtVerifier } from 'aws-jwt-verify';
import type { JwksCache } from 'aws-jwt-verify/jwk';
import type { Config } from '../../common/config.js';
import { PipelineError } from '../../common/errors.js';
import { matchingKeyIndex } from '../../common/secrets/key-match.js';

/** The Cognito group whose members may create and change experiments and flags. */
export const EDITOR_GROUP = 'experiment-editors';
/** The Cognito group whose members may export and verify the audit trail. */
export const ADMIN_GROUP = 'compliance-admins';

/** The token a signed-in user presented: what signing out revokes. */
export interface TokenSession {
  /** The token's `jti`. */
  tokenId: string;
  /** The token's `origin_jti`: shared by every token refreshed from the same sign-in. */
  originTokenId?: string;
  /** The token's `exp`. */
  expiresAt: Date;
}

export interface Principal {
  kind: 'service' | 'user' | 'anonymous';
  /** API key index (`key#0`, `admin-key#0`) or the token's `sub`. Never a secret. */
  subject: string;
  /** The token's `username` (users only). */
  username?: string;
  canWrite: boolean;
  /** Admin scope: compliance export and verification. Absent means false. */
  canAdminister?: boolean;
  /** The presented token (users only, when it carries a `jti`). */
  session?: TokenSession;
}

/** Why authentication failed, for the failed-authentication summaries (audit/auth-failure-summary.ts). */
export type AuthFailureReason =
  'missing-credentials' | 'invalid-api-key' | 'malformed-header' | 'invalid-token' | 'revoked-token';

/** A 401 that says, for the audit summaries, which kind of failure it was (the answer carries only the message). */
export class AuthenticationError extends PipelineError {
  constructor(
    readonly reason: AuthFailureReason,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super('UNAUTHORIZED', message, options);
  }
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

interface VerifiedToken {
  sub: string;
  groups: string[];
  username?: string;
  session?: TokenSession;
}
type TokenVerifier = (token: string) => Promise<VerifiedToken>;

const claimString = (value: unknown): string | undefined =>
  typeof value === 'string' && value.length > 0 ? value : undefined;

function cognitoVerifier(cognito: NonNullable<Config['queryApi']['cognito']>, jwksCache?: JwksCache): TokenVerifier {
  const verifier = CognitoJwtVerifier.create(
    { userPoolId: cognito.userPoolId, clientId: cognito.clientId, tokenUse: 'access' },
    jwksCache ? { jwksCache } : undefined,
  );
  return async (token) => {
    const payload = await verifier.verify(token);
    const groups = payload['cognito:groups'];
    const tokenId = claimString(payload.jti);
    const originTokenId = claimString(payload.origin_jti);
    const username = claimString(payload.username);
    return {
      sub: String(payload.sub),
      groups: Array.isArray(groups) ? groups.map(String) : [],
      ...(username ? { username } : {}),
      ...(tokenId
        ? { session: { tokenId, ...(originTokenId ? { originTokenId } : {}), expiresAt: new Date(payload.exp * 1000) } }
        : {}),
    };
  };
}

/** Builds the authenticator for the query API's settings. */
export function createAuthenticator(settings: Config['queryApi'], options: AuthenticatorOptions = {}): Authenticator {
  const keys = settings.apiKeys.map((key) => Buffer.from(key));
  const adminKeys = settings.adminApiKeys.map((key) => Buffer.from(key));
  const verify = settings.cognito ? cognitoVerifier(settings.cognito, options.jwksCache) : undefined;
  const enabled = keys.length > 0 || adminKeys.length > 0 || verify !== undefined;
  const accepted = [
    keys.length > 0 || adminKeys.length > 0 ? 'x-api-key' : '',
    verify ? 'Authorization: Bearer <Cognito token>' : '',
  ]
    .filter(Boolean)
    .join(' or ');
  return {
    enabled,
    async authenticate(headers) {
      if (!enabled) return { kind: 'anonymous', subject: 'anonymous', canWrite: true, canAdminister: true };
      const apiKey = headers['x-api-key'];
      if (apiKey !== undefined) {
        const adminIndex =
          typeof apiKey === 'string' && adminKeys.length > 0 ? matchingKeyIndex(adminKeys, apiKey) : -1;
        if (adminIndex >= 0) {
          return { kind: 'service', subject: `admin-key#${adminIndex}`, canWrite: true, canAdminister: true };
        }
        const index = typeof apiKey === 'string' && keys.length > 0 ? matchingKeyIndex(keys, apiKey) : -1;
        if (index < 0) throw new AuthenticationError('invalid-api-key', 'the x-api-key header is not a valid API key');
        return { kind: 'service', subject: `key#${index}`, canWrite: true };
      }
      const authorization = headers.authorization;
      if (authorization !== undefined) {
        const match = /^Bearer\s+(\S+)$/i.exec(authorization);
        if (!match) {
          throw new AuthenticationError('malformed-header', 'the Authorization header must be "Bearer <token>"');
        }
        if (!verify) {
          throw new AuthenticationError('malformed-header', `bearer tokens are not accepted here; use ${accepted}`);
        }
        let token: VerifiedToken;
        try {
          token = await verify(match[1]!);
        } catch (error) {
          const reason = error instanceof Error ? error.message : 'verification failed';
          throw new AuthenticationError('invalid-token', `the bearer token was rejected: ${reason}`, { cause: error });
        }
        return {
          kind: 'user',
          subject: token.sub,
          ...(token.username ? { username: token.username } : {}),
          canWrite: token.groups.includes(EDITOR_GROUP),
          canAdminister: token.groups.includes(ADMIN_GROUP),
          ...(token.session ? { session: token.session } : {}),
        };
      }
      throw new AuthenticationError('missing-credentials', `credentials required: send ${accepted}`);
    },
  };
}

/**
 * Throws FORBIDDEN when an authenticated principal may not use the admin routes (the audit
 * trail's compliance routes, SDK connections).
 */
export function assertMayAdminister(principal: Principal): void {
  if (principal.canAdminister) return;
  throw new PipelineError(
    'FORBIDDEN',
    `this is an admin route (audit trail compliance, SDK connections): it requires an API key from ADMIN_API_KEYS or membership in the Cognito group "${ADMIN_GROUP}"`,
  );
}

/** Throws FORBIDDEN when an authenticated principal may not change definitions. */
export function assertMayWrite(principal: Principal): void {
  if (principal.canWrite) return;
  throw new PipelineError(
    'FORBIDDEN',
    `creating or changing definitions requires an API key or membership in the Cognito group "${EDITOR_GROUP}"`,
  );
}
