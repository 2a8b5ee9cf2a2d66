/**
 * Stand-in bundled by the CDK tests for a handler that is not in the repository yet, so
 * every other assertion can still run. The handler test fails while this is in use.
 */
export const handler = (): Promise<never> =>
  Promise.reject(new Error('CDK test stand-in: the real handler module does not exist yet'));
