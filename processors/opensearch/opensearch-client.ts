/**
 * OpenSearch client construction in one place. Amazon OpenSearch Service domains
 * (`*.es.amazonaws.com`) and OpenSearch Serverless collections (`*.aoss.amazonaws.com`)
 * take SigV4-signed requests, signed with the SDK's default credential chain (env,
 * profile, task role, instance role); any other endpoint (a local or self-managed
 * cluster, credentials in the URL) is used as is.
 *
 * Request compression stays off: gzip bodies and SigV4 signatures are a known source of
 * "signature does not match" failures across OpenSearch clients.
 *
 * The client's own retries are off: the sink retries with common/retry.ts and needs to
 * know exactly which items each attempt carried.
 */
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Client } from '@opensearch-project/opensearch';
import { AwsSigv4Signer } from '@opensearch-project/opensearch/aws';

/** The SigV4 service name for an AWS-managed endpoint, or undefined for a plain one. */
export function awsSigningService(endpoint: string): 'es' | 'aoss' | undefined {
  const hostname = new URL(endpoint).hostname.toLowerCase();
  if (hostname.endsWith('.es.amazonaws.com')) return 'es';
  if (hostname.endsWith('.aoss.amazonaws.com')) return 'aoss';
  return undefined;
}

/** The region in an AWS endpoint's hostname (`….us-east-1.es.amazonaws.com`), if it names one. */
export function regionOfEndpoint(endpoint: string): string | undefined {
  return /\.([a-z]{2}(?:-[a-z]+)+-\d+)\.(?:es|aoss)\.amazonaws\.com$/.exec(
    new URL(endpoint).hostname.toLowerCase(),
  )?.[1];
}

export interface OpenSearchClientOptions {
  endpoint: string;
  /** Region used to sign when the hostname does not name one. */
  region: string;
  requestTimeoutMs?: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Creates a client for `endpoint`, SigV4-signed when it is an AWS-managed one.
 *
 * @example
 *   const client = createOpenSearchClient({ endpoint: config.opensearch.endpoint!, region: config.aws.region });
 */
export function createOpenSearchClient(options: OpenSearchClientOptions): Client {
  const common = {
    node: options.endpoint,
    maxRetries: 0,
    requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
  };
  const service = awsSigningService(options.endpoint);
  if (service === undefined) return new Client(common);
  return new Client({
    ...common,
    ...AwsSigv4Signer({
      region: regionOfEndpoint(options.endpoint) ?? options.region,
      service,
      getCredentials: defaultProvider(),
    }),
  });
}
