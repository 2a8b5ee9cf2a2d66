/**
 * IAM database authentication for Aurora PostgreSQL: instead of a password (which rotation
 * would change under running tasks), each new connection presents a token that
 * `@aws-sdk/rds-signer` signs with the task role's credentials for one host, port and user.
 * A token is valid for 15 minutes; it is only checked when a connection opens, so open
 * connections outlive it.
 *
 * The provider is the `pg` pool's `password` function: it signs one token, hands it to every
 * connection opened in the next `TOKEN_REUSE_MS` (10 minutes), and signs a new one before the
 * old one expires, so a connection never presents a token within 5 minutes of its expiry.
 * Concurrent connections share one signing. A failed signing is retried by the next
 * connection attempt; the error says which user and host.
 *
 *   token reused while  now < signedAt + TOKEN_LIFETIME_MS − REFRESH_MARGIN_MS   (10 min)
 *
 * @example
 *   const token = createIamAuthTokenProvider({ hostname, port: 5432, username: 'experimentation_app', region });
 *   new pg.Pool({ connectionString, password: token.password });
 */
import { Signer } from '@aws-sdk/rds-signer';
import { PipelineError } from '../../common/errors.js';

/** How long RDS accepts a signed token. */
export const TOKEN_LIFETIME_MS = 15 * 60_000;
/** A token is replaced this long before it expires. */
export const REFRESH_MARGIN_MS = 5 * 60_000;
/** So each token serves new connections for this long. */
export const TOKEN_REUSE_MS = TOKEN_LIFETIME_MS - REFRESH_MARGIN_MS;

export interface IamAuthTarget {
  hostname: string;
  port: number;
  username: string;
  region: string;
}

/** What signs a token; `@aws-sdk/rds-signer`'s `Signer` by default (tests pass a fake). */
export type TokenSigner = (target: IamAuthTarget) => Promise<string>;

export interface IamAuthTokenProvider {
  /** The pool's `password` function: a token valid for at least REFRESH_MARGIN_MS more. */
  readonly password: () => Promise<string>;
}

export interface IamAuthTokenOptions extends IamAuthTarget {
  signer?: TokenSigner;
  now?: () => number;
}

/** Signs with the default AWS credential chain (the ECS task role in AWS). */
export const rdsSigner: TokenSigner = (target) =>
  new Signer({
    hostname: target.hostname,
    port: target.port,
    username: target.username,
    region: target.region,
  }).getAuthToken();

/** Creates the provider for one host, port and user. */
export function createIamAuthTokenProvider(options: IamAuthTokenOptions): IamAuthTokenProvider {
  const sign = options.signer ?? rdsSigner;
  const now = options.now ?? Date.now;
  const target: IamAuthTarget = {
    hostname: options.hostname,
    port: options.port,
    username: options.username,
    region: options.region,
  };
  let current: { token: string; signedAt: number } | undefined;
  let signing: Promise<string> | undefined;

  async function signNew(): Promise<string> {
    const signedAt = now();
    let token: string;
    try {
      token = await sign(target);
    } catch (error) {
      throw new PipelineError(
        'DEPENDENCY_UNAVAILABLE',
        `could not sign an IAM database token for ${target.username}@${target.hostname}:${target.port}`,
        { cause: error },
      );
    }
    current = { token, signedAt };
    return token;
  }

  return {
    password: () => {
      if (current && now() < current.signedAt + TOKEN_REUSE_MS) return Promise.resolve(current.token);
      signing ??= signNew().finally(() => {
        signing = undefined;
      });
      return signing;
    },
  };
}

/**
 * The provider for a PostgreSQL URL (`postgres://user@host:port/db`), or undefined when
 * IAM authentication is off. The URL's user is the database role the token is signed for.
 */
export function iamAuthPasswordFor(
  url: string,
  iamAuth: { region: string } | undefined,
  signer?: TokenSigner,
): (() => Promise<string>) | undefined {
  if (!iamAuth) return undefined;
  const parsed = new URL(url);
  const username = decodeURIComponent(parsed.username);
  if (!username) throw new PipelineError('CONFIG_INVALID', 'DATABASE_IAM_AUTH needs the user in the database URL');
  return createIamAuthTokenProvider({
    hostname: parsed.hostname,
    port: parsed.port === '' ? 5432 : Number(parsed.port),
    username,
    region: iamAuth.region,
    ...(signer ? { signer } : {}),
  }).password;
}
