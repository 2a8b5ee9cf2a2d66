/**
 * The split-URL function's API key, read at run time from AWS Secrets Manager in us-east-1
 * (the replica of `<prefix>/edge/split-url-api-key`, JSON key `keys`) instead of being
 * compiled into the bundle. Lambda@Edge has no environment variables of ours, but the runtime
 * gives every function its role's credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN); the role may read this one secret and nothing else.
 *
 * The AWS SDK would not fit the bundle budget (edge/build.ts), so this module speaks the one
 * call it needs itself: `GetSecretValue` over AWS JSON 1.1, signed with Signature Version 4
 * (`aws4`). The value is cached for `ttlMs`; `refresh()` reads it again (after the API
 * refused the key); when a read fails, the last good value keeps being served.
 *
 * @example
 *   const apiKey = createEdgeSecret({ secretId: 'experimentation/edge/split-url-api-key', region: 'us-east-1' });
 *   await apiKey.get();
 */
import aws4 from 'aws4';

/** How long a read key is used before Secrets Manager is asked again. */
export const EDGE_SECRET_TTL_MS = 5 * 60_000;
/** Part of the viewer-request's 5 s that a secret read may take. */
export const EDGE_SECRET_TIMEOUT_MS = 1_000;

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface EdgeSecretOptions {
  secretId: string;
  region: string;
  /** Key of the value inside the secret's JSON (default `keys`; the first of a comma-separated list). */
  jsonKey?: string;
  /** Default: the function's role credentials from the Lambda runtime's environment. */
  credentials?: () => AwsCredentials;
  /** Default: `https://secretsmanager.<region>.amazonaws.com`. */
  endpoint?: string;
  fetch?: typeof globalThis.fetch;
  now?: () => number;
  ttlMs?: number;
  timeoutMs?: number;
}

export interface EdgeSecret {
  get(): Promise<string>;
  refresh(): Promise<string>;
}

/** The Lambda runtime's credentials of the function's role. */
export function runtimeCredentials(): AwsCredentials {
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN } = process.env;
  if (!AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY) throw new Error('no AWS credentials in the runtime environment');
  return {
    accessKeyId: AWS_ACCESS_KEY_ID,
    secretAccessKey: AWS_SECRET_ACCESS_KEY,
    ...(AWS_SESSION_TOKEN ? { sessionToken: AWS_SESSION_TOKEN } : {}),
  };
}

/**
 * Signature Version 4 headers (by `aws4`, the project's one signer) for a POST of `body` to `url`
 * (`service` in `region`) at `date`. Signed: content-type, host, x-amz-date, x-amz-target and,
 * with temporary credentials, x-amz-security-token.
 */
export function signedHeaders(
  request: { url: string; body: string; target: string; region: string; service: string; date: Date },
  credentials: AwsCredentials,
): Record<string, string> {
  const url = new URL(request.url);
  const headers: Record<string, string> = {
    'content-type': 'application/x-amz-json-1.1',
    host: url.host,
    'x-amz-date': request.date
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, ''),
    ...(credentials.sessionToken ? { 'x-amz-security-token': credentials.sessionToken } : {}),
    'x-amz-target': request.target,
  };
  // doNotModifyHeaders: sign exactly these (fetch sets content-length itself); the signer then
  // takes its time from `datetime`, not from the header.
  const signer = new aws4.RequestSigner(
    {
      host: url.host,
      method: 'POST',
      path: url.pathname || '/',
      service: request.service,
      region: request.region,
      headers,
      body: request.body,
      doNotModifyHeaders: true,
    },
    credentials,
  );
  signer.datetime = headers['x-amz-date'];
  const signed = signer.sign();
  return { ...headers, authorization: String(signed.headers?.['Authorization']) };
}

/** A cached secret value; one read at a time; the last good value survives a failed read. */
export function createEdgeSecret(options: EdgeSecretOptions): EdgeSecret {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlMs ?? EDGE_SECRET_TTL_MS;
  const jsonKey = options.jsonKey ?? 'keys';
  const endpoint = options.endpoint ?? `https://secretsmanager.${options.region}.amazonaws.com`;
  const credentials = options.credentials ?? runtimeCredentials;
  let cached: { value: string; readAt: number } | undefined;
  let inFlight: Promise<string> | undefined;

  async function read(): Promise<string> {
    const body = JSON.stringify({ SecretId: options.secretId });
    const headers = signedHeaders(
      {
        url: `${endpoint}/`,
        body,
        target: 'secretsmanager.GetSecretValue',
        region: options.region,
        service: 'secretsmanager',
        date: new Date(now()),
      },
      credentials(),
    );
    const response = await fetchImpl(`${endpoint}/`, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(options.timeoutMs ?? EDGE_SECRET_TIMEOUT_MS),
    });
    const answer = (await response.json().catch(() => ({}))) as { SecretString?: string; __type?: string };
    if (!response.ok) throw new Error(`GetSecretValue answered ${response.status} ${answer.__type ?? ''}`.trim());
    const parsed = JSON.parse(answer.SecretString ?? 'null') as Record<string, unknown> | null;
    const raw = parsed?.[jsonKey];
    const value = typeof raw === 'string' ? (raw.split(',')[0]?.trim() ?? '') : '';
    if (value === '') throw new Error(`secret ${options.secretId} has no value under "${jsonKey}"`);
    cached = { value, readAt: now() };
    return value;
  }

  function load(): Promise<string> {
    inFlight ??= read()
      .catch((error: unknown) => {
        if (cached) return cached.value;
        throw error;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  return {
    get() {
      if (cached && now() - cached.readAt < ttlMs) return Promise.resolve(cached.value);
      return load();
    },
    refresh: load,
  };
}
