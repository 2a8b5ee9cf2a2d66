/**
 * `npm start` wiring of the processors' definitions source (processors/definitions): the
 * processors read each experiment's counter plan from the local query API. Pure: environment
 * in, the variables each service gets out.
 *
 * - PROCESSOR_DEFINITIONS_API_URL defaults to the local query API's URL.
 * - When the query API checks credentials (API_KEYS or Cognito set) and no
 *   PROCESSOR_DEFINITIONS_API_KEY is given, a key is made for this run and added to the query
 *   API's API_KEYS; an open local API (neither set) needs none, and none is added (adding one
 *   would close it).
 *
 * @example
 *   const wiring = processorDefinitionsEnv(env, 'http://127.0.0.1:8080', () => randomBytes(24).toString('hex'));
 *   startService('processors', 'processors/main.ts', { ...env, ...wiring.processors });
 *   startService('query-api', 'query-api/server.ts', { ...env, ...wiring.queryApi });
 */
type Environment = Record<string, string | undefined>;

export interface ProcessorDefinitionsWiring {
  /** Variables for the processors' process. */
  processors: Environment;
  /** Variables for the query API's process (its API_KEYS with the processors' key added, when one was made). */
  queryApi: Environment;
  /** Whether a key was made for this run (shown in the start-up summary). */
  generatedKey: boolean;
}

/** The processors' definitions URL and key for a local run, and what the query API must accept. */
export function processorDefinitionsEnv(
  env: Environment,
  queryApiUrl: string,
  newKey: () => string,
): ProcessorDefinitionsWiring {
  const apiUrl = env.PROCESSOR_DEFINITIONS_API_URL || queryApiUrl;
  const apiKeys = env.API_KEYS?.trim() ?? '';
  const authEnabled = apiKeys !== '' || Boolean(env.COGNITO_USER_POOL_ID);
  if (env.PROCESSOR_DEFINITIONS_API_KEY || !authEnabled) {
    return { processors: { PROCESSOR_DEFINITIONS_API_URL: apiUrl }, queryApi: {}, generatedKey: false };
  }
  const key = newKey();
  return {
    processors: { PROCESSOR_DEFINITIONS_API_URL: apiUrl, PROCESSOR_DEFINITIONS_API_KEY: key },
    queryApi: { API_KEYS: apiKeys === '' ? key : `${apiKeys},${key}` },
    generatedKey: true,
  };
}
