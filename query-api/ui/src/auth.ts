/**
 * Signing in, by the API's mode (GET /ui/config.json):
 * - open: nothing to do;
 * - API keys: a prompt; the key is kept in sessionStorage (this tab only, gone when it closes);
 * - Cognito: the Hosted UI with the authorization code flow and PKCE (RFC 7636): a random
 *   verifier and state kept in sessionStorage, the S256 challenge sent to `/oauth2/authorize`,
 *   the code exchanged at `/oauth2/token` (public client, no secret) on `/ui/callback`; the
 *   access and refresh tokens are kept in sessionStorage (this tab only). Shortly before the
 *   access token expires (or when the API refuses it), the next API call first renews it at
 *   `/oauth2/token` with `grant_type=refresh_token`; when that fails (refresh token expired or
 *   revoked) the credentials are forgotten and the pages ask to sign in again. Signing out
 *   revokes the access token at the API (POST /api/v1/sessions/logout) and the refresh token
 *   at the Hosted UI (`/oauth2/revoke`), forgets both, and ends the Hosted UI session.
 */
import type { UiConfig } from './api-types.js';

const CREDENTIALS_KEY = 'experiments-ui.credentials';
const LOGIN_KEY = 'experiments-ui.login';
/** Where the Hosted UI sends the browser back to. */
export const CALLBACK_PATH = '/ui/callback';

/** Cognito tokens of this tab: `renewAt` is when the next API call renews the access token first. */
interface TokenCredentials {
  kind: 'token';
  accessToken: string;
  expiresAt: number;
  renewAt: number;
  refreshToken?: string;
  username?: string;
}

type Credentials = { kind: 'api-key'; key: string } | TokenCredentials;

/** How long before its expiry an access token is renewed (at most half its lifetime). */
export const RENEW_BEFORE_EXPIRY_MS = 30_000;

let current: Credentials | null = readStored();
/** The renewal in progress: concurrent API calls wait for the same one. */
let renewal: Promise<boolean> | null = null;
/** Why the last renewal failed, for the sign-in page (read once). */
let renewalFailure: string | null = null;

function readStored(): Credentials | null {
  try {
    const text = sessionStorage.getItem(CREDENTIALS_KEY);
    const stored = text ? (JSON.parse(text) as Credentials) : null;
    // An expired access token is still worth keeping while a refresh token can renew it.
    if (stored?.kind === 'token' && stored.expiresAt <= Date.now() && !stored.refreshToken) return null;
    return stored;
  } catch {
    return null;
  }
}

function store(credentials: Credentials | null): void {
  current = credentials;
  if (credentials) sessionStorage.setItem(CREDENTIALS_KEY, JSON.stringify(credentials));
  else sessionStorage.removeItem(CREDENTIALS_KEY);
}

/** Headers that authenticate an API call (none when open or signed out). */
export function authHeaders(): Record<string, string> {
  if (!current) return {};
  if (current.kind === 'api-key') return { 'x-api-key': current.key };
  if (current.expiresAt <= Date.now()) return {};
  return { authorization: `Bearer ${current.accessToken}` };
}

/** Whether the pages may call the API now (an expired token counts while it can be renewed). */
export function isSignedIn(config: UiConfig): boolean {
  if (config.auth.mode === 'open') return true;
  if (current?.kind === 'token' && current.refreshToken && config.auth.cognito) return true;
  return Object.keys(authHeaders()).length > 0;
}

/** Who is signed in, for the header: the username, "API key", or null. */
export function signedInAs(): string | null {
  if (!current) return null;
  return current.kind === 'api-key' ? 'API key' : (current.username ?? 'signed in');
}

/** Keeps an API key for this tab. */
export const useApiKey = (key: string): void => store({ kind: 'api-key', key });

/** Forgets the credentials of this tab. */
export const forgetCredentials = (): void => store(null);

const base64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');

/** A PKCE verifier (43+ characters of [A-Za-z0-9-_]) and its S256 challenge. */
export async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(digest)) };
}

const redirectUri = (): string => `${location.origin}${CALLBACK_PATH}`;

/** Sends the browser to the Hosted UI; it comes back to /ui/callback, then to `returnTo`. */
export async function startHostedUiLogin(cognito: NonNullable<UiConfig['auth']['cognito']>, returnTo: string) {
  const { verifier, challenge } = await pkcePair();
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(LOGIN_KEY, JSON.stringify({ verifier, state, returnTo }));
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: cognito.clientId,
    redirect_uri: redirectUri(),
    scope: cognito.scopes.join(' '),
    state,
    code_challenge_method: 'S256',
    code_challenge: challenge,
  });
  location.assign(`${cognito.domain}/oauth2/authorize?${query.toString()}`);
}

/** The Hosted UI's token answer (authorization code and refresh token grants). */
interface TokenAnswer {
  access_token?: string;
  id_token?: string;
  refresh_token?: string;
  expires_in?: number;
  error?: string;
}

