/**
 * ResultsPagesSignIn: what the results pages (query-api/ui) need from an operator's Cognito
 * user pool to sign analysts in through the Hosted UI with the authorization code flow and
 * PKCE (query-api/ui/src/auth.ts):
 *
 * - the Hosted UI domain, `https://<cognitoDomainPrefix>.auth.<region>.amazoncognito.com`
 *   (unless `cognitoDomain` names an existing one: a pool has at most one prefix domain);
 * - a public app client (no secret: a browser cannot keep one; PKCE protects the code)
 *   with only the `code` grant, the scopes the pages ask for (`openid email profile`,
 *   query-api/ui/ui-config.ts `COGNITO_SCOPES`), the callback URL `<origin>/ui/callback` and
 *   the sign-out URL `<origin>/ui/` of every origin that serves the pages (the query API's
 *   hostname, the CloudFront frontend), no password flows (only refresh tokens, which the
 *   pages use when the access token expires), token revocation on, and user-existence
 *   errors hidden. An operator's own client (`cognitoClientId`) is used instead when given;
 *   its URLs are then theirs to register (cdk/README.md, "Sign-in").
 *
 * The user pool itself stays the operator's (imported by id): it holds the people.
 *
 * @example
 *   const signIn = new ResultsPagesSignIn(stack, 'ResultsPagesSignIn', { config });
 *   environment: { ...signIn.environment } // COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID, COGNITO_DOMAIN
 */
import { Duration } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { COGNITO_SCOPES } from '../query-api/ui/ui-config.js';
import type { PlatformConfig } from './platform-config.js';

/** Where the Hosted UI sends the browser back to (query-api/ui/src/auth.ts `CALLBACK_PATH`). */
export const UI_CALLBACK_PATH = '/ui/callback';
/** Where the Hosted UI sends the browser after signing out (query-api/ui/src/auth.ts `signOut`). */
export const UI_SIGN_OUT_PATH = '/ui/';
/** Lifetime of an access token; the pages refresh it with the refresh token when it ends. */
export const ACCESS_TOKEN_VALIDITY = Duration.hours(1);
/** Lifetime of a refresh token: a working day, after which the analyst signs in again. */
export const REFRESH_TOKEN_VALIDITY = Duration.hours(12);

export interface ResultsPagesSignInProps {
  readonly config: PlatformConfig;
}

/** The Hosted UI domain and app client of the results pages, in the pool `cognitoUserPoolId`. */
export class ResultsPagesSignIn extends Construct {
  /** The query API's Cognito variables (common/config.ts): pool, client and Hosted UI. */
  readonly environment: {
    readonly COGNITO_USER_POOL_ID: string;
    readonly COGNITO_CLIENT_ID: string;
    readonly COGNITO_DOMAIN: string;
  };
  /** The app client created for the pages (undefined when the operator's `cognitoClientId` is used). */
  readonly client?: cognito.UserPoolClient;
  /** The Hosted UI domain created (undefined when `cognitoDomain` names an existing one). */
  readonly domain?: cognito.UserPoolDomain;

  constructor(scope: Construct, id: string, props: ResultsPagesSignInProps) {
    super(scope, id);
    const { services } = props.config;
    if (!services.cognitoUserPoolId) throw new Error('ResultsPagesSignIn needs cognitoUserPoolId');
    const userPool = cognito.UserPool.fromUserPoolId(this, 'UserPool', services.cognitoUserPoolId);
    let hostedUi = services.cognitoDomain;
    if (!hostedUi) {
      this.domain = userPool.addDomain('HostedUi', {
        cognitoDomain: { domainPrefix: services.cognitoDomainPrefix },
      });
      // https://<prefix>.auth.<region>.amazoncognito.com: the form COGNITO_DOMAIN expects.
      hostedUi = this.domain.baseUrl();
    }
    let clientId = services.cognitoClientId;
    if (!clientId) {
      const origins = services.uiOrigins;
      this.client = userPool.addClient('ResultsPagesClient', {
        userPoolClientName: `${props.config.prefix}-results-pages`,
        generateSecret: false,
        // No password flows: the Hosted UI signs in; the pages only redeem refresh tokens.
        authFlows: { user: false, userPassword: false, userSrp: false, adminUserPassword: false, custom: false },
        oAuth: {
          flows: { authorizationCodeGrant: true, implicitCodeGrant: false, clientCredentials: false },
          scopes: COGNITO_SCOPES.map((scope) => cognito.OAuthScope.custom(scope)),
          callbackUrls: origins.map((origin) => `${origin}${UI_CALLBACK_PATH}`),
          logoutUrls: origins.map((origin) => `${origin}${UI_SIGN_OUT_PATH}`),
        },
        supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
        accessTokenValidity: ACCESS_TOKEN_VALIDITY,
        idTokenValidity: ACCESS_TOKEN_VALIDITY,
        refreshTokenValidity: REFRESH_TOKEN_VALIDITY,
        enableTokenRevocation: true,
        preventUserExistenceErrors: true,
      });
      clientId = this.client.userPoolClientId;
    }
    this.environment = {
      COGNITO_USER_POOL_ID: services.cognitoUserPoolId,
      COGNITO_CLIENT_ID: clientId,
      COGNITO_DOMAIN: hostedUi,
    };
  }
}
