/**
 * POST /api/v1/sessions/logout: signs the caller out. The presented Cognito access token
 * (its `jti`) and its sign-in (`origin_jti`: every token refreshed from it) are revoked until
 * the token's `exp` in the shared revocation list (sessions/revocation-list.ts): from then on
 * every instance answers 401 to them. The audit event and the revocation go together: the
 * event is written in a transaction that commits only after the revocation is stored.
 * Redis down → 503 and nothing is recorded (the caller retries).
 */
import Type from 'typebox';
import { PipelineError } from '../../common/errors.js';
import { requestOrigin } from '../audit/audit-input.js';
import type { QueryApiContext, QueryApiInstance } from '../context.js';
import { withTransaction } from '../db/transaction.js';
import { databaseError } from '../definitions/definition-store.js';
import { AUTHENTICATED, ERROR_RESPONSES } from './http-schemas.js';

const LogoutResponseSchema = Type.Object({
  signedOut: Type.Literal(true),
  tokenId: Type.String({ description: 'The revoked token’s `jti`.' }),
  originTokenId: Type.Union([Type.String(), Type.Null()], { description: 'The revoked sign-in (`origin_jti`).' }),
  revokedUntil: Type.String({ description: 'The token’s expiry: the revocation lasts until then.' }),
});

/** Registers the session routes. */
export function registerSessionRoutes(app: QueryApiInstance, context: QueryApiContext): void {
  app.post(
    '/api/v1/sessions/logout',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Sign out: revoke the presented access token and its sign-in',
        description:
          'For Cognito access tokens (`Authorization: Bearer`). Every instance refuses the token (and tokens ' +
          'refreshed from the same sign-in) with 401 from then on, until it expires. API keys cannot sign out ' +
          '(remove them from API_KEYS). 503 when the session store (Redis) is unavailable.',
        security: AUTHENTICATED,
        response: { 200: LogoutResponseSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const session = request.principal?.kind === 'user' ? request.principal.session : undefined;
      if (!session) {
        throw new PipelineError('VALIDATION_FAILED', 'signing out needs a Cognito access token with a jti', {
          details: [{ field: 'authorization', rule: 'bearerTokenWithJti', message: 'send the access token to revoke' }],
        });
      }
      const now = context.now();
      await withTransaction(context.database.writer, async (tx) => {
        await context.auditLog.append(tx, {
          ...requestOrigin(request),
          action: 'session.signed-out',
          resource: { type: 'session', id: session.tokenId },
          change: {
            tokenId: session.tokenId,
            originTokenId: session.originTokenId ?? null,
            revokedUntil: session.expiresAt.toISOString(),
          },
        });
        await context.revocations.revoke(session, now);
      }).catch((error: unknown) => Promise.reject(databaseError(error)));
      return {
        signedOut: true as const,
        tokenId: session.tokenId,
        originTokenId: session.originTokenId ?? null,
        revokedUntil: session.expiresAt.toISOString(),
      };
    },
  );
}
