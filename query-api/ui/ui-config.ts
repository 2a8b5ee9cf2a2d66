/**
 * What the results pages must know before their first API call: how to sign in. Served as
 * `GET /ui/config.json`; holds no secret (the Cognito app client of a browser is public).
 *
 * - `open`: neither API keys nor Cognito configured (local development): no sign-in.
 * - `cognito`: the Hosted UI, authorization code + PKCE (`COGNITO_DOMAIN` and the app client;
 *   `cognito: null` when COGNITO_DOMAIN is unset, and the pages say so). API keys may be
 *   configured as well; the pages then also offer the key prompt.
 * - `api-key`: only API keys: the pages ask for one and keep it in sessionStorage.
 *
 * @example uiConfigOf(loadConfig({ API_KEYS: 'k1' })) // → { auth: { mode: 'api-key', apiKeys: true, cognito: null } }
 */
import type { Config } from '../../common/config.js';

/** How the pages sign in; the browser code reads the same shape (src/api-types.ts). */
export interface UiConfig {
  auth: {
    mode: 'open' | 'api-key' | 'cognito';
    /** Whether an API key is accepted (the key prompt is offered). */
    apiKeys: boolean;
    cognito: { domain: string; clientId: string; scopes: string[] } | null;
  };
}

/** Scopes asked of the Hosted UI: `openid` (required by the authorize endpoint) and the profile. */
export const COGNITO_SCOPES = ['openid', 'email', 'profile'];

/** Derives the pages' sign-in settings from the query API's configuration. */
export function uiConfigOf(config: Pick<Config, 'queryApi'>): UiConfig {
  const { cognito, cognitoDomain, apiKeys, adminApiKeys } = config.queryApi;
  const keys = apiKeys.length > 0 || adminApiKeys.length > 0;
  const hostedUi = cognito && cognitoDomain ? { domain: cognitoDomain, clientId: cognito.clientId } : null;
  const mode: UiConfig['auth']['mode'] = cognito ? 'cognito' : keys ? 'api-key' : 'open';
  return { auth: { mode, apiKeys: keys, cognito: hostedUi ? { ...hostedUi, scopes: COGNITO_SCOPES } : null } };
}