/** POSTs a form to the Hosted UI's token endpoint; resolves with the answer and its status. */
async function tokenRequest(
  cognito: NonNullable<UiConfig['auth']['cognito']>,
  form: Record<string, string>,
): Promise<{ ok: boolean; status: number; tokens: TokenAnswer }> {
  const response = await fetch(`${cognito.domain}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  const tokens = (await response.json().catch(() => ({}))) as TokenAnswer;
  return { ok: response.ok, status: response.status, tokens };
}

/**
 * Keeps tokens of a successful answer: renewed `renewAt` = expiry minus
 * min(RENEW_BEFORE_EXPIRY_MS, half the lifetime). A refresh answer carries no new refresh
 * token (unless the client rotates them): the previous one is kept.
 *
 * @example a 3600 s token issued at t renews from t + 3570 s; a 2 s token from t + 1 s.
 */
function storeTokens(tokens: TokenAnswer & { access_token: string }, previous?: TokenCredentials): void {
  const lifetimeMs = (tokens.expires_in ?? 3600) * 1000;
  const now = Date.now();
  const username = tokens.id_token ? usernameOf(tokens.id_token) : previous?.username;
  const refreshToken = tokens.refresh_token ?? previous?.refreshToken;
  store({
    kind: 'token',
    accessToken: tokens.access_token,
    expiresAt: now + lifetimeMs,
    renewAt: now + lifetimeMs - Math.min(RENEW_BEFORE_EXPIRY_MS, lifetimeMs / 2),
    ...(refreshToken ? { refreshToken } : {}),
    ...(username ? { username } : {}),
  });
}

/**
 * Renews the access token with the refresh token when it is due (or `force`d: the API refused
 * it). Resolves true when the credentials are usable; false after a failed renewal, which
 * forgets them (the pages then ask to sign in again). One renewal at a time.
 */
export function renewCredentials(config: UiConfig, force = false): Promise<boolean> {
  const cognito = config.auth.cognito;
  const held = current;
  // Nothing to renew (open, API key, no refresh token): go ahead, unless the API already refused.
  if (held?.kind !== 'token' || !held.refreshToken || !cognito) return Promise.resolve(!force);
  if (!force && held.renewAt > Date.now()) return Promise.resolve(true);
  renewal ??= tokenRequest(cognito, {
    grant_type: 'refresh_token',
    client_id: cognito.clientId,
    refresh_token: held.refreshToken,
  })
    .then(({ ok, status, tokens }) => {
      if (!ok || !tokens.access_token) throw new Error(tokens.error ?? `HTTP ${status}`);
      storeTokens({ ...tokens, access_token: tokens.access_token }, held);
      return true;
    })
    .catch((error: unknown) => {
      forgetCredentials();
      renewalFailure = `Your sign-in expired and could not be renewed (${error instanceof Error ? error.message : String(error)}): sign in again.`;
      return false;
    })
    .finally(() => {
      renewal = null;
    });
  return renewal;
}

/** Why the last renewal failed (once), for the sign-in page; null when none did. */
export function takeRenewalFailure(): string | null {
  const failure = renewalFailure;
  renewalFailure = null;
  return failure;
}

const usernameOf = (jwt: string): string | undefined => {
  try {
    const payload = JSON.parse(atob((jwt.split('.')[1] ?? '').replaceAll('-', '+').replaceAll('_', '/'))) as {
      username?: string;
      email?: string;
    };
    return payload.email ?? payload.username;
  } catch {
    return undefined;
  }
};

/**
 * Finishes a Hosted UI sign-in on /ui/callback: checks `state`, exchanges the code with the
 * verifier, keeps the access token. Returns the path to go back to; throws a readable error.
 */
export async function completeHostedUiLogin(
  cognito: NonNullable<UiConfig['auth']['cognito']>,
  url: URL,
): Promise<string> {
  const pending = JSON.parse(sessionStorage.getItem(LOGIN_KEY) ?? 'null') as {
    verifier: string;
    state: string;
    returnTo: string;
  } | null;
  sessionStorage.removeItem(LOGIN_KEY);
  const error = url.searchParams.get('error');
  if (error) throw new Error(`sign-in failed: ${url.searchParams.get('error_description') ?? error}`);
  const code = url.searchParams.get('code');
  if (!pending || !code || url.searchParams.get('state') !== pending.state) {
    throw new Error('this sign-in answer does not belong to a sign-in started here; sign in again');
  }
  const { ok, status, tokens } = await tokenRequest(cognito, {
    grant_type: 'authorization_code',
    client_id: cognito.clientId,
    code,
    redirect_uri: redirectUri(),
    code_verifier: pending.verifier,
  });
  if (!ok || !tokens.access_token) {
    throw new Error(`the sign-in could not be completed (${tokens.error ?? `HTTP ${status}`}); sign in again`);
  }
  storeTokens({ ...tokens, id_token: tokens.id_token ?? tokens.access_token, access_token: tokens.access_token });
  return pending.returnTo.startsWith('/ui/') ? pending.returnTo : '/ui/';
}

/** Signs out: revokes the tokens (API and Hosted UI), forgets them, and ends the Hosted UI session. */
export async function signOut(config: UiConfig): Promise<void> {
  const headers = authHeaders();
  const held = current;
  const wasToken = held?.kind === 'token';
  const cognito = config.auth.cognito;
  if (wasToken && headers.authorization) {
    await fetch('/api/v1/sessions/logout', { method: 'POST', headers }).catch(() => undefined);
  }
  if (held?.kind === 'token' && held.refreshToken && cognito) {
    // Revoking the refresh token also ends the access tokens issued with it (public client: no secret).
    await fetch(`${cognito.domain}/oauth2/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: held.refreshToken, client_id: cognito.clientId }).toString(),
    }).catch(() => undefined);
  }
  forgetCredentials();
  if (wasToken && cognito) {
    const query = new URLSearchParams({ client_id: cognito.clientId, logout_uri: `${location.origin}/ui/` });
    location.assign(`${cognito.domain}/logout?${query.toString()}`);
  } else {
    location.assign('/ui/');
  }
}
